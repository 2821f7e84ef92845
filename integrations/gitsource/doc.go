// Package gitsource keeps verified mirror clones of git repositories and reads files out of them:
// the plumbing behind the git and ci_config asset sources. It runs the git command line, passes
// credentials only through its environment, and never leaves a mirror it cannot vouch for.
package gitsource
