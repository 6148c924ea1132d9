package resolve

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestFairShareBetweenProjects: through a registry on loopback that holds
// every request until the test lets it go, one project that filled the
// registry's four slots while alone keeps them, but every slot freed while
// another project waits goes to that project until both hold half, even
// though the first project's extra requests were waiting first.
func TestFairShareBetweenProjects(t *testing.T) {
	reg := newTestRegistry(t)
	arrived := make(chan string, 16)
	release := make(chan struct{})
	var once sync.Once
	freeAll := func() { once.Do(func() { close(release) }) }
	t.Cleanup(freeAll) // a failed test lets the held requests go
	reg.counter.SetFaults(func(_ string, r *http.Request) fault {
		arrived <- r.Header.Get("X-Project")
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return fault{}
	})
	clock := newFakeClock()
	m, _ := newMetrics(nil)
	lt := &limitTransport{base: http.DefaultTransport, conf: &RegistriesConfig{}, maxConcurrency: 4,
		now: clock.Now, sleep: (&sleeper{clock: clock}).Sleep, metrics: m, log: discardLogger()}
	h, done := lt.forHost(reg.host)
	defer done()
	waiting := make(chan string, 16)
	h.sem.onWait = func(project string) { waiting <- project }

	var wg sync.WaitGroup
	send := func(project string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(withProject(context.Background(), project), http.MethodGet, reg.url+"/v2/", nil)
			req.Header.Set("X-Project", project)
			resp, err := lt.RoundTrip(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		}()
	}
	expect := func(ch <-chan string, what, want string) {
		t.Helper()
		select {
		case got := <-ch:
			if got != want {
				t.Fatalf("%s: %s, want %s", what, got, want)
			}
		case <-time.After(time.Minute):
			t.Fatalf("%s: nothing within a minute, want %s", what, want)
		}
	}

	for range 6 {
		send("team-a")
	}
	for range 4 {
		expect(arrived, "alone, a project may use every slot", "team-a")
	}
	for range 2 {
		expect(waiting, "past the slots", "team-a")
	}
	for range 2 {
		send("team-b")
	}
	for range 2 {
		expect(waiting, "the other project", "team-b")
	}
	// team-a holds 4 of 4 and queued first; the next two slots go to
	// team-b all the same.
	for range 2 {
		release <- struct{}{}
		expect(arrived, "a slot freed while team-b waits", "team-b")
	}
	// Nobody of team-b waits any more: team-a takes the next slot.
	release <- struct{}{}
	expect(arrived, "a slot freed with only team-a waiting", "team-a")
	freeAll()
	wg.Wait()
	if got := reg.counter.maxInFlight.Load(); got > 4 {
		t.Fatalf("%d requests in flight at once, cap is 4", got)
	}
}

// TestFairSemaphoreWaiterThatLeaves: a waiter whose context ends leaves
// the queue, takes no slot, and lets the next project's waiter past half.
func TestFairSemaphoreWaiterThatLeaves(t *testing.T) {
	s := newFairSemaphore(2)
	bg := context.Background()
	for range 2 {
		if err := s.acquire(bg, "team-a"); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(bg)
	left := make(chan error, 1)
	queued := make(chan string, 4)
	s.onWait = func(p string) { queued <- p }
	go func() { left <- s.acquire(ctx, "team-b") }()
	<-queued
	cancel()
	if err := <-left; !errors.Is(err, context.Canceled) {
		t.Fatalf("leaving waiter: %v", err)
	}
	s.release("team-a")
	s.release("team-a")
	// Both slots are free again and nobody waits: one project may take
	// both.
	for range 2 {
		ctx, cancel := context.WithTimeout(bg, time.Minute)
		err := s.acquire(ctx, "team-c")
		cancel()
		if err != nil {
			t.Fatalf("a slot was lost to the waiter that left: %v", err)
		}
	}
	if got := s.holding("team-c"); got != 2 {
		t.Fatalf("team-c holds %d", got)
	}
}

// TestProjectReachesRegistryRequests: the project of a spec is the
// project its registry requests are counted for.
func TestProjectReachesRegistryRequests(t *testing.T) {
	reg := newTestRegistry(t)
	pushTags(t, reg.host, "acme/web", time.Now(), nil, "1.0.0")
	entered := make(chan struct{})
	release := make(chan struct{})
	reg.counter.SetFaults(func(op string, _ *http.Request) fault {
		if op == "list" {
			close(entered)
			<-release
		}
		return fault{}
	})
	r := newTestResolver(t)
	spec := specFor(t, "web="+reg.host+"/acme/web", nil)
	spec.Project = "team-a"
	done := make(chan error, 1)
	go func() {
		_, err := r.ResolveOne(context.Background(), spec)
		done <- err
	}()
	<-entered
	h, free := r.client.transports.limits.(*limitTransport).forHost(reg.host)
	held := h.sem.holding("team-a")
	free()
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if held != 1 {
		t.Fatalf("the tag list request held %d slots of team-a, want 1", held)
	}
}
