package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
)

// versionString is how the temporal CLI and the Web UI write a deployment version.
func versionString(v worker.WorkerDeploymentVersion) string {
	return v.DeploymentName + ":" + v.BuildID
}

// setCurrentCommand is the temporal command that makes v the current version of its deployment.
func setCurrentCommand(v worker.WorkerDeploymentVersion) string {
	return fmt.Sprintf("temporal worker deployment set-current-version --deployment-name %s --build-id %s --yes", v.DeploymentName, v.BuildID)
}

// reportVersion says, once the deployment knows the worker's version (its first poll registers
// it), whether that version is current, ramping, or neither. A versioned worker whose version is
// not current takes no new workflows, so it says so, with the command that makes it current:
// otherwise the first versioned release would wait silently for a step nobody took. It gives up
// quietly when ctx ends and with a warning after a minute without an answer.
func reportVersion(ctx context.Context, deployments client.WorkerDeploymentClient, v worker.WorkerDeploymentVersion, logger *slog.Logger) {
	version := versionString(v)
	deadline := time.Now().Add(time.Minute)
	var lastErr error
	for {
		info, err := describeVersion(ctx, deployments, v)
		if err == nil {
			routing := info.RoutingConfig
			switch {
			case routing.CurrentVersion != nil && *routing.CurrentVersion == v:
				logger.Info("this worker's version is current: new workflows start on it", "version", version)
			case routing.RampingVersion != nil && *routing.RampingVersion == v:
				logger.Info("this worker's version is ramping: it takes a share of new workflows", "version", version,
					"percent", routing.RampingVersionPercentage, "current", describeCurrent(routing.CurrentVersion))
			default:
				logger.Warn("this worker's version is not current: it takes no new workflows, only those already on it; once every worker of it is up, make it current with `"+setCurrentCommand(v)+"` (docs/upgrading.md)",
					"version", version, "current", describeCurrent(routing.CurrentVersion))
			}
			return
		}
		lastErr = err
		if time.Now().After(deadline) {
			logger.Warn("could not tell whether this worker's version is current", "version", version, "error", lastErr)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// errNotYetKnown says the deployment does not list the version yet.
var errNotYetKnown = errors.New("the deployment does not list this version yet")

// describeVersion returns the deployment of v once it lists v.
func describeVersion(ctx context.Context, deployments client.WorkerDeploymentClient, v worker.WorkerDeploymentVersion) (client.WorkerDeploymentInfo, error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := deployments.GetHandle(v.DeploymentName).Describe(dctx, client.WorkerDeploymentDescribeOptions{})
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		return client.WorkerDeploymentInfo{}, errNotYetKnown
	case err != nil:
		return client.WorkerDeploymentInfo{}, fmt.Errorf("describe worker deployment %q: %w", v.DeploymentName, err)
	}
	for _, s := range resp.Info.VersionSummaries {
		if s.Version == v {
			return resp.Info, nil
		}
	}
	return client.WorkerDeploymentInfo{}, errNotYetKnown
}

// describeCurrent names the current version, or says that new workflows go to unversioned workers.
func describeCurrent(v *worker.WorkerDeploymentVersion) string {
	if v == nil {
		return "none: new workflows go to unversioned workers"
	}
	return versionString(*v)
}
