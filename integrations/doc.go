// Package integrations holds everything in Lifeboat that touches the outside world, one subpackage per
// capability or provider. Subpackages never import the Temporal workflow packages, so each can be tested
// on its own against real services.
package integrations
