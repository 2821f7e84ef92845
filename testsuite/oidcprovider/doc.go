// Package oidcprovider runs a real OpenID Connect provider in the test process (zitadel's example
// provider), with the device authorization flow, two users, and the steps a person takes in a
// browser to approve a device's user code.
package oidcprovider
