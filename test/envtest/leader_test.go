package envtest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/argocd-image-resolver/argocd-image-resolver/refresh"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
	"github.com/argocd-image-resolver/argocd-image-resolver/store"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/clocktest"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
)

// link is one replica's network path to the API server: a loopback TCP
// proxy that the test can cut, as if the replica's pod died (it can
// neither renew nor release its Lease).
type link struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newLink(t *testing.T, target string) *link {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &link{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			l.mu.Lock()
			l.conns = append(l.conns, c, up)
			l.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	t.Cleanup(l.cut)
	return l
}

func (l *link) cut() {
	l.ln.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.Close()
	}
	l.conns = nil
}

// replica is one sidecar's refresher: its own client (through its link),
// backend, resolver and Lease election, sharing the tracker and the cache
// store (with its invalidation messages) with the others, as Redis lets
// them.
type replica struct {
	name     string
	counts   *requestCounter
	resolver *resolve.Resolver
	r        *refresh.Refresher
	link     *link
	done     chan struct{}
}

// announcing tells the test each time its replica starts to lead.
type announcing struct {
	refresh.Elector
	name string
	led  chan<- string
}

func (a announcing) Run(ctx context.Context, lead func(context.Context)) error {
	return a.Elector.Run(ctx, func(lctx context.Context) {
		a.led <- a.name
		lead(lctx)
	})
}

