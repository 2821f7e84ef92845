// Package slack delivers Lifeboat's alerts to Slack channels with a bot token, as Block Kit
// messages that an incident keeps updating in place and in their thread, with buttons that decide
// an approval gate; package integrations/slack answers the clicks.
package slack
