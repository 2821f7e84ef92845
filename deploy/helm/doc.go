// Package helm holds the tests of the lifeboat chart (deploy/helm/lifeboat): rendered as helm
// install renders it, decoded strictly against the Kubernetes API types, its configuration checked
// by Lifeboat's own validation.
package helm
