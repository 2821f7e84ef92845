// Package route turns the worker's notification configuration (named routes, each with its log,
// webhook, Slack, PagerDuty, email, SMS and voice channels and their filters) into a notify.Router:
// the one place that knows every channel package.
package route
