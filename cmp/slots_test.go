package cmp

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestSlotsAreSharedBetweenProjects: one project may fill the slots while
// nobody else waits, but a waiting project gets the next free slot, ahead
// of the busy project's own waiters, until the busy one is down to half.
func TestSlotsAreSharedBetweenProjects(t *testing.T) {
	s := newSlots(4)
	ctx := context.Background()
	var aReleases []func()
	for range 4 {
		release, err := s.acquire(ctx, "team-a")
		if err != nil {
			t.Fatal(err)
		}
		aReleases = append(aReleases, release)
	}
	// team-a waits first, team-b second.
	type grant struct {
		project string
		release func()
	}
	granted := make(chan grant, 4)
	wait := func(project string) {
		go func() {
			release, err := s.acquire(ctx, project)
			if err != nil {
				t.Error(err)
				return
			}
			granted <- grant{project, release}
		}()
	}
	wait("team-a")
	waitFor(t, func() bool { s.mu.Lock(); defer s.mu.Unlock(); return len(s.waiting) == 1 })
	wait("team-b")
	waitFor(t, func() bool { s.mu.Lock(); defer s.mu.Unlock(); return len(s.waiting) == 2 })

	aReleases[0]()
	if g := <-granted; g.project != "team-b" {
		t.Fatalf("the free slot went to %s, want team-b (team-a holds 3 of 4)", g.project)
	} else {
		defer g.release()
	}
	aReleases[1]() // team-a holds 2: its share, and nobody else waits
	if g := <-granted; g.project != "team-a" {
		t.Fatalf("the free slot went to %s, want team-a's waiter", g.project)
	} else {
		g.release()
	}
	aReleases[2]()
	aReleases[3]()
}

// TestSlotWaitEndsWithTheDeadline: a waiter over its project's share that
// gives up says why, and the slots stay consistent.
func TestSlotWaitEndsWithTheDeadline(t *testing.T) {
	s := newSlots(2)
	a1, _ := s.acquire(context.Background(), "team-a")
	b1, _ := s.acquire(context.Background(), "team-b")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := s.acquire(ctx, "team-a")
	if !errors.Is(err, errBusy) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "parallelism 2") {
		t.Fatalf("err = %v", err)
	}
	a1()
	b1()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.total != 0 || len(s.held) != 0 || len(s.waiting) != 0 {
		t.Fatalf("slots after everything was given back: total %d held %v waiting %d", s.total, s.held, len(s.waiting))
	}
}

// waitFor polls cond (state another goroutine reaches) until it holds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}
