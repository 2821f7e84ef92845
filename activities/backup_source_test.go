package activities

import (
	"errors"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/lifeboat-dr/lifeboat/activities/asset"
	"github.com/lifeboat-dr/lifeboat/activities/contract"
	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// A database server that does not answer fails a backup with a retryable SourceUnreachable error
// that asks for the next attempt in 15 s; the last of contract.SourceAttempts is final and says so.
func TestBackupOfASourceThatDoesNotAnswer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close() // nothing listens there now
	as := asset.Asset{Name: "orders", Source: asset.Source{Postgres: &asset.PostgresSource{DSNSecret: "db"}},
		Repository: &asset.Repository{Location: filepath.Join(t.TempDir(), "repo"), PasswordSecret: "pass"},
		Schedule:   asset.Schedule{Every: units.Duration(time.Hour)}, Retention: asset.Retention{Last: 1}, RPO: units.Duration(time.Hour)}
	a := testAssets(t, as)
	a.Secrets = secrets.Static{"pass": "correct horse", "db": "postgres://postgres@127.0.0.1:" + strconv.Itoa(port) + "/orders?sslmode=disable&connect_timeout=5"}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	_, err = env.ExecuteActivity(a.BackupAsset, contract.BackupAssetInput{Asset: "orders"})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != contract.ErrTypeSourceUnreachable || appErr.NonRetryable() || appErr.NextRetryDelay() != 15*time.Second {
		t.Fatalf("first attempt: %v (%T)", err, err)
	}
	if !strings.Contains(err.Error(), "back up orders: the source did not answer") || !strings.Contains(err.Error(), strconv.Itoa(port)) {
		t.Errorf("message %q does not say which source did not answer", err)
	}
	cause := errors.Unwrap(appErr)
	for attempt, want := range map[int32]time.Duration{2: 30 * time.Second, 3: time.Minute} {
		var e *temporal.ApplicationError
		if err := sourceUnreachable(attempt, "back up orders", cause); !errors.As(err, &e) || e.NonRetryable() || e.NextRetryDelay() != want {
			t.Errorf("attempt %d: %v, want a retry in %s", attempt, err, want)
		}
	}
	last := sourceUnreachable(contract.SourceAttempts, "back up orders", cause)
	if !errors.As(last, &appErr) || !appErr.NonRetryable() || !strings.Contains(last.Error(), "gave up after 4 attempts; the next scheduled backup tries again") {
		t.Errorf("last attempt: %v", last)
	}
}
