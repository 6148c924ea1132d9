package loop

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	appclientset "github.com/argoproj/argo-cd/v3/pkg/client/clientset/versioned"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// refreshAnnotation is the annotation our refresher (and a user's "Hard
// refresh") sets, and Argo CD's controller removes once it has refreshed.
const refreshAnnotation = "argocd.argoproj.io/refresh"

// appWatch follows the Applications of argocd through a watch (an
// informer), so that tests wait on events instead of polling the
// apiserver, and it timestamps what they measure: when each image first
// appeared in an Application's status.summary.images, and when the
// refresh annotation appeared.
type appWatch struct {
	mu   sync.Mutex
	apps map[string]*v1alpha1.Application
	// images: app → image → each time it appeared in
	// status.summary.images (after being absent).
	images map[string]map[string][]time.Time
	// refreshes: app → each time the refresh annotation appeared.
	refreshes map[string][]time.Time
	// operations: app → each time an operation (a sync) appeared.
	operations map[string][]time.Time
	// changed is closed and replaced on every event.
	changed chan struct{}
}

func watchApps(tb testing.TB, client appclientset.Interface) *appWatch {
	tb.Helper()
	apps := client.ArgoprojV1alpha1().Applications(argocdNamespace)
	w := &appWatch{
		apps:       map[string]*v1alpha1.Application{},
		images:     map[string]map[string][]time.Time{},
		refreshes:  map[string][]time.Time{},
		operations: map[string][]time.Time{},
		changed:    make(chan struct{}),
	}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return apps.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return apps.Watch(ctx, o)
		},
	}
	inf := cache.NewSharedIndexInformer(lw, &v1alpha1.Application{}, 0, cache.Indexers{})
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { w.observe(obj) },
		UpdateFunc: func(_, obj any) { w.observe(obj) },
		DeleteFunc: func(obj any) {
			if app, ok := obj.(*v1alpha1.Application); ok {
				w.mu.Lock()
				delete(w.apps, app.Name)
				w.broadcast()
				w.mu.Unlock()
			}
		},
	}); err != nil {
		tb.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); inf.Run(stop) }()
	tb.Cleanup(func() { close(stop); <-done })
	if !cache.WaitForCacheSync(stop, inf.HasSynced) {
		tb.Fatal("the Application watch did not sync")
	}
	return w
}

func (w *appWatch) observe(obj any) {
	app, ok := obj.(*v1alpha1.Application)
	if !ok {
		return
	}
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	prev := w.apps[app.Name]
	w.apps[app.Name] = app
	seen := w.images[app.Name]
	if seen == nil {
		seen = map[string][]time.Time{}
		w.images[app.Name] = seen
	}
	var before []string
	if prev != nil {
		before = prev.Status.Summary.Images
	}
	for _, img := range app.Status.Summary.Images {
		if !slices.Contains(before, img) {
			seen[img] = append(seen[img], now)
		}
	}
	had := false
	if prev != nil {
		_, had = prev.Annotations[refreshAnnotation]
	}
	if _, has := app.Annotations[refreshAnnotation]; has && !had {
		w.refreshes[app.Name] = append(w.refreshes[app.Name], now)
	}
	if app.Operation != nil && (prev == nil || prev.Operation == nil) {
		w.operations[app.Name] = append(w.operations[app.Name], now)
	}
	w.broadcast()
}

func (w *appWatch) broadcast() {
	close(w.changed)
	w.changed = make(chan struct{})
}

// wait returns once cond returns nil, re-checking it on every event; it
// fails the test after timeout with cond's last error. cond runs with
// w.mu held.
func (w *appWatch) wait(tb testing.TB, what string, timeout time.Duration, cond func() error) {
	tb.Helper()
	if err := w.waitErr(timeout, cond); err != nil {
		tb.Fatalf("waiting %s for %s: %v", timeout, what, err)
	}
}

func (w *appWatch) waitErr(timeout time.Duration, cond func() error) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		w.mu.Lock()
		err := cond()
		ch := w.changed
		w.mu.Unlock()
		if err == nil {
			return nil
		}
		select {
		case <-ch:
		case <-deadline.C:
			w.mu.Lock()
			err = cond()
			w.mu.Unlock()
			return err
		}
	}
}

