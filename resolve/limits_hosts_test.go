package resolve

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestHostTableBoundsOtherHosts: hosts of registries.conf stay; other
// hosts are dropped least recently used first past the bound, never while
// a request holds them.
func TestHostTableBoundsOtherHosts(t *testing.T) {
	conf, err := ParseRegistriesConfig([]byte("registries:\n- name: corp\n  prefix: registry.corp.example\n"))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := newMetrics(nil)
	lt := &limitTransport{base: http.DefaultTransport, conf: conf, maxConcurrency: 2, now: time.Now, sleep: sleepContext, metrics: m, log: discardLogger()}
	lt.hosts.maxOthers = 2
	use := func(host string) { _, done := lt.forHost(host); done() }
	kept := func(host string) bool {
		lt.hosts.mu.Lock()
		defer lt.hosts.mu.Unlock()
		_, ok := lt.hosts.hosts[host]
		return ok
	}

	type step struct {
		use, hold, free string // one per step
		kept, gone      []string
	}
	var held = map[string]func(){}
	steps := []step{
		{use: "registry.corp.example", kept: []string{"registry.corp.example"}},
		{use: "a.example"},
		{use: "b.example"},
		{use: "a.example"}, // a is now the most recently used
		{use: "c.example", kept: []string{"registry.corp.example", "a.example", "c.example"}, gone: []string{"b.example"}},
		{hold: "d.example", kept: []string{"c.example", "d.example"}, gone: []string{"a.example"}},
		{use: "e.example", kept: []string{"registry.corp.example", "d.example", "e.example"}, gone: []string{"c.example"}},
		{use: "f.example", kept: []string{"d.example", "f.example"}, gone: []string{"e.example"}},
		{free: "d.example"},
		{use: "g.example", kept: []string{"registry.corp.example", "f.example", "g.example"}, gone: []string{"d.example"}},
	}
	for i, s := range steps {
		switch {
		case s.use != "":
			use(s.use)
		case s.hold != "":
			_, held[s.hold] = lt.forHost(s.hold)
		case s.free != "":
			held[s.free]()
		}
		for _, h := range s.kept {
			if !kept(h) {
				t.Fatalf("step %d: %s was dropped", i, h)
			}
		}
		for _, h := range s.gone {
			if kept(h) {
				t.Fatalf("step %d: %s is still kept", i, h)
			}
		}
		if n := lt.hosts.len(); n > 1+2 {
			t.Fatalf("step %d: %d hosts kept, bound is 1 configured + 2", i, n)
		}
	}
}

// TestRegistryLabelIsEntryOrOther: the registry label of the request
// metric is the registries.conf entry of the host, or "other", never the
// host an author named.
func TestRegistryLabelIsEntryOrOther(t *testing.T) {
	reg := newTestRegistry(t)
	pushTags(t, reg.host, "acme/web", time.Now(), nil, "1.0.0")
	cases := []struct {
		name, conf, label string
	}{
		{"named entry", "registries:\n- name: team-registry\n  prefix: " + reg.host + "\n", "team-registry"},
		{"unnamed entry", "registries:\n- prefix: " + reg.host + "/acme\n", reg.host + "/acme"},
		{"no entry", "registries:\n- name: corp\n  prefix: registry.corp.example\n", otherRegistries},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conf, err := ParseRegistriesConfig([]byte(tc.conf))
			if err != nil {
				t.Fatal(err)
			}
			r := newTestResolver(t, WithRegistriesConfig(conf))
			if _, err := r.ResolveOne(context.Background(), specFor(t, "web="+reg.host+"/acme/web", nil)); err != nil {
				t.Fatal(err)
			}
			if got := testutil.ToFloat64(r.metrics.requests.WithLabelValues(tc.label, "list", "200")); got != 1 {
				t.Errorf("list requests labelled %q = %v, want 1", tc.label, got)
			}
			if n := testutil.CollectAndCount(r.metrics.requests); n == 0 {
				t.Fatal("no request counted")
			}
			if got := testutil.ToFloat64(r.metrics.requests.WithLabelValues(reg.host, "list", "200")); got != 0 {
				t.Errorf("a series is labelled with the host itself")
			}
		})
	}
}
