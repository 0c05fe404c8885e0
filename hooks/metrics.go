package hooks

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the service's Prometheus metrics, in a registry of their own.
type Metrics struct {
	Registry *prometheus.Registry
	// Deliveries counts webhook deliveries by event and result.
	Deliveries *prometheus.CounterVec
}

// NewMetrics registers the metrics; depth reports the queue depth.
func NewMetrics(depth func() float64) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_webhook_deliveries_total",
			Help: "Webhook deliveries by event and result (queued, duplicate, ignored, pong, unsigned, bad_signature, malformed, too_large, error).",
		}, []string{"event", "result"}),
	}
	m.Registry.MustRegister(m.Deliveries, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "slipway_queue_depth",
		Help: "Jobs queued or running.",
	}, depth))
	return m
}
