// Package identity is who may do what in Lifeboat: the directory of people and groups the
// configuration declares, and the signed assertions that prove a person is behind a start, a
// decision or an acknowledgement.
//
// An assertion is a short-lived JWT (EdDSA) naming one person (sub), one workflow and what is done
// there (a start, a decision on one gate, an acknowledgement). It is signed either by the person's
// own key, listed in the directory (issuer "lifeboat:self"), or by an issuer the directory trusts
// to vouch for people it has authenticated itself: the worker, after checking a Slack request's
// signature or an OIDC ID token. Verification needs only the directory and a clock, so workflows
// run it deterministically on every replay.
package identity
