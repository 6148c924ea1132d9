package refresh

import (
	"context"
	"time"
)

// Kubernetes Event reasons of history entries (type Normal).
const (
	EventReasonResolved = "ImageResolved"
	EventReasonHeldBack = "ImageHeldBack"
)

// EventReason is the Kubernetes Event reason of a history entry.
func EventReason(e HistoryEntry) string {
	if e.Kind == HistoryHeldBack {
		return EventReasonHeldBack
	}
	return EventReasonResolved
}

// EventPoster announces history entries on their Application, as
// Kubernetes Events (*Kubernetes implements it). The Argo CD API backend
// has no Kubernetes client and no poster: with it the history is kept in
// the store and shown by /debug/apps, and no Event is posted.
type EventPoster interface {
	PostEvents(ctx context.Context, app App, entries []HistoryEntry) error
}

// Bounds of posting Events, which happens beside the render path.
const (
	// eventSlots is how many Applications' Events are posted at once;
	// more are dropped (and logged): the history keeps them.
	eventSlots = 8
	// eventTimeout bounds posting one Application's Events.
	eventTimeout = 30 * time.Second
)

// WithEvents posts every history entry this tracker writes as a Kubernetes
// Event on the Application, through p (the Kubernetes refresh backend).
// Only the replica that writes an entry posts it, so an Event is posted
// once however many replicas render the Application. Events are posted in
// the background, never on the render path; WaitEvents waits for them.
// Without it (the Argo CD API backend, or none) there are no Events, only
// the history.
func WithEvents(p EventPoster) TrackerOption {
	return func(t *Tracker) { t.events = p }
}

// postEvents posts the entries in the background, unless eventSlots posts
// are in flight already.
func (t *Tracker) postEvents(app App, entries []HistoryEntry) {
	if t.events == nil || len(entries) == 0 {
		return
	}
	select {
	case t.eventSlots <- struct{}{}:
	default:
		t.log.Warn("Kubernetes Events of an Application dropped: too many being posted; the history keeps them", "app", app.Key(), "entries", len(entries))
		return
	}
	t.eventsWG.Add(1)
	go func() {
		defer func() {
			<-t.eventSlots
			t.eventsWG.Done()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
		defer cancel()
		if err := t.events.PostEvents(ctx, app, entries); err != nil {
			t.log.Warn("posting Kubernetes Events of an image change failed; the history keeps it", "app", app.Key(), "error", err)
		}
	}()
}

// WaitEvents waits until the Events being posted are posted (tests, and
// shutdown).
func (t *Tracker) WaitEvents() { t.eventsWG.Wait() }
