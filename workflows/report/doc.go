// Package report renders the record of a recovery plan's run — a real recovery or a drill — as a
// post-incident report, in Markdown or as one self-contained HTML page with an SVG timeline. It is
// pure: the same run and options always give the same bytes.
package report
