// Package runbook writes a recovery plan as a runbook for people to follow on paper, when every
// system is down: Markdown or a self-contained, printable HTML page, with the step graph drawn as SVG.
package runbook
