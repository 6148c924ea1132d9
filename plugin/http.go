package plugin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/argocd-image-resolver/argocd-image-resolver/cmp"
	"github.com/argocd-image-resolver/argocd-image-resolver/ops"
	"github.com/argocd-image-resolver/argocd-image-resolver/refresh"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
)

// opsOptions are the `serve` flags of the HTTP side and the refresher.
type opsOptions struct {
	flags *pflag.FlagSet

	httpAddr  string
	debugAddr string

	webhookSecretFile string
	webhookInsecure   bool
	webhookMaxBody    int64
	webhookRate       float64

	refreshInterval   time.Duration
	refreshBackend    string
	kubeconfig        string
	listNamespaces    []string
	controlPlaneNS    string
	startupRate       float64
	refreshRate       float64
	refreshBurst      int
	checkTimeout      time.Duration
	argocdServer      string
	argocdTokenFile   string
	argocdInsecureTLS bool
}

// Refresh backends for --refresh-backend.
const (
	backendAuto       = "auto"
	backendKubernetes = "kubernetes"
	backendArgoCDAPI  = "argocd-api"
	backendNone       = "none"
)

func (o *opsOptions) addFlags(f *pflag.FlagSet) {
	o.flags = f
	defNS := os.Getenv("ARGOCD_NAMESPACE")
	if defNS == "" {
		defNS = "argocd"
	}
	f.StringVar(&o.httpAddr, "http-addr", ops.DefaultHTTPAddr, "service port: /metrics, /healthz, /readyz, /webhook (empty disables)")
	f.StringVar(&o.debugAddr, "debug-addr", ops.DefaultDebugAddr, "debug port: /debug/cache, /debug/apps; loopback only unless a non-loopback address is given here explicitly (empty disables)")
	f.StringVar(&o.webhookSecretFile, "webhook-secret-file", "", "file holding the webhook secret (HMAC key for generic and ghcr, token for the others)")
	f.BoolVar(&o.webhookInsecure, "webhook-insecure-no-auth", false, "accept webhooks without authentication (trusted networks only)")
	f.Int64Var(&o.webhookMaxBody, "webhook-max-body", ops.DefaultWebhookMaxBody, "largest webhook body accepted, in bytes")
	f.Float64Var(&o.webhookRate, "webhook-rate", 5, "webhook requests accepted per second (burst 4x)")
	f.DurationVar(&o.refreshInterval, "refresh-interval", 2*time.Minute, "how often tracked apps are re-resolved; also the minimum time between two hard refreshes of one app")
	f.StringVar(&o.refreshBackend, "refresh-backend", backendAuto, "how hard refreshes are triggered: kubernetes, argocd-api, none, or auto (kubernetes in a cluster or with --kubeconfig, argocd-api with --argocd-server, else none)")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig for the kubernetes backend (default: in-cluster service account)")
	f.StringSliceVar(&o.listNamespaces, "refresh-namespaces", nil, "namespaces listed for plugin Applications at start-up (default: all)")
	f.StringVar(&o.controlPlaneNS, "control-plane-namespace", defNS, "Argo CD's namespace: where Applications named without a <namespace>_ prefix live (default $ARGOCD_NAMESPACE or argocd)")
	f.Float64Var(&o.startupRate, "refresh-startup-rate", 0.5, "hard refreshes per second for untracked plugin Applications found at start-up (part of --refresh-rate)")
	f.Float64Var(&o.refreshRate, "refresh-rate", refresh.DefaultRate, "hard refreshes sent per second at most; also the Kubernetes client's QPS")
	f.IntVar(&o.refreshBurst, "refresh-burst", refresh.DefaultBurst, "hard refreshes sent at once above --refresh-rate; also the Kubernetes client's burst")
	f.DurationVar(&o.checkTimeout, "refresh-check-timeout", refresh.DefaultCheckTimeout, "how long the refresher waits for one image's registry before it compares the other images without it")
	f.StringVar(&o.argocdServer, "argocd-server", "", "Argo CD API URL for the argocd-api backend, e.g. https://argocd-server.argocd.svc")
	f.StringVar(&o.argocdTokenFile, "argocd-token-file", "", "file holding an Argo CD API token (its account needs only the \"applications, get\" permission)")
	f.BoolVar(&o.argocdInsecureTLS, "argocd-insecure-skip-tls-verify", false, "do not verify argocd-server's certificate (its default one is self-signed)")
}

// cmpRecorder adapts the tracker to the CMP server's Recorder.
type cmpRecorder struct{ t *refresh.Tracker }

