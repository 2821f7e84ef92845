// Package awsfake is an in-process HTTP server speaking the RDS and EC2 Query protocols for the
// snapshot calls Lifeboat makes, so tests exercise the real AWS SDK's signing and serialisation.
package awsfake
