package ops_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/argocd-image-resolver/argocd-image-resolver/ops"
	"github.com/argocd-image-resolver/argocd-image-resolver/refresh"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
)

// refreshes records the hard refreshes the refresher asks for.
type refreshes struct {
	mu   sync.Mutex
	apps []string
}

func (r *refreshes) Name() string { return "recorder" }

func (r *refreshes) Refresh(_ context.Context, app refresh.App) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.apps = append(r.apps, app.Key())
	return nil
}

// TestOneRepositorySpelling: with registries.conf's default registry and
// defaultns, or an api_url, a spec, a webhook's repository, the wake-up and
// the debug listing name one repository, although each spells it
// differently: the push invalidates the cache, wakes the app that renders
// the image, and the listing filtered by the pushed name shows that
// image's entries.
func TestOneRepositorySpelling(t *testing.T) {
	cases := []struct {
		name string
		// conf, spec, pushed and body name the registry as REGISTRY.
		conf   string
		spec   string // as the Application writes it
		repo   string // where the tags live on the registry
		typ    string
		body   string
		pushed string // the repository as the webhook reports it
		canon  string // as resolution names it
	}{
		{
			name: "default registry and defaultns, short name from notify",
			conf: "registries:\n- name: local\n  prefix: REGISTRY\n  default: true\n  defaultns: acme\n",
			spec: "web=web:^1", repo: "acme/web",
			typ: "generic", body: `{"repository":"web","tag":"1.1.0"}`,
			pushed: "web", canon: "REGISTRY/acme/web",
		},
		{
			name: "default registry and defaultns, registry notification",
			conf: "registries:\n- name: local\n  prefix: REGISTRY\n  default: true\n  defaultns: acme\n",
			spec: "web=web:^1", repo: "acme/web",
			typ:    "distribution",
			body:   `{"events":[{"action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"acme/web","tag":"1.1.0"},"request":{"host":"REGISTRY"}}]}`,
			pushed: "REGISTRY/acme/web", canon: "REGISTRY/acme/web",
		},
		{
			name: "api_url: the mirror reports the push under its own host",
			conf: "registries:\n- name: mirror\n  prefix: registry.example.com/team\n  api_url: http://REGISTRY\n",
			spec: "api=registry.example.com/team/api:^1", repo: "team/api",
			typ:    "distribution",
			body:   `{"events":[{"action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"team/api","tag":"1.1.0"},"request":{"host":"REGISTRY"}}]}`,
			pushed: "REGISTRY/team/api", canon: "registry.example.com/team/api",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reg := registrytest.New(t)
			host := func(s string) string { return strings.ReplaceAll(s, "REGISTRY", reg.Host()) }
			reg.Push(t, tc.repo+":1.0.0")
			conf, err := resolve.ParseRegistriesConfig([]byte(host(tc.conf)))
			if err != nil {
				t.Fatal(err)
			}
			res, err := resolve.New(resolve.WithRegistriesConfig(conf), resolve.WithMetrics(prometheus.NewRegistry()))
			if err != nil {
				t.Fatal(err)
			}
			if got := res.CanonicalRepository(host(tc.pushed)); got != host(tc.canon) {
				t.Fatalf("CanonicalRepository(%q) = %q, want %q", host(tc.pushed), got, host(tc.canon))
			}

			// A render: resolve and record, as the CMP server does.
			specs, err := resolve.ParseSpecs([]string{tc.spec}, nil)
			if err != nil {
				t.Fatal(err)
			}
			results, err := res.Resolve(context.Background(), specs)
			if err != nil {
				t.Fatal(err)
			}
			if results[0].Repository != host(tc.canon) {
				t.Fatalf("Result.Repository = %q, want %q", results[0].Repository, host(tc.canon))
			}
			tracker := refresh.NewTracker(refresh.WithCanonicalRepository(res.CanonicalRepository))
			tracker.Record(refresh.App{Name: "shop", Namespace: "team-a"}, specs, results)
			backend := &refreshes{}
			refresher := refresh.NewRefresher(tracker, res, backend, refresh.WithLogger(quiet()),
				refresh.WithMetrics(refresh.NewMetrics(prometheus.NewRegistry())))

			// The debug listing shows the image's entries under either name.
			debug := ops.NewDebugHandler(res, tracker, nil)
			byPushed, byCanon := listCache(t, debug, host(tc.pushed)), listCache(t, debug, host(tc.canon))
			if byPushed == 0 || byPushed != byCanon {
				t.Fatalf("listing by %q: %d entries, by %q: %d", host(tc.pushed), byPushed, host(tc.canon), byCanon)
			}

			// The push: the webhook invalidates and wakes the app.
			reg.Push(t, tc.repo+":1.1.0")
			h, err := ops.NewWebhookHandler(res, refresher, ops.WithInsecureNoAuth(), ops.WithWebhookLogger(quiet()))
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/webhook?type="+tc.typ, strings.NewReader(host(tc.body))))
			var resp ops.WebhookResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || rec.Code != http.StatusOK || len(resp.Repositories) != 1 {
				t.Fatalf("webhook: %d %s", rec.Code, rec.Body)
			}
			if resp.Repositories[0].Invalidated == 0 {
				t.Errorf("the push of %q invalidated nothing of %q", host(tc.pushed), host(tc.canon))
			}
			triggers := refresher.ProcessWakes(context.Background())
			if len(triggers) != 1 || triggers[0].Result != refresh.ResultTriggered || triggers[0].App.Key() != "team-a/shop" {
				t.Fatalf("wake-up for %q: %+v", host(tc.pushed), triggers)
			}
			if to := triggers[0].Changes[0].To; to != "1.1.0" {
				t.Errorf("change to %q, want 1.1.0", to)
			}
		})
	}
}

// listCache counts the entries GET /debug/cache?repository=repo lists.
func listCache(t *testing.T, h http.Handler, repo string) int {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/cache?repository="+url.QueryEscape(repo), nil))
	var listing ops.CacheListing
	if err := json.Unmarshal(rec.Body.Bytes(), &listing); err != nil {
		t.Fatalf("listing: %v: %s", err, rec.Body)
	}
	return len(listing.Entries)
}
