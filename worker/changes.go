package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/contract"
	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/integrations/audit"
	"github.com/lifeboat-dr/lifeboat/worker/config"
)

// changeScan is how many of the ledger's last entries are searched, in one pass, for the last
// recorded version of the configuration and the plans; one older than that is recorded again.
const changeScan = 5000

// changeEvery is how often the worker looks for changed plans while it runs.
const changeEvery = time.Minute

// changeRecorder appends a config-change entry to the audit ledger when the worker's configuration
// differs from the one last recorded for its task queue, and a plan-change entry when a plan in
// the plans directory differs from its last recorded version (or is new, or was removed).
type changeRecorder struct {
	ledger *audit.Ledger
	cfg    config.Config
	logger *slog.Logger
	// seen are the versions this worker recorded or found recorded, by subject.
	seen map[string]string
}

// run records changes at once and then every changeEvery, until ctx ends.
func (r *changeRecorder) run(ctx context.Context) {
	for {
		if err := r.record(ctx); err != nil && ctx.Err() == nil {
			r.logger.Error("audit ledger: configuration and plan changes not recorded", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(changeEvery):
		}
	}
}

// record appends an entry for each subject whose version differs from the last recorded one.
func (r *changeRecorder) record(ctx context.Context) error {
	if r.seen == nil {
		r.seen = map[string]string{}
	}
	versions := map[string]change{}
	sum, err := configVersion(r.cfg)
	if err != nil {
		return err
	}
	versions["configuration of task queue "+r.cfg.Worker.TaskQueue] = change{kind: contract.AuditKindConfigChange, sha256: sum}
	plans, err := planVersions(r.cfg.Recovery.PlansDir)
	if err != nil {
		return err
	}
	for name, c := range plans {
		versions["plan "+name] = c
	}
	// A plan recorded before but gone now is recorded as removed (the configuration never is gone).
	for subject, sum := range r.seen {
		if _, ok := versions[subject]; !ok && sum != removed {
			versions[subject] = change{kind: contract.AuditKindPlanChange, sha256: removed}
		}
	}
	var subjects []string
	for s, c := range versions {
		if r.seen[s] != c.sha256 {
			subjects = append(subjects, s)
		}
	}
	if len(subjects) == 0 {
		return nil
	}
	sort.Strings(subjects)
	// One pass back through the ledger finds the last recorded version of every subject.
	want := map[string]bool{}
	for _, s := range subjects {
		want[s] = true
	}
	recorded := map[string]audit.Entry{}
	if _, _, err := r.ledger.Latest(ctx, func(e audit.Entry) bool {
		if c := versions[e.Subject]; want[e.Subject] && e.Kind == c.kind {
			if _, seen := recorded[e.Subject]; !seen {
				recorded[e.Subject] = e
			}
		}
		return len(recorded) == len(subjects)
	}, changeScan); err != nil {
		return err
	}
	for _, subject := range subjects {
		c := versions[subject]
		last, found := recorded[subject]
		if found && last.Details["sha256"] == c.sha256 {
			r.seen[subject] = c.sha256
			continue
		}
		details := map[string]string{"sha256": c.sha256, "worker": workerIdentity()}
		if c.file != "" {
			details["file"] = c.file
		}
		if found {
			details["previous"] = last.Details["sha256"]
		}
		if _, _, err := r.ledger.Append(ctx, audit.Entry{ID: c.kind + "/" + subject + "/" + c.sha256, Kind: c.kind, Subject: subject, Details: details}); err != nil {
			return err
		}
		r.logger.Info("audit ledger: change recorded", "kind", c.kind, "subject", subject, "sha256", c.sha256)
		r.seen[subject] = c.sha256
	}
	return nil
}

// removed stands for the version of a plan whose file is gone.
const removed = "removed"

type change struct {
	kind, sha256, file string
}

// configVersion is the SHA-256 of the configuration as the worker runs it, with the names of its
// secrets but not their values: a secret rotated in the environment is not a configuration change,
// a secret added or renamed is.
func configVersion(cfg config.Config) (string, error) {
	names := make([]string, 0, len(cfg.Secrets))
	for name := range cfg.Secrets {
		names = append(names, name)
	}
	sort.Strings(names)
	cfg.Secrets = nil
	b, err := json.Marshal(struct {
		Config  config.Config `json:"config"`
		Secrets []string      `json:"secrets"`
	}{cfg, names})
	if err != nil {
		return "", fmt.Errorf("audit ledger: the configuration's version: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// planVersions are the plans of dir by name, each with the SHA-256 of its file (as recovery
// records name it). A file that does not parse is recorded under its file name.
func planVersions(dir string) (map[string]change, error) {
	out := map[string]change{}
	if dir == "" {
		return out, nil
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.y*ml"))
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("audit ledger: read plan %s: %w", f, err)
		}
		name := "file " + filepath.Base(f)
		if p, err := plan.Parse(b); err == nil && p.Metadata.Name != "" {
			name = p.Metadata.Name
		}
		out[name] = change{kind: contract.AuditKindPlanChange, sha256: plan.FileSHA256(b), file: filepath.Base(f)}
	}
	return out, nil
}