func (r cmpRecorder) Record(app cmp.App, specs []resolve.Spec, results []resolve.Result) {
	r.t.Record(refresh.App{Name: app.Name, Namespace: app.Namespace, Project: app.Project, RepoURL: app.RepoURL, Path: app.Path}, specs, results)
}

// refreshBackend is the hard-refresh backend and what comes with it.
type refreshBackend struct {
	refresh.Backend
	lister refresh.Lister
	// kube is the client configuration of the kubernetes backend (nil for
	// the others), for the leader election's Lease.
	kube *rest.Config
}

func (o *opsOptions) backend() (*refreshBackend, error) {
	kind := o.refreshBackend
	if kind == backendAuto {
		switch {
		case o.argocdServer != "":
			kind = backendArgoCDAPI
		case o.kubeconfig != "":
			kind = backendKubernetes
		default:
			if _, err := rest.InClusterConfig(); err == nil {
				kind = backendKubernetes
			} else {
				kind = backendNone
			}
		}
	}
	switch kind {
	case backendNone:
		return nil, nil
	case backendKubernetes:
		cfg, err := refresh.RESTConfig(o.kubeconfig)
		if err != nil {
			return nil, err
		}
		// client-go's default (5 requests per second) would pace the hard
		// refreshes below --refresh-rate: one PATCH each.
		cfg.QPS, cfg.Burst = float32(o.refreshRate), o.refreshBurst
		k, err := refresh.NewKubernetesFromConfig(cfg, refresh.WithListNamespaces(o.listNamespaces...))
		if err != nil {
			return nil, err
		}
		return &refreshBackend{Backend: k, lister: k, kube: cfg}, nil
	case backendArgoCDAPI:
		var opts []refresh.ArgoCDOption
		if o.argocdInsecureTLS {
			tr := http.DefaultTransport.(*http.Transport).Clone()
			// Opt-in, for argocd-server's default self-signed certificate.
			tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
			opts = append(opts, refresh.WithHTTPClient(&http.Client{Timeout: 60 * time.Second, Transport: tr}))
		}
		a, err := refresh.NewArgoCDAPI(o.argocdServer, o.argocdTokenFile, opts...)
		if err != nil {
			return nil, err
		}
		return &refreshBackend{Backend: a, lister: a}, nil
	}
	return nil, fmt.Errorf("--refresh-backend %q: use kubernetes, argocd-api, none or auto", o.refreshBackend)
}

// elector picks the refresher's election. With Redis the replicas share
// the tracker, so one of them leads: on a Lease in Argo CD's namespace with
// the Kubernetes backend, on a Redis key with the Argo CD API backend.
// Without Redis each replica refreshes what it rendered.
func (o *opsOptions) elector(w *serveWiring, b *refreshBackend) (refresh.Elector, error) {
	if w.Redis == nil {
		return refresh.AlwaysLeader{}, nil
	}
	id := refresh.Identity()
	if b.kube != nil {
		return refresh.NewKubernetesLease(b.kube, o.controlPlaneNS, id, refresh.DefaultLeaseTimings(), w.Logger)
	}
	return refresh.NewRedisLease(w.Redis, id, refresh.DefaultLeaseTimings(), w.Logger), nil
}

