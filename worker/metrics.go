package main

import (
	"log/slog"
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
)

// metrics holds the worker's Prometheus registry: the Temporal SDK's metrics (through OpenTelemetry)
// and Lifeboat's own.
type metrics struct {
	registry      *prometheus.Registry
	sdk           client.MetricsHandler
	ready         prometheus.Gauge
	codecRequests *prometheus.CounterVec
	slackClicks   *prometheus.CounterVec
	alerts        *prometheus.CounterVec
	// identityExchanges counts POST /identity/assert by outcome.
	identityExchanges *prometheus.CounterVec
}

func newMetrics(version string, logger *slog.Logger) (*metrics, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo())
	if err != nil {
		return nil, err
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	m := &metrics{
		registry: reg,
		sdk: temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{
			Meter:                provider.Meter("lifeboat"),
			UseMonotonicCounters: true,
			OnError:              func(err error) { logger.Warn("metrics", "error", err) },
		}),
		ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lifeboat_worker_ready", Help: "1 while the worker polls its task queue.",
		}),
		codecRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lifeboat_codec_requests_total", Help: "Requests to the codec endpoint by operation and outcome.",
		}, []string{"op", "outcome"}),
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "lifeboat_build_info", Help: "Always 1; labelled with the running version.",
		ConstLabels: prometheus.Labels{"version": version},
	})
	info.Set(1)
	m.slackClicks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lifeboat_slack_interactions_total",
		Help: "Slack interactions (approval button clicks, reject dialogs) by outcome: recorded, duplicate, refused, forged, stale, replayed...",
	}, []string{"outcome"})
	m.alerts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lifeboat_alerts_total",
		Help: "Alerts received at /alerts/*, by endpoint and outcome (started, joined, ignored, refused...).",
	}, []string{"endpoint", "outcome"})
	m.identityExchanges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lifeboat_identity_exchanges_total",
		Help: "OIDC ID tokens exchanged for assertions at /identity/assert, by outcome (signed, no_token, bad_token, unknown_person, bad_request, provider_unavailable).",
	}, []string{"outcome"})
	reg.MustRegister(m.ready, m.codecRequests, m.slackClicks, m.alerts, m.identityExchanges, info)
	return m, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
