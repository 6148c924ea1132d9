package resolve

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Resolution outcomes for argocd_image_resolver_resolutions_total.
const (
	resolutionOK     = "ok"
	resolutionStale  = "stale"
	resolutionError  = "error"
	resolutionPaused = "paused"
)

// Cache lookup outcomes for argocd_image_resolver_cache_lookups_total.
const (
	lookupHit   = "hit"
	lookupMiss  = "miss"
	lookupStale = "stale"
)

// metrics are the resolver's Prometheus counters. They always exist so that
// code never checks for nil; they are registered only when a Registerer is
// given.
type metrics struct {
	requests    *prometheus.CounterVec
	lookups     *prometheus.CounterVec
	resolutions *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "argocd_image_resolver_registry_requests_total",
			Help: "HTTP requests sent to registries, by registry (the registries.conf entry, or other), operation (ping, list, head, manifest, blob, token) and status code.",
		}, []string{"registry", "operation", "status"}),
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "argocd_image_resolver_cache_lookups_total",
			Help: "Cache lookups by layer (tags, digest, config, result) and result (hit, miss, stale).",
		}, []string{"layer", "result"}),
		resolutions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "argocd_image_resolver_resolutions_total",
			Help: "Image resolutions by result (ok, stale, error, paused).",
		}, []string{"result"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.lookups, m.resolutions} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// request counts one registry request. registry is the host's
// registries.conf entry or "other" (hostLimits.label), never the host
// itself: authors name hosts, and each would make its own series.
func (m *metrics) request(registry string, req *http.Request, resp *http.Response, err error) {
	status := "error"
	if err == nil && resp != nil {
		status = strconv.Itoa(resp.StatusCode)
	}
	m.requests.WithLabelValues(registry, operation(req), status).Inc()
}

func (m *metrics) lookup(layer, result string) {
	m.lookups.WithLabelValues(layer, result).Inc()
}

func (m *metrics) resolution(result string) {
	m.resolutions.WithLabelValues(result).Inc()
}
