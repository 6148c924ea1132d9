package worker

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the pool's collectors.
type Metrics struct {
	// Started counts workers started, Killed those stopped at a
	// render's deadline, memory limit or failure.
	Started prometheus.Counter
	Killed  prometheus.Counter
	// ChartLoads counts charts of repositories in memory that a worker
	// loaded because its chart cache did not hold them.
	ChartLoads prometheus.Counter
}

// NewMetrics creates the collectors and registers them with reg (when not
// nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Started: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "argocd_image_resolver_render_workers_started_total",
			Help: "Render worker processes started (at start-up and to replace stopped ones).",
		}),
		Killed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "argocd_image_resolver_render_workers_killed_total",
			Help: "Render worker processes stopped because a render passed its deadline or memory limit, or its worker failed.",
		}),
		ChartLoads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "argocd_image_resolver_render_chart_loads_total",
			Help: "Charts a render worker loaded because its chart cache did not hold them (renders of charts it holds load nothing).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.Started, m.Killed, m.ChartLoads)
	}
	return m
}
