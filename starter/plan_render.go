package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/activities/contract"
	"github.com/lifeboat-dr/lifeboat/activities/plan"
	"github.com/lifeboat-dr/lifeboat/activities/plan/runbook"
)

func (a *app) planRenderCommand() *cobra.Command {
	var format, outFile string
	var force bool
	cmd := &cobra.Command{
		Use:   "render PLAN",
		Short: "Write a recovery plan as a printable runbook (Markdown or HTML)",
		Long: `Write the recovery plan PLAN as a runbook for people to follow on paper when every system is
down: its scenario and objectives, the people with every way to reach them (groups and roles
resolved to people), the escalation policy and stakeholder updates, a graph of the steps, and
every step in the order it runs — what it does (the action and its parameters, in words from the
action catalog), what it needs, its impact, timeout and retries, what it does in a drill, what
undoes it, who approves or decides (and which steps each option leads to or skips), manual
instructions and fallback strategies — with room to note when it was done and by whom.

PLAN is a plan file ("-" reads standard input), or the metadata.name of a plan in the
configuration's recovery.plans_dir, found as the worker finds it. With --config, people the
configuration's identity directory lists are shown with the directory's contact details too.

--format html writes one self-contained page (inline CSS and SVG, nothing fetched) with a print
stylesheet: each section starts a page. --format md writes Markdown; with --out FILE the step graph
is written beside it as an SVG file of the same name (runbook.md and runbook.svg) that the Markdown
shows as an image, and on standard output the SVG is embedded as a fenced code block.

--out writes the file aside and renames it into place once complete, and never replaces an
existing file unless --force is given: a render that fails leaves what was there untouched.`,
		Example: `  lifeboat plan render examples/plans/primary-db-lost.yaml --format html --out primary-db-lost.html
  lifeboat plan render orders-db-failover --config lifeboat.yaml --format md --out runbook.md`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch format {
			case "md", "markdown":
				format = "md"
			case "html":
			default:
				return usageErr("--format %q: use md or html", format)
			}
			if a.output != "text" {
				return usageErr("-o %s: plan render writes md or html (--format)", a.output)
			}
			var svgFile string
			if outFile != "" && format == "md" {
				svgFile = strings.TrimSuffix(outFile, filepath.Ext(outFile)) + ".svg"
				if svgFile == outFile {
					return usageErr("--out %s: the Markdown's step graph is written beside it as %s: name the Markdown file *.md", outFile, svgFile)
				}
			}
			p, opts, err := a.runbookPlan(cmd, args[0])
			if err != nil {
				return err
			}
			if svgFile != "" {
				opts.SVGName = filepath.Base(svgFile)
			}
			var page []byte
			if format == "html" {
				page, err = runbook.HTML(p, opts)
			} else {
				page, err = runbook.Markdown(p, opts)
			}
			if err != nil {
				return fmt.Errorf("render plan %s: %w", p.Metadata.Name, err)
			}
			if outFile == "" {
				_, err := a.stdout.Write(page)
				return err
			}
			files := []outputFile{{path: outFile, data: page}}
			if svgFile != "" {
				// The graph first: the Markdown shows it.
				files = []outputFile{{path: svgFile, data: runbook.SVG(p)}, files[0]}
			}
			if err := writeFiles(files, force); err != nil {
				return err
			}
			names := make([]string, len(files))
			for i, f := range files {
				names[i] = f.path
			}
			fmt.Fprintf(a.stderr, "wrote the runbook of plan %s to %s\n", p.Metadata.Name, strings.Join(names, " and "))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&format, "format", "md", "runbook format: md or html")
	// Not --output: that is the global -o/--output, text or json.
	f.StringVar(&outFile, "out", "", "write the runbook to this file instead of stdout (Markdown: and its step graph beside it, as .svg)")
	f.BoolVar(&force, "force", false, "replace files --out would write that already exist")
	return cmd
}

