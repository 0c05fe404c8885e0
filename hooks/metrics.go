package hooks

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the service's Prometheus metrics, in a registry of their own.
type Metrics struct {
	Registry *prometheus.Registry
	// Gatherer is what /metrics serves: Registry and MetricsConfig.Extra.
	Gatherer prometheus.Gatherer
	// Deliveries counts webhook deliveries by event and result.
	Deliveries *prometheus.CounterVec
	// Refused counts requests the HTTP server refused before or outside a
	// handler (timeouts, oversized headers, unknown routes), by status.
	Refused *prometheus.CounterVec
	// DeliveryDuration is the time the service takes over a delivery, by
	// event: from its handler's start to its answer, reading and verifying
	// the body and recording it included, the network not.
	DeliveryDuration *prometheus.HistogramVec
	// DeployLatency is the time from a deploy job's delivery to its deploy
	// commit.
	DeployLatency prometheus.Histogram
}

// MetricsConfig configures the Metrics.
type MetricsConfig struct {
	// Depth counts the jobs queued or running (store.Queue.Depth).
	Depth func(ctx context.Context) (int64, error)
	// Extra, if set, are more metrics to serve beside the service's own:
	// the embedded etcd's (store.Store.Metrics).
	Extra prometheus.Gatherer
}

// NewMetrics registers the metrics.
func NewMetrics(cfg MetricsConfig) (*Metrics, error) {
	if cfg.Depth == nil {
		return nil, errors.New("metrics: a queue depth is required")
	}
	depth := func() float64 {
		d, _ := cfg.Depth(context.Background())
		return float64(d)
	}
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_webhook_deliveries_total",
			Help: "Webhook deliveries by event and result (queued, duplicate, ignored, pong, unsigned, bad_signature, malformed, too_large, busy, timeout, incomplete, error).",
		}, []string{"event", "result"}),
		Refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_http_refused_total",
			Help: "Requests the HTTP server refused before or outside a handler, by status.",
		}, []string{"status"}),
		DeliveryDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "slipway_webhook_duration_seconds",
			Help:    "Time the service takes over a webhook delivery, by event, from its handler's start to its answer.",
			Buckets: prometheus.ExponentialBuckets(0.00025, 2, 14),
		}, []string{"event"}),
		DeployLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "slipway_deploy_latency_seconds",
			Help:    "Time from a delivery that asks for a deploy to its deploy commit.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
		}),
	}
	m.Gatherer = m.Registry
	if cfg.Extra != nil {
		m.Gatherer = prometheus.Gatherers{m.Registry, cfg.Extra}
	}
	m.Registry.MustRegister(m.Deliveries, m.Refused, m.DeliveryDuration, m.DeployLatency, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "slipway_queue_depth",
		Help: "Jobs queued or running.",
	}, depth))
	return m, nil
}
