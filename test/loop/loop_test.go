package loop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/argocd-image-resolver/argocd-image-resolver/test/harness"
)

// The tests' control plane: serve re-resolves every testInterval with tag
// lists fresh for testCacheTTL (below the interval, as the defaults 2m and
// 1m are); Argo CD runs with its defaults.
const (
	testInterval = 4 * time.Second
	testCacheTTL = 1500 * time.Millisecond
	// firstSync bounds an Application's first render and sync (cold
	// repo-server and controller caches on a busy machine).
	firstSync = 3 * time.Minute
	// loopDeadline bounds one push's way to the status.
	loopDeadline = time.Minute
)

// TestLoop runs each scenario on one control plane, each with its own
// Application and image repository.
func TestLoop(t *testing.T) {
	start := time.Now()
	p := startPlane(t, planeOptions{refreshInterval: testInterval, cacheTTL: testCacheTTL})
	t.Logf("control plane up in %s (Argo CD %s)", time.Since(start).Round(time.Millisecond), p.argocd)

	t.Run("WebhookPush", func(t *testing.T) { testWebhookPush(t, p) })
	t.Run("RefreshInterval", func(t *testing.T) { testRefreshInterval(t, p) })
	t.Run("OverrideTagRollback", func(t *testing.T) { testOverrideTagRollback(t, p) })
	t.Run("WithoutSelfHeal", func(t *testing.T) { testWithoutSelfHeal(t, p) })
	// Last: the outage stops the registry for every repository.
	t.Run("RegistryOutage", func(t *testing.T) { testRegistryOutage(t, p) })
}

// deploy creates the example Application on repo (whose tags are pushed
// first) and waits until it shows want.
func (p *plane) deploy(t *testing.T, name, repo string, tags []string, options map[string]string, want string) {
	t.Helper()
	p.reg.PushTags(t, repo, tags...)
	p.createApp(t, p.newApp(t, name, repo, options))
	image := p.image(repo) + ":" + want
	p.watch.wait(t, name+" first synced with "+image, firstSync, func() error { return p.watch.showing(name, image) })
	if got := p.deploymentImage(t, name); got != image {
		t.Fatalf("Deployment %s runs %s, want %s", name, got, image)
	}
}

// awaitImage waits until the Application shows image in its status and
// the synced Deployment runs it, and returns how long after since the
// status first showed it.
func (p *plane) awaitImage(t *testing.T, name, image string, since time.Time) time.Duration {
	t.Helper()
	p.watch.wait(t, name+" showing "+image, loopDeadline, func() error { return p.watch.showing(name, image) })
	if got := p.deploymentImage(t, name); got != image {
		t.Fatalf("status shows %s but the Deployment runs %s", image, got)
	}
	seen, ok := p.watch.imageSeenAfter(name, image, since)
	if !ok {
		t.Fatalf("%s shows %s, but it appeared before the change", name, image)
	}
	return seen.Sub(since)
}

// unchanged checks that nothing was committed to git and the
// Application's spec is what it was.
func (p *plane) unchanged(t *testing.T, name, gitBefore string, specBefore v1alpha1.ApplicationSpec) {
	t.Helper()
	if after := p.gitState(t); after != gitBefore {
		t.Errorf("git changed: %s, then %s", gitBefore, after)
	}
	app, err := p.argo.ArgoprojV1alpha1().Applications(argocdNamespace).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(app.Spec, specBefore) {
		t.Errorf("the Application's spec changed:\nbefore %+v\nafter  %+v", specBefore, app.Spec)
	}
}

// testWebhookPush: the Application renders 1.6.3; CI pushes 1.6.4 and
// calls notify; the status and the Deployment show 1.6.4, nothing was
// committed and the spec is unchanged.
func testWebhookPush(t *testing.T, p *plane) {
	const app, repo = "web-hook", "acme/web-hook"
	p.deploy(t, app, repo, []string{"1.5.0", "1.6.0", "1.6.3", "1.7.0"}, nil, "1.6.3")
	gitBefore, specBefore := p.gitState(t), p.watch.get(t, app).Spec

	p.reg.PushTags(t, repo, "1.6.4")
	pushed := time.Now()
	p.serve.notify(t, p.image(repo), "1.6.4")
	latency := p.awaitImage(t, app, p.image(repo)+":1.6.4", pushed)
	t.Logf("push + notify → status.summary.images shows 1.6.4: %s", latency.Round(time.Millisecond))
	p.unchanged(t, app, gitBefore, specBefore)
}

