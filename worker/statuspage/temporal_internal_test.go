package statuspage

import "testing"

func TestPlanFromID(t *testing.T) {
	for id, want := range map[string]string{
		"recovery-orders-failover":         "orders-failover",
		"drill-orders-failover":            "orders-failover",
		"recovery-orders-failover.rebuild": "", // a plan run as a step: its ID says nothing of its plan
		"backup-orders-db-20250601":        "",
	} {
		if got := planFromID(id); got != want {
			t.Errorf("planFromID(%q) = %q, want %q", id, got, want)
		}
	}
}
