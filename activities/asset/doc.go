// Package asset describes protected assets — what is backed up, where to, how often, for how long,
// how it is verified and who is told — and validates them. It is pure: YAML bytes or structs in,
// typed assets or every problem out.
package asset
