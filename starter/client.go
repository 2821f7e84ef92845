package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"runtime/debug"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/lifeboat-dr/lifeboat/worker/config"
)

// loadConfig reads the shared configuration; the CLI needs its temporal and encryption sections.
func (a *app) loadConfig() (config.Config, error) {
	cfg, err := config.Load(a.configPath, a.env)
	if err != nil {
		return cfg, exitError{exitUsage, err}
	}
	if a.address != "" {
		cfg.Temporal.Address = a.address
	}
	if a.namespace != "" {
		cfg.Temporal.Namespace = a.namespace
	}
	return cfg, nil
}

// dial connects to Temporal with the worker's data converter.
func (a *app) dial(ctx context.Context) (client.Client, config.Config, error) {
	cfg, err := a.loadConfig()
	if err != nil {
		return nil, cfg, err
	}
	opts, _, err := cfg.ClientOptions(a.env)
	if err != nil {
		return nil, cfg, exitError{exitUsage, err}
	}
	// Flags beat the environment.
	if a.address != "" {
		opts.HostPort = a.address
	}
	if a.namespace != "" {
		opts.Namespace = a.namespace
	}
	opts.Logger = sdklog.NewStructuredLogger(discardLogger())
	a.converter = opts.DataConverter
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := client.DialContext(dctx, opts)
	if err != nil {
		return nil, cfg, exitError{exitUnreachable, fmt.Errorf("connect to temporal at %s (namespace %s): %w", opts.HostPort, opts.Namespace, err)}
	}
	cfg.Temporal.Namespace = opts.Namespace
	return c, cfg, nil
}

// workflowURL links to a workflow in the Web UI.
func workflowURL(cfg config.Config, workflowID, runID string) string {
	if cfg.Temporal.UIURL == "" {
		return ""
	}
	u := fmt.Sprintf("%s/namespaces/%s/workflows/%s", cfg.Temporal.UIURL, url.PathEscape(cfg.Temporal.Namespace), url.PathEscape(workflowID))
	if runID != "" {
		u += "/" + url.PathEscape(runID) + "/history"
	}
	return u
}

// print writes v as JSON with --output json, or calls text.
func (a *app) print(v any, text func(w io.Writer)) error {
	if a.output == "json" {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(v)
	}
	text(a.stdout)
	return nil
}

// notFound turns Temporal's not-found error into a clear one.
func notFound(err error, workflowID string) error {
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return exitError{exitFailure, fmt.Errorf("no workflow with id %q in this namespace", workflowID)}
	}
	return err
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
