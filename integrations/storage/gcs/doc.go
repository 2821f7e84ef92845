// Package gcs stores a backup repository's objects in a Google Cloud Storage bucket.
package gcs
