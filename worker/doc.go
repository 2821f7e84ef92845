// Command lifeboat-worker is Lifeboat's service process: it runs the Temporal worker that executes
// Lifeboat's workflows and activities, and one HTTP listener for health, metrics and the payload codec.
package main
