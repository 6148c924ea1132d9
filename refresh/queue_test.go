package refresh

import (
	"reflect"
	"testing"
	"time"
)

func TestTriggerQueueIsFairAcrossLanesAndDeduplicated(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	q := newTriggerQueue(func() time.Time { return now })
	add := func(lane, name, reason string) bool {
		return q.add(lane, work{app: App{Namespace: "argocd", Name: name}, reason: reason})
	}
	for _, n := range []string{"s1", "s2", "s3", "s4"} {
		if !add(laneWake+"storm", n, ReasonChanged) {
			t.Fatalf("%s: new app not added", n)
		}
	}
	now = now.Add(time.Second)
	add(laneWake+"other", "o1", ReasonChanged)
	add(lanePass, "p1", ReasonChanged)
	// Already waiting (in another lane): keeps its place, takes the payload.
	if add(lanePass, "s3", ReasonStartup) {
		t.Fatal("an app already waiting was added twice")
	}
	if n, oldest := q.stats(); n != 6 || oldest != time.Second {
		t.Fatalf("stats = %d, %v; want 6 waiting, oldest 1s", n, oldest)
	}

	var got []string
	for {
		w, _, ok := q.tryGet()
		if !ok {
			break
		}
		got = append(got, w.app.Name)
		if w.app.Name == "s3" && w.reason != ReasonStartup {
			t.Errorf("s3 kept its first payload")
		}
		q.done(w.app.Key())
	}
	want := []string{"s1", "o1", "p1", "s2", "s3", "s4"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("order = %v, want %v (lanes take turns)", got, want)
	}
	if n, _ := q.stats(); n != 0 || len(q.lanes) != 0 {
		t.Fatalf("after draining: %d waiting, %d lanes", n, len(q.lanes))
	}
	// Done apps may be queued again.
	if !add(lanePass, "s1", ReasonChanged) {
		t.Fatal("a done app could not be queued again")
	}
	// While an app is being refreshed, a new check waits for it to be
	// done: no two workers refresh one app at once.
	w, _, _ := q.tryGet()
	if add(laneWake+"web", "s1", ReasonChanged) {
		t.Fatal("an app being refreshed was queued beside itself")
	}
	if _, _, ok := q.tryGet(); ok {
		t.Fatal("an app being refreshed was handed out again")
	}
	q.done(w.app.Key())
	if again, _, ok := q.tryGet(); !ok || again.app.Name != "s1" {
		t.Fatalf("the work added while s1 was refreshed was lost: %+v %v", again, ok)
	}
	q.clear()
	if _, _, ok := q.tryGet(); ok {
		t.Fatal("clear left work behind")
	}
}
