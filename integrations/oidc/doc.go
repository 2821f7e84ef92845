// Package oidc is Lifeboat's side of the organisation's OpenID Connect provider: discovering it,
// verifying its ID tokens, the device authorization flow that `lifeboat login` runs, and the
// exchange of an ID token for a Lifeboat assertion at the worker (POST /identity/assert). Workflows
// never see an ID token: they verify the assertion the worker signs.
package oidc