// testRefreshInterval: without a webhook, the refresher's periodic pass
// sees the push and hard-refreshes the Application within one
// --refresh-interval once the cached tag list has expired, so at most
// --refresh-interval + --cache-ttl after the push (the pass right after a
// render may still find the list fresh); Argo CD then renders and syncs
// it.
func testRefreshInterval(t *testing.T, p *plane) {
	const app, repo = "web-poll", "acme/web-poll"
	p.deploy(t, app, repo, []string{"1.6.0", "1.6.3"}, nil, "1.6.3")
	gitBefore, specBefore := p.gitState(t), p.watch.get(t, app).Spec

	p.reg.PushTags(t, repo, "1.6.4")
	pushed := time.Now()
	latency := p.awaitImage(t, app, p.image(repo)+":1.6.4", pushed)
	refreshed, ok := p.watch.refreshedAfter(app, pushed)
	if !ok {
		t.Fatal("the status shows 1.6.4 but no hard refresh was seen")
	}
	// The check and the PATCH take milliseconds; one more interval covers
	// a pass delayed by a busy machine running other test packages (Argo
	// CD's own refresh comes minutes later, so this still tells the two
	// apart).
	if d, bound := refreshed.Sub(pushed), 2*testInterval+testCacheTTL; d > bound {
		t.Errorf("hard refresh %s after the push, want within --refresh-interval + --cache-ttl and one interval of slack (%s)", d, bound)
	}
	t.Logf("push (no webhook) → hard refresh %s, → status shows 1.6.4 %s (--refresh-interval %s)",
		refreshed.Sub(pushed).Round(time.Millisecond), latency.Round(time.Millisecond), testInterval)
	p.unchanged(t, app, gitBefore, specBefore)
}

