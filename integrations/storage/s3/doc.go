// Package s3 stores a backup repository's objects in an Amazon S3 bucket or an S3-compatible server
// (MinIO, versitygw, Ceph RGW …), with server-side encryption and Object Lock retention when asked.
package s3
