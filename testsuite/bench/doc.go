// Package bench measures Lifeboat against real services: throughput and latency figures printed by
// `make bench`, never pass/fail thresholds.
package bench
