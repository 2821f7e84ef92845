// Package oidcexchange is the worker's POST /identity/assert: it exchanges an ID token from the
// organisation's OpenID Connect provider for a Lifeboat assertion the worker signs, bound to one
// act in one workflow, for the person of the identity directory the token names.
package oidcexchange