func mustDynamic(t *testing.T, cfg *rest.Config) dynamic.Interface {
	t.Helper()
	d, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestLeaderElectionOneRefresherAcrossReplicas: two replicas elect one
// leader on the Lease; a push announced to the replica that does not lead
// (a Service picks one pod for a webhook) makes the leader send one
// hard-refresh patch; when the leader dies, the other leads within 30 s
// (15 s lease plus retries), knows the tracked Applications and refreshes
// the next change, once.
func TestLeaderElectionOneRefresherAcrossReplicas(t *testing.T) {
	env := startAPIServer(t)
	ctx := context.Background()
	core, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := core.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: stormNS}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	apiURL, err := url.Parse(env.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := registrytest.New(t)
	reg.Push(t, "acme/web:1.0.0")
	spec, err := resolve.ParseSpec("web=" + reg.Host() + "/acme/web:^1.0")
	if err != nil {
		t.Fatal(err)
	}
	s := &scenario{t: t, apps: mustDynamic(t, env.Config).Resource(refresh.ApplicationResource), regHost: reg.Host()}
	if _, err := s.apps.Namespace(stormNS).Create(ctx, applicationObject(stormNS, "web"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// The tracker is what the replicas share; the clock moves the guards'
	// interval on between the two changes.
	clock := clocktest.New(time.Now())
	shared := store.NewMemory()
	tracker := refresh.NewTracker(refresh.WithTrackerClock(clock.Now), refresh.WithDefaultNamespace(stormNS))
	attempts := make(chan struct {
		replica string
		tr      refresh.Trigger
	}, 8)
	var replicas []*replica
	led := make(chan string, 4)
	for _, name := range []string{"a", "b"} {
		p := &replica{name: name, counts: &requestCounter{}, link: newLink(t, apiURL.Host), done: make(chan struct{})}
		cfg := rest.CopyConfig(env.Config)
		cfg.Host = "https://" + p.link.ln.Addr().String()
		cfg = p.counts.wrap(cfg)
		cfg.QPS, cfg.Burst = refresh.DefaultRate, refresh.DefaultBurst
		kube, err := refresh.NewKubernetesFromConfig(cfg, refresh.WithListNamespaces(stormNS))
		if err != nil {
			t.Fatal(err)
		}
		lease, err := refresh.NewKubernetesLease(cfg, stormNS, name, refresh.DefaultLeaseTimings(), logger)
		if err != nil {
			t.Fatal(err)
		}
		p.resolver, err = resolve.New(resolve.WithLogger(logger), resolve.WithStore(shared))
		if err != nil {
			t.Fatal(err)
		}
		if name == "a" {
			// Replica a rendered the app; b knows it from the tracker only.
			res, err := p.resolver.Resolve(ctx, []resolve.Spec{spec})
			if err != nil {
				t.Fatal(err)
			}
			tracker.Record(refresh.App{Name: "web", Namespace: stormNS}, []resolve.Spec{spec}, res)
		}
		p.r = refresh.NewRefresher(tracker, p.resolver, kube, refresh.WithElector(announcing{lease, name, led}),
			refresh.WithInterval(time.Minute), refresh.WithClock(clock.Now), refresh.WithLogger(logger),
			refresh.WithAttemptHook(func(tr refresh.Trigger) {
				attempts <- struct {
					replica string
					tr      refresh.Trigger
				}{name, tr}
			}))
		runCtx, stop := context.WithCancel(ctx)
		watching := make(chan struct{})
		go func() {
			defer close(watching)
			_ = p.resolver.WatchInvalidations(runCtx, p.r.Wake)
		}()
		go func() {
			defer close(p.done)
			_ = p.r.Run(runCtx)
		}()
		t.Cleanup(func() { stop(); <-p.done; <-watching })
		replicas = append(replicas, p)
	}
	byName := map[string]*replica{"a": replicas[0], "b": replicas[1]}
	leader := func() *replica {
		t.Helper()
		select {
		case name := <-led:
			return byName[name]
		case <-time.After(45 * time.Second):
			t.Fatal("no replica leads within 45 s")
			return nil
		}
	}
	// change pushes a tag and announces it to one replica, as the
	// webhook handler does (invalidate, then wake the local refresher);
	// the invalidation message reaches the others through the store.
	// Exactly one refresh must follow, by the leader.
	change := func(tag string, via, want *replica) {
		t.Helper()
		reg.Push(t, "acme/web:"+tag)
		via.resolver.Invalidate(reg.Host() + "/acme/web")
		via.r.Wake(reg.Host() + "/acme/web")
		select {
		case a := <-attempts:
			if a.replica != want.name || a.tr.Result != refresh.ResultTriggered || a.tr.Changes[0].To != tag {
				t.Fatalf("attempt by %s: %+v; want a triggered refresh to %s by the leader %s", a.replica, a.tr, tag, want.name)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no refresh for %s within 30 s", tag)
		}
		if v, _, _ := s.annotation(stormNS, "web"); v != "hard" {
			t.Fatalf("annotation = %q, want hard", v)
		}
	}

	first := leader()
	other := byName["a"]
	if first == other {
		other = byName["b"]
	}
	change("1.1.0", other, first)

	// Argo CD re-renders (on any replica) and clears the annotation.
	s.setAnnotation(stormNS, "web", nil)
	clock.Advance(2 * time.Minute)
	res := []resolve.Result{{Alias: "web", Image: spec.Image, Tag: "1.1.0"}}
	tracker.Record(refresh.App{Name: "web", Namespace: stormNS}, []resolve.Spec{spec}, res)

	// The leader dies.
	killed := time.Now()
	first.link.cut()
	second := leader()
	took := time.Since(killed)
	if second == first {
		t.Fatalf("replica %s led again although it cannot reach the API server", first.name)
	}
	t.Logf("replica %s leads %v after %s died", second.name, took.Round(time.Millisecond), first.name)
	if took > 30*time.Second {
		t.Fatalf("takeover took %v, want within 30 s", took)
	}
	change("1.2.0", second, second)

	var patches int64
	for _, p := range replicas {
		patches += p.counts.patches.Load()
	}
	if patches != 2 {
		t.Fatalf("%d hard-refresh patches across replicas for 2 changes, want 2", patches)
	}
	select {
	case a := <-attempts:
		t.Fatalf("extra attempt by %s: %+v", a.replica, a.tr)
	default:
	}
}
