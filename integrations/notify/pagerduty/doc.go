// Package pagerduty delivers Lifeboat's alerts to a PagerDuty service through the Events API v2:
// an incident's messages trigger, acknowledge and resolve one alert.
package pagerduty
