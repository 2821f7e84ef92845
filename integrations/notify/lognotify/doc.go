// Package lognotify delivers Lifeboat's alerts to the worker's structured log: the channel that
// never fails, and so the last resort of every route.
package lognotify