// app returns the last seen copy of an Application (nil if none); call it
// with w.mu held.
func (w *appWatch) app(name string) *v1alpha1.Application { return w.apps[name] }

// get returns the last seen copy of an Application.
func (w *appWatch) get(tb testing.TB, name string) *v1alpha1.Application {
	tb.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	app := w.apps[name]
	if app == nil {
		tb.Fatalf("Application %s not seen", name)
	}
	return app.DeepCopy()
}

// imageSeenAfter returns the first time after t that image appeared in
// the app's status.summary.images.
func (w *appWatch) imageSeenAfter(name, image string, t time.Time) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, at := range w.images[name][image] {
		if at.After(t) {
			return at, true
		}
	}
	return time.Time{}, false
}

// refreshedAfter returns the first time after t the refresh annotation
// appeared on the app.
func (w *appWatch) refreshedAfter(name string, t time.Time) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return firstAfter(w.refreshes[name], t)
}

// syncedAfter returns the first time after t an operation (the automated
// sync) appeared on the app: Argo CD had rendered and compared.
func (w *appWatch) syncedAfter(name string, t time.Time) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return firstAfter(w.operations[name], t)
}

func firstAfter(times []time.Time, t time.Time) (time.Time, bool) {
	for _, at := range times {
		if at.After(t) {
			return at, true
		}
	}
	return time.Time{}, false
}

// lastRefresh returns the last time the refresh annotation appeared on
// the app (zero if never).
func (w *appWatch) lastRefresh(name string) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	if r := w.refreshes[name]; len(r) > 0 {
		return r[len(r)-1]
	}
	return time.Time{}
}

// showing reports (nil) whether the Application shows exactly image in
// status.summary.images and is Synced with its last sync succeeded and no
// error condition; call it with w.mu held.
func (w *appWatch) showing(name, image string) error {
	app := w.apps[name]
	if app == nil {
		return fmt.Errorf("Application %s not seen yet", name)
	}
	if err := healthyStatus(app); err != nil {
		return err
	}
	if got := app.Status.Summary.Images; !slices.Equal(got, []string{image}) {
		return fmt.Errorf("status.summary.images %q, want [%s] (sync %s, revision %s)", got, image, app.Status.Sync.Status, app.Status.Sync.Revision)
	}
	return nil
}

// healthyStatus is nil when the Application is Synced, its last operation
// (if any) succeeded, and it carries no error condition.
func healthyStatus(app *v1alpha1.Application) error {
	for _, c := range app.Status.Conditions {
		if c.IsError() {
			return fmt.Errorf("condition %s: %s", c.Type, c.Message)
		}
	}
	if app.Status.Sync.Status != v1alpha1.SyncStatusCodeSynced {
		return fmt.Errorf("sync status %q, want Synced", app.Status.Sync.Status)
	}
	if op := app.Status.OperationState; op != nil && op.Phase != "Succeeded" {
		return fmt.Errorf("last operation %s: %s", op.Phase, op.Message)
	}
	if app.Operation != nil {
		return fmt.Errorf("an operation is running")
	}
	return nil
}

// resourceVersion is an object's resourceVersion as a number (etcd's
// revision: later writes have larger ones).
func resourceVersion(tb testing.TB, rv string) uint64 {
	tb.Helper()
	n, err := strconv.ParseUint(rv, 10, 64)
	if err != nil {
		tb.Fatalf("resourceVersion %q: %v", rv, err)
	}
	return n
}

// describe summarises an Application for failure messages.
func describe(app *v1alpha1.Application) string {
	if app == nil {
		return "<not seen>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "sync=%s health=%s images=%q", app.Status.Sync.Status, app.Status.Health.Status, app.Status.Summary.Images)
	if op := app.Status.OperationState; op != nil {
		fmt.Fprintf(&b, " operation=%s (%s)", op.Phase, op.Message)
	}
	for _, c := range app.Status.Conditions {
		fmt.Fprintf(&b, " condition=%s(%s)", c.Type, c.Message)
	}
	return b.String()
}
