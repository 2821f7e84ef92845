// Package miniotest runs a real MinIO server (bin/minio) on loopback ports for tests of
// S3-compatible storage.
package miniotest
