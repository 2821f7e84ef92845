// Package units provides human-readable quantities for configuration and workflow inputs: durations
// written as "30s" or "5m" in JSON and YAML.
package units
