package main

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// commandPaths returns the argument path of every command under root ("repo prune", …), the root
// itself as "" and cobra's generated help and completion commands included.
func commandPaths(root *cobra.Command) []string {
	var out []string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		out = append(out, strings.Join(path, " "))
		for _, sub := range c.Commands() {
			walk(sub, append(append([]string(nil), path...), sub.Name()))
		}
	}
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	walk(root, nil)
	sort.Strings(out)
	return out
}

// helpOf runs `lifeboat PATH --help` in-process and fails the test on a panic, a non-zero exit or
// help without a usage line.
func helpOf(t *testing.T, path string) string {
	t.Helper()
	args := append(strings.Fields(path), "--help")
	var stdout, stderr string
	code := -1
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("lifeboat %s panics: %v", strings.Join(args, " "), r)
			}
		}()
		stdout, stderr, code = runCLI(t, "", args...)
	}()
	if code != exitOK || !strings.Contains(stdout, "Usage:") {
		t.Fatalf("lifeboat %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, stdout, stderr)
	}
	return stdout
}

// Every command a user can type answers --help: a flag whose shorthand collides with a global one
// (forget's and prune's -n against --namespace) panics in cobra as soon as the command runs.
func TestEveryCommandAnswersHelp(t *testing.T) {
	paths := commandPaths((&app{env: func(string) (string, bool) { return "", false }}).rootCommand())
	if len(paths) < 40 {
		t.Fatalf("found only %d commands: the walk is broken", len(paths))
	}
	for _, p := range paths {
		name := p
		if name == "" {
			name = "lifeboat"
		}
		t.Run(name, func(t *testing.T) {
			out := helpOf(t, p)
			if p != "" && !strings.Contains(out, "lifeboat "+p) {
				t.Fatalf("help of %q does not name the command:\n%s", p, out)
			}
		})
	}
}

// No command defines a flag, or a shorthand, that a parent already defines for all its children.
func TestNoFlagShadowsAnInheritedOne(t *testing.T) {
	root := (&app{env: func(string) (string, bool) { return "", false }}).rootCommand()
	var walk func(c *cobra.Command)
	var problems []string
	walk = func(c *cobra.Command) {
		inherited := map[string]string{}
		for p := c.Parent(); p != nil; p = p.Parent() {
			p.PersistentFlags().VisitAll(func(f *pflag.Flag) {
				inherited["--"+f.Name] = p.CommandPath()
				if f.Shorthand != "" {
					inherited["-"+f.Shorthand] = p.CommandPath()
				}
			})
		}
		check := func(f *pflag.Flag) {
			if from, ok := inherited["--"+f.Name]; ok {
				problems = append(problems, fmt.Sprintf("%s --%s shadows %s's", c.CommandPath(), f.Name, from))
			}
			if from, ok := inherited["-"+f.Shorthand]; ok && f.Shorthand != "" {
				problems = append(problems, fmt.Sprintf("%s -%s (--%s) collides with %s's -%s", c.CommandPath(), f.Shorthand, f.Name, from, f.Shorthand))
			}
		}
		c.LocalNonPersistentFlags().VisitAll(check)
		c.PersistentFlags().VisitAll(check)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	if len(problems) > 0 {
		t.Fatalf("flags that collide:\n  %s", strings.Join(problems, "\n  "))
	}
}
