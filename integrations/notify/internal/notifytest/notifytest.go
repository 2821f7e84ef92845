package notifytest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/notify"
)

// Message returns a valid message with every field set.
func Message() notify.Message {
	return notify.Message{
		Event:    "backup.failed",
		Severity: notify.Critical,
		Asset:    "orders-db",
		Title:    "Backup of orders-db failed",
		Text:     "pg_dump exited with status 1",
		Fields:   map[string]string{"repository": "/srv/backups", "attempt": "3"},
		Link:     "http://localhost:8233/namespaces/default/workflows/backup-orders-db",
		DedupKey: "backup.failed/orders-db",
		Level:    1,
		Time:     time.Date(2026, 3, 14, 9, 26, 53, 589793238, time.UTC),
	}
}

// Names returns "route/notifier" of each delivery, in order.
func Names(ds []notify.Delivery) []string {
	var names []string
	for _, d := range ds {
		names = append(names, d.Route+"/"+d.Notifier)
	}
	return names
}

// Contract checks what notify.Notifier promises its callers: a name that quotes none of secrets,
// a message the channel has received once Notify returns nil, safe concurrent use, and a prompt
// return once ctx is done. n must deliver to a channel that is up; received, when set, returns how
// many messages the channel has received in all.
func Contract(t *testing.T, n notify.Notifier, received func() int, secrets ...string) {
	t.Helper()
	seen := 0
	accepted := func() int {
		all := received()
		defer func() { seen = all }()
		return all - seen
	}
	if n.Name() == "" {
		t.Fatal("Name() is empty")
	}
	for _, s := range secrets {
		if strings.Contains(n.Name(), s) {
			t.Fatalf("Name() = %q: want a name without credentials", n.Name())
		}
	}
	if err := n.Notify(context.Background(), Message()); err != nil {
		t.Fatalf("Notify on a channel that is up: %v", err)
	}
	if received != nil && accepted() != 1 {
		t.Fatal("Notify returned nil but the channel did not receive the message")
	}

	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { errs[i] = n.Notify(context.Background(), Message()) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent Notify: %v", err)
	}
	if received != nil && accepted() != len(errs) {
		t.Fatal("concurrent Notify: not every message was received")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan struct{})
	go func() {
		_ = n.Notify(ctx, Message())
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Notify did not return with a cancelled context")
	}
}
