// Package activities holds Lifeboat's side effects as methods on structs whose fields are the
// integrations they drive. Every activity is idempotent, and classifies its errors once: permanent ones
// become non-retryable application errors, the rest are retried by Temporal.
package activities
