// Package integrations holds everything in Lifeboat that touches the outside world, one subpackage per
// capability or provider. Subpackages never import the workflows themselves, so each can be tested on
// its own against real services; the Slack endpoint uses only workflows/approval's decision types, the
// contract of the gates it answers.
package integrations
