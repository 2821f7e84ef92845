// Package twilio delivers Lifeboat's alerts to phones through Twilio: as SMS, and as voice calls
// that read the alert out for the escalations that must wake someone up.
package twilio
