package cmp

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// slots are the server's render slots, shared fairly between AppProjects:
// while an Application of another project waits, one project holds at most
// half of them (at least one). A render takes its slot before its
// repository touches the disk and gives it back once its work directory
// is gone.
type slots struct {
	size  int
	share int

	mu      sync.Mutex
	held    map[string]int
	total   int
	waiting []*slotWaiter // in arrival order
}

type slotWaiter struct {
	project string
	granted chan struct{}
}

func newSlots(n int) *slots {
	return &slots{size: n, share: max(1, n/2), held: map[string]int{}}
}

// mayTake reports whether project may take a free slot now: a project
// under its share always may; over it, only when no other project waits.
func (s *slots) mayTake(project string) bool {
	if s.total >= s.size {
		return false
	}
	if s.held[project] < s.share {
		return true
	}
	for _, w := range s.waiting {
		if w.project != project {
			return false
		}
	}
	return true
}

// acquire takes a slot for project, waiting at most until ctx is done.
func (s *slots) acquire(ctx context.Context, project string) (func(), error) {
	s.mu.Lock()
	if len(s.waiting) == 0 && s.mayTake(project) {
		s.take(project)
		s.mu.Unlock()
		return s.releaser(project), nil
	}
	w := &slotWaiter{project: project, granted: make(chan struct{})}
	s.waiting = append(s.waiting, w)
	s.grant()
	s.mu.Unlock()
	select {
	case <-w.granted:
		return s.releaser(project), nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-w.granted:
		// Granted as ctx ended: the slot goes back.
		s.put(project)
	default:
		s.remove(w)
		s.grant() // a project held back for this waiter may go now
	}
	held := s.held[project]
	if held >= s.share && s.total < s.size {
		return nil, fmt.Errorf("%w for project %q until the deadline: it holds %d of the %d slots (parallelism), the most one project may hold while others wait: %w",
			errBusy, project, held, s.size, ctx.Err())
	}
	return nil, fmt.Errorf("%w (parallelism %d) until the deadline: %w", errBusy, s.size, ctx.Err())
}

func (s *slots) take(project string) {
	s.held[project]++
	s.total++
}

func (s *slots) put(project string) {
	s.held[project]--
	if s.held[project] == 0 {
		delete(s.held, project)
	}
	s.total--
	s.grant()
}

func (s *slots) releaser(project string) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.put(project)
		})
	}
}

// grant gives free slots to waiters in arrival order, skipping those whose
// project is at its share while another project waits.
func (s *slots) grant() {
	for s.total < s.size {
		i := slices.IndexFunc(s.waiting, func(w *slotWaiter) bool { return s.mayTake(w.project) })
		if i < 0 {
			return
		}
		w := s.waiting[i]
		s.waiting = slices.Delete(s.waiting, i, i+1)
		s.take(w.project)
		close(w.granted)
	}
}

func (s *slots) remove(w *slotWaiter) {
	if i := slices.Index(s.waiting, w); i >= 0 {
		s.waiting = slices.Delete(s.waiting, i, i+1)
	}
}
