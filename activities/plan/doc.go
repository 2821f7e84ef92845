// Package plan reads recovery plans — "if this happens, we do that": a scenario, its objectives, the
// people and roles involved, and a graph of steps — from YAML, and validates them, reporting every
// problem with its path. It is pure and deterministic, so workflow code can use it.
package plan
