package refresh

import (
	"context"
	"sync"
	"time"

	"k8s.io/client-go/util/workqueue"

	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
)

// Queue lanes. A wake gets a lane per repository, so that the Applications
// of one busy image do not hold back those of another.
const (
	lanePass    = "pass"
	laneStartup = "startup"
	laneWake    = "wake "
)

// work is one Application waiting for a hard refresh and why.
type work struct {
	app     App
	reason  string
	fresh   []resolve.Result // ReasonChanged: what the check resolved
	changes []Change
}

// waiting is the queue's record of one Application while it waits.
type waiting struct {
	lane  string
	since time.Time
	work  work
}

// triggerQueue holds the Applications waiting for a hard refresh. An
// Application waits at most once: adding it again while it waits only
// updates what it waits with. Each source of triggers (the periodic pass,
// the start-up sweep, the wakes of one repository) has its own lane, a
// client-go work queue, and lanes are served round-robin: a push to one
// repository goes out at the next free slot even while thousands of
// Applications of another wait.
type triggerQueue struct {
	now func() time.Time

	mu    sync.Mutex
	lanes map[string]workqueue.TypedInterface[string]
	order []string // round-robin order of the lanes
	next  int      // index in order of the lane served next
	items map[string]*waiting
	// busy holds the Applications taken and not done yet, each with the
	// work added for it meanwhile (nil: none), queued again by done: one
	// Application is never refreshed by two workers at once.
	busy  map[string]*waiting
	added chan struct{} // cap 1: something was added
}

func newTriggerQueue(now func() time.Time) *triggerQueue {
	return &triggerQueue{
		now:   now,
		lanes: map[string]workqueue.TypedInterface[string]{},
		items: map[string]*waiting{},
		busy:  map[string]*waiting{},
		added: make(chan struct{}, 1),
	}
}

// add queues w in lane and reports whether it was new; an Application
// already waiting keeps its place and gets w's payload, and one being
// refreshed waits again once it is done.
func (q *triggerQueue) add(lane string, w work) bool {
	key := w.app.Key()
	q.mu.Lock()
	defer q.mu.Unlock()
	if it, ok := q.items[key]; ok {
		it.work = w
		return false
	}
	if _, ok := q.busy[key]; ok {
		q.busy[key] = &waiting{lane: lane, since: q.now(), work: w}
		return false
	}
	q.push(key, &waiting{lane: lane, since: q.now(), work: w})
	return true
}

func (q *triggerQueue) push(key string, it *waiting) {
	l, ok := q.lanes[it.lane]
	if !ok {
		l = workqueue.NewTyped[string]()
		q.lanes[it.lane] = l
		q.order = append(q.order, it.lane)
	}
	q.items[key] = it
	l.Add(key)
	select {
	case q.added <- struct{}{}:
	default:
	}
}

// done marks an Application taken by tryGet or get as refreshed, and
// queues what was added for it meanwhile.
func (q *triggerQueue) done(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	again := q.busy[key]
	delete(q.busy, key)
	if again != nil {
		q.push(key, again)
	}
}

// tryGet takes the next Application round-robin across lanes, or reports
// false when none waits. The caller calls done with its key afterwards.
func (q *triggerQueue) tryGet() (work, time.Duration, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.order) > 0 {
		if q.next >= len(q.order) {
			q.next = 0
		}
		name := q.order[q.next]
		l := q.lanes[name]
		if l.Len() == 0 {
			q.dropLane(q.next)
			continue
		}
		// This lock makes us the only consumer, so Get does not block.
		key, _ := l.Get()
		l.Done(key)
		if l.Len() == 0 {
			q.dropLane(q.next)
		} else {
			q.next++
		}
		it := q.items[key]
		delete(q.items, key)
		q.busy[key] = nil
		return it.work, q.now().Sub(it.since), true
	}
	return work{}, 0, false
}

func (q *triggerQueue) dropLane(i int) {
	name := q.order[i]
	q.lanes[name].ShutDown()
	delete(q.lanes, name)
	q.order = append(q.order[:i], q.order[i+1:]...)
}

// get waits for the next Application until ctx ends.
func (q *triggerQueue) get(ctx context.Context) (work, time.Duration, bool) {
	for {
		if w, waited, ok := q.tryGet(); ok {
			// One signal is kept per burst of adds while several workers
			// may wait: pass it on in case more Applications wait.
			q.wake()
			return w, waited, true
		}
		select {
		case <-ctx.Done():
			return work{}, 0, false
		case <-q.added:
		}
	}
}

// wake lets one waiter in get look again.
func (q *triggerQueue) wake() {
	select {
	case q.added <- struct{}{}:
	default:
	}
}

// stats returns the number of waiting Applications and how long the
// oldest has waited.
func (q *triggerQueue) stats() (int, time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var oldest time.Duration
	now := q.now()
	for _, it := range q.items {
		oldest = max(oldest, now.Sub(it.since))
	}
	return len(q.items), oldest
}

// clear drops everything waiting (leadership was lost: the next leader
// checks again).
func (q *triggerQueue) clear() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, l := range q.lanes {
		l.ShutDown()
	}
	q.lanes = map[string]workqueue.TypedInterface[string]{}
	q.order, q.next = nil, 0
	q.items = map[string]*waiting{}
	q.busy = map[string]*waiting{}
}
