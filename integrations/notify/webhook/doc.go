// Package webhook delivers Lifeboat's alerts as signed JSON POST requests (see Payload), and lets a
// receiver check them (Verify): the channel for anything that takes HTTP, Lifeboat's own alert
// intake included.
package webhook
