// Package intake turns alerts into recoveries: it serves the worker's alert endpoints (Prometheus
// Alertmanager's webhook and a generic signed webhook), matches each alert against configured rules,
// and hands a matching alert to its durable Alert workflow, which starts the rule's recovery plan once.
package intake