// runbookPlan finds and validates the plan PLAN names — a file, or a plan in the configuration's
// plans directory — and the runbook options the configuration gives.
func (a *app) runbookPlan(cmd *cobra.Command, ref string) (*plan.Plan, runbook.Options, error) {
	var opts runbook.Options
	byName := false
	if ref != "-" && planPattern.MatchString(ref) {
		if _, err := os.Stat(ref); errors.Is(err, fs.ErrNotExist) {
			byName = true
		}
	}
	if a.configPath == "" && !byName {
		p, err := a.loadPlan(ref)
		return p, opts, err
	}
	cfg, err := a.loadConfig()
	if err != nil {
		return nil, opts, err
	}
	if cfg.Identity.Configured() {
		opts.Directory = &cfg.Identity.Directory
	}
	if !byName {
		p, err := a.loadPlan(ref)
		return p, opts, err
	}
	if cfg.Recovery.PlansDir == "" {
		return nil, opts, usageErr("PLAN %q: no such file, and no recovery.plans_dir in the configuration (--config) to find a plan by that name", ref)
	}
	found, err := (&activities.Plans{Dir: cfg.Recovery.PlansDir}).LoadPlan(cmd.Context(), contract.LoadPlanInput{Plan: ref})
	if err != nil {
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && errors.Unwrap(appErr) != nil {
			err = errors.Unwrap(appErr)
		}
		return nil, opts, exitError{exitUsage, err}
	}
	p := found.Plan
	return &p, opts, nil
}

// outputFile is a file a command writes, with its content.
type outputFile struct {
	path string
	data []byte
}

// writeFiles writes each file aside (a temporary file in its folder), reads it back, and only then
// puts them in place, in order. Without force, a file that already exists is never replaced; with
// it, a file replaced before a later one fails to go in place is put back. Whatever fails, the
// files that were there before are left as they were, and no temporary file is left behind.
func writeFiles(files []outputFile, force bool) error {
	if !force {
		for _, f := range files {
			if _, err := os.Lstat(f.path); err == nil {
				return usageErr("--out: %s exists: give --force to replace it", f.path)
			}
		}
	}
	var cleanup []string
	defer func() {
		for _, name := range cleanup {
			_ = os.Remove(name)
		}
	}()
	temps := make([]string, len(files))
	for i, f := range files {
		tmp, err := writeAside(f)
		if tmp != "" {
			cleanup = append(cleanup, tmp)
		}
		if err != nil {
			return exitError{exitFailure, err}
		}
		temps[i] = tmp
	}
	var undo []func()
	for i, f := range files {
		var err error
		if force {
			// Keep the file being replaced under another name until every file is in place.
			if _, serr := os.Lstat(f.path); serr == nil {
				old := temps[i] + ".old"
				if err = os.Link(f.path, old); err == nil {
					cleanup = append(cleanup, old)
					undo = append(undo, func() { _ = os.Rename(old, f.path) })
				}
			} else {
				undo = append(undo, func() { _ = os.Remove(f.path) })
			}
			if err == nil {
				if err = os.Rename(temps[i], f.path); err != nil {
					undo = undo[:len(undo)-1]
				}
			}
		} else if err = os.Link(temps[i], f.path); err == nil {
			// A hard link never replaces what appeared since the check.
			undo = append(undo, func() { _ = os.Remove(f.path) })
		}
		if err != nil {
			for j := len(undo) - 1; j >= 0; j-- {
				undo[j]()
			}
			if errors.Is(err, fs.ErrExist) {
				return usageErr("--out: %s exists: give --force to replace it", f.path)
			}
			return exitError{exitFailure, fmt.Errorf("--out %s: %w", f.path, pathErr(err))}
		}
	}
	return nil
}

// writeAside writes a file's content to a temporary file beside it and checks what was written.
func writeAside(f outputFile) (string, error) {
	tmp, err := os.CreateTemp(filepath.Dir(f.path), "."+filepath.Base(f.path)+".*")
	if err != nil {
		return "", fmt.Errorf("--out %s: %w", f.path, pathErr(err))
	}
	_, err = tmp.Write(f.data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		var back []byte
		if back, err = os.ReadFile(tmp.Name()); err == nil && !bytes.Equal(back, f.data) {
			err = errors.New("what was written reads back differently")
		}
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err != nil {
		return tmp.Name(), fmt.Errorf("--out %s: write %s: %w", f.path, tmp.Name(), pathErr(err))
	}
	return tmp.Name(), nil
}
