package refresh

import (
	"context"
	"errors"
	"fmt"
	"os"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// eventResource is core/v1 Events. Core Events, like Argo CD's own (its
// audit events on Applications), rather than events.k8s.io: `kubectl
// describe application` lists core Events whose involvedObject names the
// Application, including its uid, and `kubectl get events` shows them
// (both APIs read the same objects; core/v1 is the one every client has).
var eventResource = schema.GroupVersionResource{Version: "v1", Resource: "events"}

// EventComponent is the source and reporting component of the Events.
const EventComponent = "argocd-image-resolver"

// maxEventMessage is the longest message the API accepts for an Event
// (1 KiB, events.k8s.io's limit).
const maxEventMessage = 1024

// PostEvents implements EventPoster: one Normal Event per entry on the
// Application (reason ImageResolved or ImageHeldBack), in its namespace.
// The involvedObject carries the Application's uid, without which `kubectl
// describe application` does not list the Event; it is read from the
// watched cache when it covers the Application, else with one GET. The
// service account needs create on events there.
func (k *Kubernetes) PostEvents(ctx context.Context, app App, entries []HistoryEntry) error {
	if len(entries) == 0 {
		return nil
	}
	uid, err := k.appUID(ctx, app)
	if err != nil {
		return err
	}
	instance, _ := os.Hostname()
	var errs []error
	for _, e := range entries {
		ev := newEvent(app, uid, instance, e)
		obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&ev)
		if err != nil {
			return fmt.Errorf("event of Application %s: %w", app.Key(), err)
		}
		_, err = k.client.Resource(eventResource).Namespace(app.Namespace).Create(ctx, &unstructured.Unstructured{Object: obj}, metav1.CreateOptions{})
		if err != nil {
			errs = append(errs, k.wrapEvent(app, err))
			if ctx.Err() != nil {
				break
			}
		}
	}
	return errors.Join(errs...)
}

// newEvent is the core/v1 Event of one history entry.
func newEvent(app App, uid types.UID, instance string, e HistoryEntry) corev1.Event {
	at := metav1.NewTime(e.Time)
	return corev1.Event{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Event"},
		ObjectMeta: metav1.ObjectMeta{
			// The API server completes the name (Argo CD's and client-go's
			// recorders use <object>.<hex time>; several entries of one
			// render share a time).
			GenerateName: app.Name + ".",
			Namespace:    app.Namespace,
		},
		InvolvedObject: corev1.ObjectReference{
			APIVersion: ApplicationResource.GroupVersion().String(),
			Kind:       "Application",
			Name:       app.Name,
			Namespace:  app.Namespace,
			UID:        uid,
		},
		Reason:              EventReason(e),
		Message:             truncate(e.Message(), maxEventMessage),
		Type:                corev1.EventTypeNormal,
		Source:              corev1.EventSource{Component: EventComponent},
		ReportingController: EventComponent,
		ReportingInstance:   instance,
		FirstTimestamp:      at,
		LastTimestamp:       at,
		Count:               1,
	}
}

// appUID is the Application's uid, from the watched cache or the API.
func (k *Kubernetes) appUID(ctx context.Context, app App) (types.UID, error) {
	if obj, ok := k.cached(app); ok && obj != nil {
		if meta, ok := obj["metadata"].(map[string]any); ok {
			if uid, ok := meta["uid"].(string); ok && uid != "" {
				return types.UID(uid), nil
			}
		}
	}
	got, err := k.client.Resource(ApplicationResource).Namespace(app.Namespace).Get(ctx, app.Name, metav1.GetOptions{})
	if err != nil {
		return "", k.wrap("read", app, err)
	}
	return got.GetUID(), nil
}

func (k *Kubernetes) wrapEvent(app App, err error) error {
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("post an Event on Application %s: %w (grant the plugin's service account create on events in namespace %s)", app.Key(), err, app.Namespace)
	}
	return fmt.Errorf("post an Event on Application %s: %w", app.Key(), err)
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
