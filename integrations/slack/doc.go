// Package slack takes approval decisions from Slack: it verifies the clicks on the buttons of
// Lifeboat's approval messages (integrations/notify's Slack notifier), arriving over HTTP or Socket
// Mode, maps each Slack user to a Lifeboat identity and sends the decision to the workflow's gate.
package slack
