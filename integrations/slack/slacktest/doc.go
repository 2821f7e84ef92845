// Package slacktest plays Slack's side in tests of Lifeboat's Slack interactivity: a fake Web API
// that records the calls it receives, and the signed interaction requests Slack sends when someone
// clicks a button of Lifeboat's approval messages or submits its dialog.
package slacktest
