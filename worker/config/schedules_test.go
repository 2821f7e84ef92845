package config

import (
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

func TestSchedulesOwner(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "lifeboat.yaml", "schedules:\n  owner: ${OWNER}\n")
	cfg, err := Load(path, MapEnv(map[string]string{"OWNER": "prod-eu"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Schedules.Owner != "prod-eu" || !cfg.Schedules.SyncOnStart {
		t.Fatalf("schedules = %+v, want owner prod-eu and sync on start", cfg.Schedules)
	}
	if Default().Schedules.Owner != "" {
		t.Errorf("default owner %q, want none", Default().Schedules.Owner)
	}
	for _, good := range []string{"", "prod", "prod-eu.1", "team/orders@eu-west-1", "a:b_c"} {
		if err := (Schedules{Owner: good, CatchupWindow: units.Duration(time.Hour)}).Validate(); err != nil {
			t.Errorf("owner %q: %v", good, err)
		}
	}
	for _, bad := range []string{" prod", "prod eu", "-prod", "prod'", strings.Repeat("a", 101), "prød"} {
		err := (Schedules{Owner: bad, CatchupWindow: units.Duration(time.Hour)}).Validate()
		if err == nil || !strings.Contains(err.Error(), "schedules.owner: ") {
			t.Errorf("owner %q: %v, want an error", bad, err)
		}
	}
	cfg = Default()
	cfg.Schedules = Schedules{Owner: "prod eu", CatchupWindow: units.Duration(time.Second)}
	err = cfg.Validate()
	for _, want := range []string{`schedules.owner: "prod eu"`, "schedules.catchup_window: 1s: at least 1m"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate does not mention %q: %v", want, err)
		}
	}
}
