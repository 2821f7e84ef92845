// Package workflows holds Lifeboat's durable orchestration: pure, deterministic workflow code that
// drives the activities. Each workflow takes one Input struct and returns one Result struct, so fields
// can be added without breaking running histories.
package workflows
