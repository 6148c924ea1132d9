package refresh

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the refresher's Prometheus collectors.
type Metrics struct {
	Triggers *prometheus.CounterVec
	// Queued counts the apps put on the queue, by source; its rate is the
	// triggers per second the checks ask for.
	Queued *prometheus.CounterVec
	// Leader is 1 while this replica leads the refresher.
	Leader prometheus.Gauge

	queue atomic.Pointer[triggerQueue]
}

// NewMetrics creates the collectors and registers them on reg (nil: not
// registered). The queue gauges read the queue of the refresher that uses
// them.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Triggers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "argocd_image_resolver_refresh_triggers_total",
			Help: "Hard-refresh attempts by trigger backend and result (triggered, pending, not_found, error).",
		}, []string{"backend", "result"}),
		Queued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "argocd_image_resolver_refresh_queued_total",
			Help: "Applications queued for a hard refresh, by source (pass, wake, startup).",
		}, []string{"source"}),
		Leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "argocd_image_resolver_refresh_leader",
			Help: "1 while this replica leads the refresher, else 0.",
		}),
	}
	length := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "argocd_image_resolver_refresh_queue_length",
		Help: "Applications waiting in the queue for a hard refresh.",
	}, func() float64 {
		n, _ := m.queueStats()
		return float64(n)
	})
	oldest := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "argocd_image_resolver_refresh_queue_oldest_seconds",
		Help: "How long the Application waiting longest in the queue has waited, in seconds.",
	}, func() float64 {
		_, d := m.queueStats()
		return d.Seconds()
	})
	if reg != nil {
		reg.MustRegister(m.Triggers, m.Queued, m.Leader, length, oldest)
	}
	return m
}

func (m *Metrics) observe(q *triggerQueue) { m.queue.Store(q) }

func (m *Metrics) queueStats() (int, time.Duration) {
	q := m.queue.Load()
	if q == nil {
		return 0, 0
	}
	return q.stats()
}
