// Package secrets resolves secrets by name on the worker. Workflow inputs carry only names; values are
// looked up inside activities so they never enter workflow history.
package secrets
