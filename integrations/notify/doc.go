// Package notify is the core of Lifeboat's alerts (a failed backup, a stale RPO, an approval
// waiting): the Message that workflows send, the Notifier interface that every channel implements,
// the Router that delivers a message to the channels of its named routes (all at once, or one after
// another until one accepts), the filters that choose what each channel wants, the per-event
// templates, and what the channels share (retries within a call, HTTP errors, secrets).
//
// The channels are packages of their own below this one (lognotify, webhook, slack, pagerduty,
// email, twilio), and package route builds a Router from the worker's configuration of them. This
// package imports none of them, so that workflows link no channel's SDK.
package notify
