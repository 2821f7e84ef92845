package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"go.temporal.io/sdk/worker"
)

// Versioning puts the worker in a Temporal Worker Deployment (docs/upgrading.md): each release
// polls as its own version of the deployment, new workflows start on the version made current
// with `temporal worker deployment set-current-version`, and running workflows stay on their
// version or move to the current one as their type declares (workflows.Registrations). Off by
// default: a single worker, upgraded by stopping it and starting the next, needs none of it.
type Versioning struct {
	// Enabled turns worker versioning on (default false). A versioned worker takes no new
	// workflows until its version is made current. Env LIFEBOAT_WORKER_VERSIONING (true or false).
	Enabled bool `yaml:"enabled"`
	// DeploymentName names the Worker Deployment every release of this worker belongs to
	// (default: the task queue). Letters, digits, '-' and '_'. Env LIFEBOAT_DEPLOYMENT_NAME.
	DeploymentName string `yaml:"deployment_name"`
	// BuildID names this release within the deployment (default: the binary's version, as
	// `lifeboat-worker --version` prints it). Two builds must never share one. Env
	// LIFEBOAT_BUILD_ID.
	BuildID string `yaml:"build_id"`
}

// deploymentName is what a deployment may be called: the server refuses '.' and ':', which it
// uses to join a deployment's name and a build ID.
var deploymentName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$`)

// buildID is what a build ID may be: printable, without spaces, at most 255 bytes (the server's
// limit).
var buildID = regexp.MustCompile(`^[\x21-\x7e]{1,255}$`)

// UnknownBuild is the version of a binary built without one (go build without make's -ldflags):
// it cannot name a release, since every such build would share it.
const UnknownBuild = "dev"

// Validate returns every problem with worker.versioning, joined, or nil. taskQueue is the
// deployment name's default.
func (v Versioning) Validate(taskQueue string) error {
	var errs []error
	if v.DeploymentName != "" && !deploymentName.MatchString(v.DeploymentName) {
		errs = append(errs, fmt.Errorf("worker.versioning.deployment_name: %q: use at most 100 letters, digits, '-' and '_', starting with a letter or digit", v.DeploymentName))
	}
	if v.Enabled && v.DeploymentName == "" && taskQueue != "" && !deploymentName.MatchString(taskQueue) {
		errs = append(errs, fmt.Errorf("worker.versioning.deployment_name: required: the task queue %q cannot name a deployment (letters, digits, '-' and '_' only)", taskQueue))
	}
	if v.BuildID != "" && !buildID.MatchString(v.BuildID) {
		errs = append(errs, fmt.Errorf("worker.versioning.build_id: %q: use at most 255 printable characters without spaces", v.BuildID))
	}
	if v.BuildID == UnknownBuild {
		errs = append(errs, fmt.Errorf("worker.versioning.build_id: %q names no release: give each build its own ID", UnknownBuild))
	}
	return errors.Join(errs...)
}

// DeploymentOptions are the worker's Temporal deployment options: none unless versioning is
// enabled, else the deployment's version, named by the configured build ID or, without one, by
// binaryVersion. A binary built without a version (UnknownBuild) needs a configured build ID.
// No default versioning behavior is set: every workflow type declares its own.
func (w Worker) DeploymentOptions(binaryVersion string) (worker.DeploymentOptions, error) {
	v := w.Versioning
	if !v.Enabled {
		return worker.DeploymentOptions{}, nil
	}
	name, build := v.DeploymentName, v.BuildID
	if name == "" {
		name = w.TaskQueue
	}
	if build == "" {
		build = binaryVersion
	}
	switch {
	case build == "" || build == UnknownBuild:
		return worker.DeploymentOptions{}, errors.New("worker.versioning.build_id: required: this binary has no version (build it with `make build`, which stamps one, or set build_id or LIFEBOAT_BUILD_ID)")
	case !buildID.MatchString(build):
		return worker.DeploymentOptions{}, fmt.Errorf("worker.versioning.build_id: the binary's version %q cannot name a build: set build_id or LIFEBOAT_BUILD_ID", build)
	}
	return worker.DeploymentOptions{
		UseVersioning: true,
		Version:       worker.WorkerDeploymentVersion{DeploymentName: name, BuildID: build},
	}, nil
}

// applyEnv sets the section from LIFEBOAT_WORKER_VERSIONING, LIFEBOAT_DEPLOYMENT_NAME and
// LIFEBOAT_BUILD_ID.
func (v *Versioning) applyEnv(env Env) error {
	if s, ok := env("LIFEBOAT_WORKER_VERSIONING"); ok && s != "" {
		on, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("LIFEBOAT_WORKER_VERSIONING: %q is neither true nor false", s)
		}
		v.Enabled = on
	}
	if s, ok := env("LIFEBOAT_DEPLOYMENT_NAME"); ok && s != "" {
		v.DeploymentName = s
	}
	if s, ok := env("LIFEBOAT_BUILD_ID"); ok && s != "" {
		v.BuildID = s
	}
	return nil
}
