// Package slackdecider sends the decisions taken in Slack to the workflows' approval gates, through
// the Temporal client: the worker's slack.Decider.
package slackdecider
