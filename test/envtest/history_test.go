package envtest

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/argocd-image-resolver/argocd-image-resolver/refresh"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
	"github.com/argocd-image-resolver/argocd-image-resolver/store"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/clocktest"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/storetest"
)

func createApplication(t *testing.T, apps dynamic.NamespaceableResourceInterface, ns, name, project string, images []string) *unstructured.Unstructured {
	t.Helper()
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1",
		"kind":       "Application",
		"metadata":   map[string]any{"name": name, "namespace": ns},
		"spec": map[string]any{
			"project":     project,
			"source":      map[string]any{"repoURL": "https://git.example.com/acme/deploy.git", "path": "apps/" + name},
			"destination": map[string]any{"server": "https://kubernetes.default.svc", "namespace": name},
		},
	}}
	if images != nil {
		list := make([]any, len(images))
		for i, img := range images {
			list[i] = img
		}
		// The Application CRD has no status subresource: Argo CD's
		// controller writes the status with the object, and so can a test.
		obj.Object["status"] = map[string]any{"summary": map[string]any{"images": list}}
	}
	got, err := apps.Namespace(ns).Create(context.Background(), obj, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create Application %s/%s: %v", ns, name, err)
	}
	return got
}

// TestImageHistoryEventsAndFollowAgainstKubernetesAPI: image changes of
// an Application become Events that `kubectl describe application` lists
// (read back with its query), once however many replicas render the
// change; an Application the plugin does not render is followed through
// its status.summary.images.
func TestImageHistoryEventsAndFollowAgainstKubernetesAPI(t *testing.T) {
	env := startAPIServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	core, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := core.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "argocd"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	apps := dyn.Resource(refresh.ApplicationResource)
	web := createApplication(t, apps, "argocd", "web-staging", "staging", nil)
	d := func(c string) string { return "sha256:" + strings.Repeat(c, 64) }
	createApplication(t, apps, "argocd", "legacy", "prod", []string{"ghcr.io/acme/web:1.2.3@" + d("c"), "ghcr.io/acme/api:2.0.0"})

	k := refresh.NewKubernetes(dyn)
	clock := clocktest.New(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	shared := store.NewMemory(store.WithClock(clock.Now))
	var barriers []*storetest.ReadBarrier
	var replicas []*refresh.Tracker
	for range 2 {
		b := &storetest.ReadBarrier{Store: shared, Key: "app|argocd/web-staging"}
		barriers = append(barriers, b)
		replicas = append(replicas, refresh.NewTracker(refresh.WithTrackerClock(clock.Now), refresh.WithTrackerStore(b),
			refresh.WithEvents(k), refresh.WithTrackerLogger(slog.New(slog.NewTextHandler(t.Output(), nil)))))
	}
	app := refresh.App{Name: "web-staging", Namespace: "argocd", Project: "staging"}
	result := func(tag, digest string, held ...resolve.Held) []resolve.Result {
		return []resolve.Result{{Alias: "web", Image: "ghcr.io/acme/web", Strategy: resolve.StrategySemver, Tag: tag, Digest: digest,
			Rule: `semver "^1.2"`, Gates: []string{"verify ci-key"}, HeldBack: held}}
	}
	specs := []resolve.Spec{{Alias: "web", Image: "ghcr.io/acme/web", Constraint: "^1.2"}}
	// renderAll renders on every replica at once.
	renderAll := func(results []resolve.Result) {
		storetest.Arm(barriers...)
		var wg sync.WaitGroup
		for _, tr := range replicas {
			wg.Go(func() { tr.Record(app, specs, results) })
		}
		wg.Wait()
		for _, tr := range replicas {
			tr.WaitEvents()
		}
		clock.Advance(time.Hour)
	}

	renderAll(result("1.2.3", d("a")))
	// The second change is posted while the Applications are watched: the
	// uid comes from the watched cache instead of a GET.
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	if err := k.Watch(wctx); err != nil {
		t.Fatal(err)
	}
	renderAll(result("1.3.0", d("b"), resolve.Held{Tag: "1.4.0", Digest: d("e"), Gate: resolve.GateMinAge,
		Reason: "first seen 2h ago; min-age 24h", EligibleAt: clock.Now().Add(22 * time.Hour)}))
	renderAll(result("1.3.0", d("b"), resolve.Held{Tag: "1.4.0", Digest: d("e"), Gate: resolve.GateMinAge,
		Reason: "first seen 3h ago; min-age 24h", EligibleAt: clock.Now().Add(21 * time.Hour)}))

	// What `kubectl describe application web-staging -n argocd` lists:
	// core Events selected by the involved object's kind, name, namespace
	// and uid.
	selector := fields.Set{
		"involvedObject.kind":      "Application",
		"involvedObject.name":      web.GetName(),
		"involvedObject.namespace": web.GetNamespace(),
		"involvedObject.uid":       string(web.GetUID()),
	}.AsSelector().String()
	events, err := core.CoreV1().Events("argocd").List(ctx, metav1.ListOptions{FieldSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range events.Items {
		if ev.Type != corev1.EventTypeNormal || ev.Source.Component != refresh.EventComponent || ev.Count != 1 ||
			ev.InvolvedObject.APIVersion != "argoproj.io/v1alpha1" || ev.FirstTimestamp.IsZero() {
			t.Errorf("event %+v", ev)
		}
		got = append(got, ev.Reason+" "+ev.Message)
	}
	sort.Strings(got)
	want := []string{
		`ImageHeldBack web: 1.4.0 held back: first seen 2h ago; min-age 24h`,
		`ImageResolved web: 1.2.3 → 1.3.0 (semver "^1.2"; verify ci-key)`,
		`ImageResolved web: 1.2.3, first resolution (semver "^1.2"; verify ci-key)`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Events on the Application (%d, from %d replicas):\n%s\nwant one per change:\n%s",
			len(got), len(replicas), strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Follow: from the tracker for what the plugin renders, from the
	// status for the rest, through the same client.
	follow := refresh.NewFollow(replicas[1], refresh.WithStatusFallback(k))
	f, err := follow.Followed(ctx, "web-staging", "ghcr.io/acme/web")
	if err != nil || f.From != resolve.FollowFromTracker || f.Tag != "1.3.0" || f.Project != "staging" || f.Previous == nil || f.Previous.Tag != "1.2.3" {
		t.Fatalf("follow web-staging: %+v, %v", f, err)
	}
	f, err = follow.Followed(ctx, "argocd/legacy", "ghcr.io/acme/web")
	wantStatus := resolve.Followed{App: "argocd/legacy", Project: "prod", Tag: "1.2.3", Digest: d("c"), From: resolve.FollowFromStatus}
	if err != nil || !reflect.DeepEqual(f, wantStatus) {
		t.Fatalf("follow legacy: %+v, %v\nwant %+v", f, err, wantStatus)
	}
	f, err = follow.Followed(ctx, "legacy", "ghcr.io/acme/api")
	if err != nil || f.Tag != "2.0.0" || f.Digest != "" {
		t.Fatalf("follow legacy's api: %+v, %v", f, err)
	}
	for _, tc := range []struct{ app, repository string }{
		{"missing", "ghcr.io/acme/web"},
		{"legacy", "ghcr.io/acme/db"},
	} {
		if _, err := follow.Followed(ctx, tc.app, tc.repository); !errors.Is(err, resolve.ErrNotFollowed) ||
			!strings.Contains(err.Error(), tc.app) || !strings.Contains(err.Error(), tc.repository) {
			t.Errorf("follow %s %s: err = %v, want ErrNotFollowed naming both", tc.app, tc.repository, err)
		}
	}
}
