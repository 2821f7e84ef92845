// Package slack takes approval decisions from Slack: it verifies the clicks on the buttons of
// Lifeboat's approval messages (the notifier of integrations/notify/slack), arriving over HTTP or
// Socket Mode, maps each Slack user to a Lifeboat identity and hands the decision to a Decider; the
// worker's (worker/slackdecider) sends it to the workflow's gate. It does not talk to Temporal itself.
package slack
