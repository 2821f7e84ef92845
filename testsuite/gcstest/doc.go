// Package gcstest runs fake-gcs-server in-process on a loopback port, so that code using the
// Google Cloud Storage client can be tested over real HTTP.
package gcstest
