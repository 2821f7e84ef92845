package main

import (
	"strings"
	"testing"

	"github.com/lifeboat-dr/lifeboat/activities/asset"
	"github.com/lifeboat-dr/lifeboat/integrations/identity"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/worker/config"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// A restore's static details say what really gates it: the asset's owners by name (groups
// expanded, the requester left out), or, for an asset without owners, anyone but the requester.
func TestRestoreDetailsSayWhatGatesIt(t *testing.T) {
	var cfg config.Config
	cfg.Assets = []asset.Asset{{Name: "www", Owners: []string{"platform"}}, {Name: "scratch"}}
	cfg.Identity.Directory = identity.Directory{
		People: []identity.Person{{ID: "alice"}, {ID: "bob"}, {ID: "carol"}},
		Groups: []identity.Group{{ID: "platform", Members: []string{"alice", "bob", "carol"}}},
	}
	inPlace := func(as string) workflows.RestoreInput {
		return workflows.RestoreInput{Asset: as, InPlace: true, Requester: "alice", Quorum: 2, ApprovalTimeout: units.Duration(workflows.DefaultApprovalTimeout)}
	}
	for _, tc := range []struct {
		name string
		in   workflows.RestoreInput
		want []string
		not  []string
	}{
		{"owners", inPlace("www"), []string{"approved by 2 of bob, carol (the asset's owners; alice, who asked, cannot approve)"}, []string{"no owners"}},
		{"no owners", inPlace("scratch"), []string{"scratch has no owners in the configuration, so anyone but alice, who asked, may approve: 2 approval(s) needed"},
			[]string{"owners;", "approved by"}},
		{"alternate target", workflows.RestoreInput{Asset: "www", TargetDir: "/tmp/r", Requester: "alice"}, []string{"into /tmp/r, beside the live data", "no approval is needed"},
			[]string{"owners"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := restoreDetails(tc.in, cfg)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("missing %q in %q", w, got)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(got, n) {
					t.Errorf("unexpected %q in %q", n, got)
				}
			}
		})
	}
}