// testOverrideTagRollback: the Application follows ~1.6 to 1.6.4;
// override-tag 1.6.3 in its spec rolls it back, and removing the option
// returns it to the resolved version. Nothing is committed.
func testOverrideTagRollback(t *testing.T, p *plane) {
	const app, repo = "web-pin", "acme/web-pin"
	p.deploy(t, app, repo, []string{"1.6.0", "1.6.3", "1.6.4"}, nil, "1.6.4")
	gitBefore := p.gitState(t)

	// setOption sets (or, with nil, removes) the image option
	// web.override-tag in the Application's plugin parameters, as a user
	// edits the spec (a merge patch replaces the parameter list).
	setOption := func(value *string) {
		t.Helper()
		params := p.watch.get(t, app).Spec.Source.Plugin.Parameters
		for i, prm := range params {
			if prm.Name != "image-options" {
				continue
			}
			m := map[string]string{}
			for k, val := range prm.OptionalMap.Map {
				m[k] = val
			}
			if value == nil {
				delete(m, "web.override-tag")
			} else {
				m["web.override-tag"] = *value
			}
			params[i].OptionalMap = &v1alpha1.OptionalMap{Map: m}
		}
		patch, err := json.Marshal(map[string]any{"spec": map[string]any{"source": map[string]any{"plugin": map[string]any{"parameters": params}}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.argo.ArgoprojV1alpha1().Applications(argocdNamespace).Patch(context.Background(), app, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatalf("patch the Application's spec: %v", err)
		}
	}
	pin := "1.6.3"
	changed := time.Now()
	setOption(&pin)
	latency := p.awaitImage(t, app, p.image(repo)+":1.6.3", changed)
	t.Logf("override-tag 1.6.3 in the spec → status shows 1.6.3: %s", latency.Round(time.Millisecond))

	changed = time.Now()
	setOption(nil)
	latency = p.awaitImage(t, app, p.image(repo)+":1.6.4", changed)
	t.Logf("override-tag removed → status shows 1.6.4 again: %s", latency.Round(time.Millisecond))
	if after := p.gitState(t); after != gitBefore {
		t.Errorf("git changed: %s, then %s", gitBefore, after)
	}
}

// testWithoutSelfHeal documents what Argo CD does with the hard refresh
// when the Application's automated sync has no selfHeal: it renders the
// new version and reports OutOfSync, but its auto-sync does not apply a
// revision it already synced (controller/appcontroller.go, autoSync:
// "most recent sync already to ..."), so the new image is not deployed.
func testWithoutSelfHeal(t *testing.T, p *plane) {
	const app, repo = "web-noheal", "acme/web-noheal"
	p.reg.PushTags(t, repo, "1.6.0", "1.6.3")
	a := p.newApp(t, app, repo, nil)
	a.Spec.SyncPolicy.Automated.SelfHeal = new(false)
	p.createApp(t, a)
	image := p.image(repo) + ":1.6.3"
	p.watch.wait(t, app+" first synced with "+image, firstSync, func() error { return p.watch.showing(app, image) })

	p.reg.PushTags(t, repo, "1.6.4")
	pushed := time.Now()
	p.serve.notify(t, p.image(repo), "1.6.4")
	// Auto-sync decides in the reconciliation that records OutOfSync, and
	// starts its operation before that status is written.
	p.watch.wait(t, app+" OutOfSync after the hard refresh", loopDeadline, func() error {
		a := p.watch.app(app)
		if _, ok := firstAfter(p.watch.refreshes[app], pushed); !ok {
			return errors.New("no hard refresh yet")
		}
		if a.Status.Sync.Status != v1alpha1.SyncStatusCodeOutOfSync {
			return fmt.Errorf("sync status %s", a.Status.Sync.Status)
		}
		return nil
	})
	a = p.watch.get(t, app)
	if a.Operation != nil {
		t.Fatalf("an automated sync started without selfHeal: %+v", a.Operation)
	}
	if got := a.Status.Summary.Images; len(got) != 1 || got[0] != image {
		t.Fatalf("status.summary.images %q, want still [%s]", got, image)
	}
	if got := p.deploymentImage(t, app); got != image {
		t.Fatalf("Deployment runs %s, want still %s", got, image)
	}
	t.Logf("without selfHeal: %s", describe(a))
}

// testRegistryOutage: with the registry down, the refresher's checks fail
// and a hard refresh renders from the plugin's stale cache: the
// Application stays Synced on the version it runs, without an error.
func testRegistryOutage(t *testing.T, p *plane) {
	const app, repo = "web-outage", "acme/web-outage"
	p.deploy(t, app, repo, []string{"1.6.0", "1.6.3"}, nil, "1.6.3")
	image := p.image(repo) + ":1.6.3"
	specBefore := p.watch.get(t, app).Spec

	// Answers from the stale cache during the outage: the refresher's
	// failing checks and the hard refresh's render (which may find the
	// result one of those checks just cached) both count.
	stale := p.serve.metric(t, `argocd_image_resolver_resolutions_total{result="stale"}`)
	p.reg.down.Store(true)
	down := time.Now()
	defer p.reg.down.Store(false)
	// The refresher's next pass finds the tag list expired and asks the
	// registry, which refuses.
	harness.Poll(t, "a registry request during the outage", 2*testInterval+10*time.Second, func() error {
		if p.reg.refused.Load() == 0 {
			return errors.New("none refused yet")
		}
		return nil
	})

	// The refresher's failing checks triggered nothing.
	if at, ok := p.watch.refreshedAfter(app, down); ok {
		t.Fatalf("hard refresh %s after the outage began, with nothing pushed", at.Sub(down))
	}
	renders := p.serve.metric(t, `argocd_image_resolver_render_duration_seconds_count{result="success"}`)
	// A user's (or Argo CD's periodic) hard refresh during the outage.
	patch := []byte(`{"metadata":{"annotations":{"` + refreshAnnotation + `":"hard"}}}`)
	patched, err := p.argo.ArgoprojV1alpha1().Applications(argocdNamespace).Patch(context.Background(), app, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	after := resourceVersion(t, patched.ResourceVersion)
	p.watch.wait(t, "the hard refresh done during the outage", loopDeadline, func() error {
		a := p.watch.app(app)
		if resourceVersion(t, a.ResourceVersion) <= after {
			return errors.New("no change since the hard-refresh request")
		}
		if _, pending := a.Annotations[refreshAnnotation]; pending {
			return errors.New("hard refresh still pending")
		}
		return nil
	})
	if got := p.serve.metric(t, `argocd_image_resolver_render_duration_seconds_count{result="success"}`); got <= renders {
		t.Fatalf("no successful render during the outage (%v before, %v after)", renders, got)
	}
	if got := p.serve.metric(t, `argocd_image_resolver_resolutions_total{result="stale"}`); got <= stale {
		t.Fatalf("no stale resolution during the outage (%v before, %v after)", stale, got)
	}
	p.watch.wait(t, app+" Synced on "+image, loopDeadline, func() error { return p.watch.showing(app, image) })
	if got := p.deploymentImage(t, app); got != image {
		t.Fatalf("Deployment runs %s during the outage, want %s", got, image)
	}
	if a := p.watch.get(t, app); !reflect.DeepEqual(a.Spec, specBefore) {
		t.Errorf("the Application's spec changed during the outage")
	}
	t.Logf("registry down (%d requests refused): %s after a hard refresh", p.reg.refused.Load(), describe(p.watch.get(t, app)))
}