func (o *opsOptions) wire(_ context.Context, w *serveWiring) error {
	log := w.Logger
	// The tracker, the wake-ups and the debug listing spell repositories as
	// the resolver does (registries.conf's default registry, defaultns and
	// api_url applied), so that a webhook's push finds the apps using it.
	topts := []refresh.TrackerOption{refresh.WithDefaultNamespace(o.controlPlaneNS), refresh.WithTrackerLogger(log),
		refresh.WithCanonicalRepository(w.Resolver.CanonicalRepository)}
	if w.TrackerStore != nil {
		topts = append(topts, refresh.WithTrackerStore(w.TrackerStore))
	}
	if o.refreshRate <= 0 || o.refreshBurst < 1 {
		return fmt.Errorf("--refresh-rate %v and --refresh-burst %d: both must be positive", o.refreshRate, o.refreshBurst)
	}
	backend, err := o.backend()
	if err != nil {
		return err
	}
	// With the Kubernetes client, image changes are also Events on the
	// Application, and Applications the plugin does not render can be
	// followed through their status.
	var fopts []refresh.FollowOption
	if k, ok := backendKube(backend); ok {
		topts = append(topts, refresh.WithEvents(k))
		fopts = append(fopts, refresh.WithStatusFallback(k))
	}
	tracker := refresh.NewTracker(topts...)
	if w.Follow != nil {
		w.Follow.Bind(refresh.NewFollow(tracker, fopts...))
	}
	metrics := ops.NewMetrics(w.Metrics)
	w.CMPOptions = append(w.CMPOptions, cmp.WithRecorder(cmpRecorder{tracker}), cmp.WithRenderObserver(metrics.ObserveRender))
	var waker ops.Waker = noWake{}
	if backend == nil {
		log.Warn("no hard-refresh backend: new image versions show only when Argo CD renders again on its own (git change or cache expiry); use --refresh-backend kubernetes or argocd-api")
	} else {
		names := []string{w.Plugin.Metadata.Name}
		if v := w.Plugin.Spec.Version; v != "" {
			names = append(names, w.Plugin.Metadata.Name+"-"+v)
		}
		if backend.kube != nil {
			// client-go (the watched cache, the Lease election) logs through
			// klog; keep its lines in serve's format.
			klog.SetSlogLogger(log.With("component", "client-go"))
		}
		elector, err := o.elector(w, backend)
		if err != nil {
			return err
		}
		r := refresh.NewRefresher(tracker, w.Resolver, backend.Backend,
			refresh.WithInterval(o.refreshInterval),
			refresh.WithRate(o.refreshRate, o.refreshBurst),
			refresh.WithCheckTimeout(o.checkTimeout),
			refresh.WithElector(elector),
			refresh.WithMetrics(refresh.NewMetrics(w.Metrics)),
			refresh.WithLogger(log),
			refresh.WithStartupListing(backend.lister, names, o.startupRate))
		waker = r
		w.OnInvalidation = func(repository string) {
			if repository != "" {
				r.Wake(repository)
			}
		}
		w.Runners = append(w.Runners, r.Run)
		log.Info("refresher enabled", "backend", backend.Name(), "interval", o.refreshInterval, "rate", o.refreshRate, "election", elector.Name(), "plugins", names)
	}

	if o.httpAddr != "" {
		var wopts []ops.WebhookOption
		if o.webhookSecretFile != "" {
			secret, err := readSecretFile(o.webhookSecretFile)
			if err != nil {
				return fmt.Errorf("--webhook-secret-file: %w", err)
			}
			wopts = append(wopts, ops.WithWebhookSecret(secret))
		}
		if o.webhookInsecure {
			wopts = append(wopts, ops.WithInsecureNoAuth())
		}
		wopts = append(wopts, ops.WithMaxBody(o.webhookMaxBody), ops.WithRateLimit(o.webhookRate, max(1, int(4*o.webhookRate))),
			ops.WithWebhookMetrics(metrics), ops.WithWebhookLogger(log))
		var webhook http.Handler
		wh, err := ops.NewWebhookHandler(w.Resolver, waker, wopts...)
		switch {
		case err == nil:
			webhook = wh
		case o.webhookSecretFile == "" && !o.webhookInsecure:
			log.Warn("webhook receiver disabled: no --webhook-secret-file")
		default:
			return err
		}
		readyFn := func() error {
			select {
			case <-w.Ready:
				return w.SocketReady()
			default:
				return errors.New("CMP socket not listening yet")
			}
		}
		ln, err := net.Listen("tcp", o.httpAddr)
		if err != nil {
			return fmt.Errorf("--http-addr %s: %w", o.httpAddr, err)
		}
		h := ops.NewServiceHandler(w.Metrics, readyFn, webhook)
		w.Runners = append(w.Runners, func(ctx context.Context) error { return ops.Serve(ctx, ln, h) })
		log.Info("service port listening", "addr", ln.Addr().String(), "webhook", webhook != nil)
	}

	if o.debugAddr != "" {
		ln, err := ops.ListenDebug(o.debugAddr, o.flags != nil && o.flags.Changed("debug-addr"), log)
		if err != nil {
			return err
		}
		h := ops.NewDebugHandler(w.Resolver, tracker, nil)
		w.Runners = append(w.Runners, func(ctx context.Context) error { return ops.Serve(ctx, ln, h) })
		log.Info("debug port listening", "addr", ln.Addr().String())
	}
	return nil
}

// backendKube is the Kubernetes backend's client, if that is the backend.
func backendKube(b *refreshBackend) (*refresh.Kubernetes, bool) {
	if b == nil {
		return nil, false
	}
	k, ok := b.Backend.(*refresh.Kubernetes)
	return k, ok
}

// noWake stands in for the refresher when no backend is configured: a
// webhook still invalidates the cache, so the next render sees the push.
type noWake struct{}

func (noWake) Wake(string) {}
