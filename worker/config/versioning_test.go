package config

import (
	"strings"
	"testing"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

func TestVersioningIsOffByDefault(t *testing.T) {
	opts, err := Default().Worker.DeploymentOptions("1.4.0")
	if err != nil {
		t.Fatal(err)
	}
	if opts != (worker.DeploymentOptions{}) {
		t.Fatalf("default deployment options %+v, want none", opts)
	}
	// A binary without a version is fine while versioning is off: the dev stack runs one.
	if _, err := Default().Worker.DeploymentOptions(UnknownBuild); err != nil {
		t.Fatal(err)
	}
}

func TestDeploymentOptions(t *testing.T) {
	tests := []struct {
		name        string
		versioning  Versioning
		taskQueue   string
		binary      string
		want        worker.WorkerDeploymentVersion
		errContains string
	}{
		{name: "build ID from the binary, deployment from the task queue",
			versioning: Versioning{Enabled: true}, taskQueue: "lifeboat", binary: "v1.4.0",
			want: worker.WorkerDeploymentVersion{DeploymentName: "lifeboat", BuildID: "v1.4.0"}},
		{name: "configured names win",
			versioning: Versioning{Enabled: true, DeploymentName: "dr-eu", BuildID: "2026.12.07-1"}, taskQueue: "lifeboat", binary: "v1.4.0",
			want: worker.WorkerDeploymentVersion{DeploymentName: "dr-eu", BuildID: "2026.12.07-1"}},
		{name: "a configured build ID names a binary without a version",
			versioning: Versioning{Enabled: true, BuildID: "abc123"}, taskQueue: "lifeboat", binary: UnknownBuild,
			want: worker.WorkerDeploymentVersion{DeploymentName: "lifeboat", BuildID: "abc123"}},
		{name: "a binary without a version names no release",
			versioning: Versioning{Enabled: true}, taskQueue: "lifeboat", binary: UnknownBuild,
			errContains: "worker.versioning.build_id: required: this binary has no version"},
		{name: "an empty binary version neither",
			versioning: Versioning{Enabled: true}, taskQueue: "lifeboat", binary: "",
			errContains: "worker.versioning.build_id: required"},
		{name: "a binary version that cannot be a build ID",
			versioning: Versioning{Enabled: true}, taskQueue: "lifeboat", binary: "v1 dirty",
			errContains: `the binary's version "v1 dirty" cannot name a build`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := Default().Worker
			w.Versioning, w.TaskQueue = tt.versioning, tt.taskQueue
			opts, err := w.DeploymentOptions(tt.binary)
			if tt.errContains != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errContains) {
					t.Fatalf("error %v, want one containing %q", err, tt.errContains)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !opts.UseVersioning || opts.Version != tt.want {
				t.Fatalf("options %+v, want versioning on as %+v", opts, tt.want)
			}
			// Every workflow type declares its own behavior; a default would hide one that forgot.
			if opts.DefaultVersioningBehavior != workflow.VersioningBehaviorUnspecified {
				t.Fatalf("default versioning behavior %v, want none", opts.DefaultVersioningBehavior)
			}
		})
	}
}

func TestVersioningValidation(t *testing.T) {
	tests := []struct {
		name      string
		v         Versioning
		taskQueue string
		want      []string
	}{
		{name: "valid", v: Versioning{Enabled: true, DeploymentName: "lifeboat-eu_1", BuildID: "v1.2.3-4-gabcdef"}, taskQueue: "lifeboat"},
		{name: "off, with a task queue no deployment could be named after", v: Versioning{}, taskQueue: "dr.queue"},
		{name: "a deployment name with the server's delimiters", v: Versioning{Enabled: true, DeploymentName: "life.boat:1"}, taskQueue: "lifeboat",
			want: []string{`worker.versioning.deployment_name: "life.boat:1"`}},
		{name: "a task queue that cannot name the deployment", v: Versioning{Enabled: true}, taskQueue: "dr.queue",
			want: []string{`worker.versioning.deployment_name: required: the task queue "dr.queue" cannot name a deployment`}},
		{name: "a build ID with a space", v: Versioning{Enabled: true, BuildID: "v1 beta"}, taskQueue: "lifeboat",
			want: []string{`worker.versioning.build_id: "v1 beta"`}},
		{name: "the unknown build", v: Versioning{Enabled: true, BuildID: UnknownBuild}, taskQueue: "lifeboat",
			want: []string{`worker.versioning.build_id: "dev" names no release`}},
		{name: "too long", v: Versioning{Enabled: true, BuildID: strings.Repeat("b", 256)}, taskQueue: "lifeboat",
			want: []string{"worker.versioning.build_id:", "at most 255"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.v.Validate(tt.taskQueue)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	// Config.Validate reports the section's problems with the rest.
	cfg := Default()
	cfg.Worker.Versioning = Versioning{Enabled: true, DeploymentName: "a.b"}
	cfg.Log.Level = "chatty"
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "worker.versioning.deployment_name") || !strings.Contains(err.Error(), "log.level") {
		t.Fatalf("Validate: %v, want both problems", err)
	}
}

func TestVersioningFromFileAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "lifeboat.yaml", `
worker:
  task_queue: dr
  versioning:
    enabled: true
    deployment_name: lifeboat-dr
`)
	cfg, err := Load(path, MapEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Worker.Versioning; got != (Versioning{Enabled: true, DeploymentName: "lifeboat-dr"}) {
		t.Fatalf("from the file: %+v", got)
	}
	cfg, err = Load(path, MapEnv(map[string]string{
		"LIFEBOAT_WORKER_VERSIONING": "false",
		"LIFEBOAT_DEPLOYMENT_NAME":   "lifeboat-eu",
		"LIFEBOAT_BUILD_ID":          "v2.0.0",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Worker.Versioning; got != (Versioning{Enabled: false, DeploymentName: "lifeboat-eu", BuildID: "v2.0.0"}) {
		t.Fatalf("environment over the file: %+v", got)
	}
	cfg, err = Load("", MapEnv(map[string]string{"LIFEBOAT_WORKER_VERSIONING": "1"}))
	if err != nil || !cfg.Worker.Versioning.Enabled {
		t.Fatalf("LIFEBOAT_WORKER_VERSIONING=1 without a file: %+v, %v", cfg.Worker.Versioning, err)
	}
	if _, err := Load(path, MapEnv(map[string]string{"LIFEBOAT_WORKER_VERSIONING": "sometimes"})); err == nil ||
		!strings.Contains(err.Error(), `LIFEBOAT_WORKER_VERSIONING: "sometimes" is neither true nor false`) {
		t.Fatalf("a bad switch: %v", err)
	}
	for _, k := range []string{"LIFEBOAT_WORKER_VERSIONING", "LIFEBOAT_DEPLOYMENT_NAME", "LIFEBOAT_BUILD_ID"} {
		if _, ok := EnvVars[k]; !ok {
			t.Errorf("%s is not listed in EnvVars (the --help reference)", k)
		}
	}
}
