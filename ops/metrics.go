// Package ops is the plugin's HTTP side: the service port (/metrics,
// /healthz, /readyz, /webhook) and the loopback debug port (/debug/cache,
// /debug/apps).
package ops

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
)

// NewRegistry returns a Prometheus registry with the Go runtime and process
// collectors; the plugin registers every package's collectors on it.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Metrics are the collectors owned by the HTTP side and the render path.
type Metrics struct {
	// RenderDuration is observed by the CMP server for each render, through
	// ObserveRender.
	RenderDuration *prometheus.HistogramVec
	WebhookEvents  *prometheus.CounterVec
}

// NewMetrics creates the collectors and registers them on reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		RenderDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "argocd_image_resolver_render_duration_seconds",
			Help:    "Time to answer one GenerateManifest call, by result (success, error).",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"result"}),
		WebhookEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "argocd_image_resolver_webhook_events_total",
			Help: "Webhook requests by provider type and result (accepted, ignored, unauthorized, malformed, too_large, rate_limited, bad_request).",
		}, []string{"type", "result"}),
	}
	if reg != nil {
		reg.MustRegister(m.RenderDuration, m.WebhookEvents)
	}
	for _, typ := range resolve.WebhookProviders() {
		m.WebhookEvents.WithLabelValues(typ, WebhookAccepted)
	}
	return m
}

// ObserveRender records one render's duration; err decides the result
// label.
func (m *Metrics) ObserveRender(d time.Duration, err error) {
	result := "success"
	if err != nil {
		result = "error"
	}
	m.RenderDuration.WithLabelValues(result).Observe(d.Seconds())
}

func (m *Metrics) webhookEvent(typ, result string) {
	m.WebhookEvents.WithLabelValues(typ, result).Inc()
}
