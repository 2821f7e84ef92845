// Package config loads the Lifeboat worker's configuration — defaults, then a YAML file with ${ENV}
// expansion, then environment variables and flags — validates it, reporting every problem at once, and
// turns it into Temporal client options that the worker and the lifeboat CLI share.
package config
