package store

import "github.com/prometheus/client_golang/prometheus"

// operations are the values of the errors counter's operation label.
var operations = []string{"get", "set", "setnx", "delete", "scan", "incr", "append", "range", "publish", "unlock", "ping"}

// Metrics are the Redis store's collectors.
type Metrics struct {
	// Up is 1 while Redis answers, 0 while the circuit breaker keeps
	// calls away from it.
	Up prometheus.Gauge
	// Errors counts failed Redis calls by operation.
	Errors *prometheus.CounterVec
}

// NewMetrics creates the collectors and registers them on reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Up: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "argocd_image_resolver_redis_up",
			Help: "1 while the shared Redis answers, 0 while calls to it are suspended after failures (renders then use memory and the registries).",
		}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "argocd_image_resolver_redis_errors_total",
			Help: "Failed Redis calls by operation (get, set, setnx, delete, scan, incr, append, range, publish, unlock, ping).",
		}, []string{"operation"}),
	}
	for _, op := range operations {
		m.Errors.WithLabelValues(op)
	}
	if reg != nil {
		reg.MustRegister(m.Up, m.Errors)
	}
	return m
}
