// Package notifytest is test support for the notify packages: the Contract every notify.Notifier
// must keep, a test message, and fakes of the services the channels talk to (a webhook receiver,
// Twilio, PagerDuty and an SMTP server), shared by each channel's tests and the route tests. It
// imports no channel package, so that any of them can use it.
package notifytest
