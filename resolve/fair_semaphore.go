package resolve

import (
	"container/list"
	"context"
	"sync"
)

// fairSemaphore caps the requests in flight to one registry host and
// shares the cap between AppProjects: a project may hold more than half
// of the slots only while no other project waits for one. Waiters are
// served first come, first served among those the rule admits; a slot is
// never taken back, so a project that took more than half while alone
// keeps it until its requests end, and every slot freed from then on goes
// to the others until it is back to half.
//
// The token bucket of the host is shared fairly as a consequence: only a
// request that holds a slot reserves a token.
type fairSemaphore struct {
	size int
	half int // most slots a project holds while another waits

	mu      sync.Mutex
	inUse   int
	held    map[string]int // project -> slots held
	waiting map[string]int // project -> requests queued
	queued  int
	queue   *list.List // of *semWaiter, oldest first

	// onWait, when set, is told each time a request of project starts to
	// wait (tests).
	onWait func(project string)
}

type semWaiter struct {
	project string
	granted chan struct{} // closed, under mu, when the slot is this waiter's
}

func newFairSemaphore(size int) *fairSemaphore {
	size = max(1, size)
	return &fairSemaphore{size: size, half: max(1, size/2), held: map[string]int{}, waiting: map[string]int{}, queue: list.New()}
}

// admits reports whether project may take a free slot now; the caller
// holds mu.
func (s *fairSemaphore) admits(project string) bool {
	if s.inUse >= s.size {
		return false
	}
	othersWait := s.queued-s.waiting[project] > 0
	return s.held[project] < s.half || !othersWait
}

func (s *fairSemaphore) take(project string) {
	s.inUse++
	s.held[project]++
}

// acquire waits for a slot for project, or for ctx to end.
func (s *fairSemaphore) acquire(ctx context.Context, project string) error {
	s.mu.Lock()
	if s.queue.Len() == 0 && s.admits(project) {
		s.take(project)
		s.mu.Unlock()
		return nil
	}
	w := &semWaiter{project: project, granted: make(chan struct{})}
	el := s.queue.PushBack(w)
	s.waiting[project]++
	s.queued++
	s.dispatch()
	onWait := s.onWait
	s.mu.Unlock()
	if onWait != nil {
		onWait(project)
	}

	select {
	case <-w.granted:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-w.granted:
		// Granted while leaving: hand the slot on.
		s.releaseLocked(project)
	default:
		s.queue.Remove(el)
		s.unqueue(project)
		// One waiter fewer may let another project past half.
		s.dispatch()
	}
	return ctx.Err()
}

// release frees a slot of project.
func (s *fairSemaphore) release(project string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseLocked(project)
}

func (s *fairSemaphore) releaseLocked(project string) {
	s.inUse--
	if s.held[project]--; s.held[project] <= 0 {
		delete(s.held, project)
	}
	s.dispatch()
}

func (s *fairSemaphore) unqueue(project string) {
	s.queued--
	if s.waiting[project]--; s.waiting[project] <= 0 {
		delete(s.waiting, project)
	}
}

// dispatch hands free slots to the oldest waiters the rule admits. A
// grant takes a project off the waiting list, which may admit a waiter
// skipped before, so it goes round until nothing changes.
func (s *fairSemaphore) dispatch() {
	for progress := true; progress && s.inUse < s.size; {
		progress = false
		for el := s.queue.Front(); el != nil && s.inUse < s.size; {
			next := el.Next()
			w := el.Value.(*semWaiter)
			if s.admits(w.project) {
				s.queue.Remove(el)
				s.unqueue(w.project)
				s.take(w.project)
				close(w.granted)
				progress = true
			}
			el = next
		}
	}
}

// holding is the slots project holds (tests).
func (s *fairSemaphore) holding(project string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held[project]
}
