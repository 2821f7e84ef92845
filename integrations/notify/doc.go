// Package notify delivers Lifeboat's alerts (a failed backup, a stale RPO, an approval waiting) to
// people through channels behind one Notifier interface, and routes each alert to the channels of its
// named routes.
package notify
