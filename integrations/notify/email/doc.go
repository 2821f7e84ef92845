// Package email delivers Lifeboat's alerts over SMTP, as emails with a plain-text and an HTML part
// that an incident's later messages answer, so that mail clients show them as one thread.
package email
