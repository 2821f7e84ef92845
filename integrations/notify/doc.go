// Package notify delivers Lifeboat's alerts (a failed backup, a stale RPO, an approval waiting) to
// people through channels behind one Notifier interface — the log, signed webhooks, Slack, PagerDuty,
// email, and Twilio SMS and voice calls — and routes each alert to the channels of its named routes
// that want it, all at once or one after another until one accepts.
package notify
