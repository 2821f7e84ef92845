// Package awsfake is an in-process HTTP server speaking the RDS, EC2 and Auto Scaling Query protocols
// and Route 53's REST-XML protocol for the calls Lifeboat makes, so tests exercise the real AWS SDK's
// signing and serialisation.
package awsfake
