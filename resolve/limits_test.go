package resolve

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRetryAfterHonoured(t *testing.T) {
	reg := newTestRegistry(t)
	pushTags(t, reg.host, "acme/web", time.Now(), nil, webTags...)
	r := newTestResolver(t)
	when := r.clock.Now().Add(32 * time.Second).UTC().Format(http.TimeFormat)
	var lists atomic.Int64
	reg.counter.SetFaults(func(op string, _ *http.Request) fault {
		if op != "list" {
			return fault{}
		}
		switch lists.Add(1) {
		case 1:
			return fault{status: http.StatusTooManyRequests, retryAfter: "7"}
		case 2:
			return fault{status: http.StatusTooManyRequests, retryAfter: when}
		}
		return fault{}
	})
	res, err := r.ResolveOne(context.Background(), specFor(t, "web="+reg.host+"/acme/web:~1.6", nil))
	if err != nil || res.Tag != "1.6.3" {
		t.Fatalf("got %+v %v", res, err)
	}
	if got := reg.counter.Count("list"); got != 3 {
		t.Fatalf("%d tag-list calls, want 3 (two 429s, then success)", got)
	}
	waits := r.sleep.Waits()
	// The HTTP date is read against the clock after the first wait of 7s.
	if len(waits) != 2 || waits[0] != 7*time.Second || waits[1] != 25*time.Second {
		t.Fatalf("waits %v, want [7s 25s]", waits)
	}
}

func TestRetryAfterBoundedAndGivesUp(t *testing.T) {
	reg := newTestRegistry(t)
	reg.counter.SetFaults(func(op string, _ *http.Request) fault {
		if op == "list" {
			return fault{status: http.StatusTooManyRequests, retryAfter: "3600"}
		}
		return fault{}
	})
	// A registry timeout long enough for every capped wait.
	r := newTestResolver(t, WithRegistryTimeout(10*time.Minute))
	_, err := r.ResolveOne(context.Background(), specFor(t, "web="+reg.host+"/acme/web", nil))
	if err == nil || !strings.Contains(err.Error(), "429") || !strings.Contains(err.Error(), "rate limiting") {
		t.Fatalf("want a 429 error with a hint, got %v", err)
	}
	waits := r.sleep.Waits()
	if len(waits) != DefaultMaxRetries429 {
		t.Fatalf("waits %v, want %d retries", waits, DefaultMaxRetries429)
	}
	for _, w := range waits {
		if w != DefaultMaxRetryWait {
			t.Fatalf("wait %s not bounded to %s", w, DefaultMaxRetryWait)
		}
	}
	if got := reg.counter.Count("list"); got != DefaultMaxRetries429+1 {
		t.Fatalf("%d tag-list calls", got)
	}
}

func TestRetryAfterRespectsDeadline(t *testing.T) {
	reg := newTestRegistry(t)
	reg.counter.SetFaults(func(op string, _ *http.Request) fault {
		if op == "list" {
			return fault{status: http.StatusTooManyRequests, retryAfter: "20"}
		}
		return fault{}
	})
	// The registry call runs under its own deadline (the registry
	// timeout), which is closer than Retry-After.
	r := newTestResolver(t, WithRegistryTimeout(5*time.Second))
	_, err := r.ResolveOne(context.Background(), specFor(t, "web="+reg.host+"/acme/web", nil))
	if err == nil {
		t.Fatal("want an error")
	}
	if waits := r.sleep.Waits(); len(waits) != 0 {
		t.Fatalf("waited %v although the deadline is closer than Retry-After", waits)
	}
	if got := reg.counter.Count("list"); got != 1 {
		t.Fatalf("%d tag-list calls, want 1", got)
	}
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		header  string
		attempt int
		want    time.Duration
	}{
		{"5", 0, 5 * time.Second},
		{"0", 0, 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 0, 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, 0},
		{"", 0, time.Second},
		{"", 2, 4 * time.Second},
		{"soon", 1, 2 * time.Second},
		{"-3", 0, time.Second},
	}
	for _, tc := range cases {
		if got := retryAfter(tc.header, now, tc.attempt); got != tc.want {
			t.Errorf("retryAfter(%q, attempt %d) = %s, want %s", tc.header, tc.attempt, got, tc.want)
		}
	}
}

func TestTokenBucketObeyed(t *testing.T) {
	reg := newTestRegistry(t)
	conf, err := ParseRegistriesConfig([]byte("registries:\n- prefix: " + reg.host + "\n  limit: 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock()
	s := &sleeper{clock: clock}
	m, _ := newMetrics(nil)
	lt := &limitTransport{base: http.DefaultTransport, conf: conf, maxConcurrency: 8, now: clock.Now, sleep: s.Sleep, metrics: m, log: discardLogger()}
	client := &http.Client{Transport: lt}
	for range 6 {
		resp, err := client.Get(reg.url + "/v2/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	// limit 2/s with a burst of 2: the first two pass, each later one
	// waits half a second.
	waits := s.Waits()
	if len(waits) != 4 {
		t.Fatalf("waits %v, want 4", waits)
	}
	var total time.Duration
	for _, w := range waits {
		total += w
	}
	if total != 2*time.Second {
		t.Fatalf("total wait %s for 6 requests at 2/s with burst 2, want 2s", total)
	}
	if got := reg.counter.Count("ping"); got != 6 {
		t.Fatalf("%d requests reached the registry", got)
	}
}

func TestTokenBucketWaitBeyondDeadlineFails(t *testing.T) {
	reg := newTestRegistry(t)
	conf, err := ParseRegistriesConfig([]byte("registries:\n- prefix: " + reg.host + "\n  limit: 0.01\n"))
	if err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock()
	s := &sleeper{clock: clock}
	m, _ := newMetrics(nil)
	lt := &limitTransport{base: http.DefaultTransport, conf: conf, maxConcurrency: 8, now: clock.Now, sleep: s.Sleep, metrics: m, log: discardLogger()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	do := func() error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, reg.url+"/v2/", nil)
		resp, err := lt.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := do(); err != nil {
		t.Fatal(err)
	}
	err = do()
	var le *LimitError
	if !errors.As(err, &le) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "the plugin's own request limit") {
		t.Fatalf("want the plugin's own limit past the deadline (*LimitError), got %v", err)
	}
	if len(s.Waits()) != 0 || reg.counter.Count("ping") != 1 {
		t.Fatalf("waited %v / sent %d requests", s.Waits(), reg.counter.Count("ping"))
	}
}

func TestConcurrencyCapPerRegistry(t *testing.T) {
	reg := newTestRegistry(t)
	release := make(chan struct{})
	arrived := make(chan struct{}, 32)
	reg.counter.SetFaults(func(op string, r *http.Request) fault {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return fault{}
	})
	m, _ := newMetrics(nil)
	lt := &limitTransport{base: http.DefaultTransport, conf: &RegistriesConfig{}, maxConcurrency: 3, now: time.Now, sleep: sleepContext, metrics: m, log: discardLogger()}
	h, done := lt.forHost(reg.host)
	h.limiter.SetBurst(100)
	done()
	client := &http.Client{Transport: lt}
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get(reg.url + "/v2/")
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		}()
	}
	// Free one held request at a time: with the cap working, the next one
	// arrives only after a release.
	for range 3 {
		<-arrived
	}
	for i := range 10 {
		release <- struct{}{}
		if i < 7 {
			<-arrived
		}
	}
	wg.Wait()
	if got := reg.counter.maxInFlight.Load(); got > 3 {
		t.Fatalf("%d requests in flight at once, cap is 3", got)
	}
	if got := reg.counter.Count("ping"); got != 10 {
		t.Fatalf("%d requests served, want 10", got)
	}
}

func TestOperationNames(t *testing.T) {
	cases := []struct{ method, path, want string }{
		{http.MethodGet, "/v2/", "ping"},
		{http.MethodGet, "/v2/acme/web/tags/list", "list"},
		{http.MethodHead, "/v2/acme/web/manifests/1.0", "head"},
		{http.MethodGet, "/v2/acme/web/manifests/sha256:abc", "manifest"},
		{http.MethodGet, "/v2/acme/web/blobs/sha256:abc", "blob"},
		{http.MethodGet, "/token", "token"},
	}
	for _, tc := range cases {
		req, _ := http.NewRequest(tc.method, "http://r.example"+tc.path, nil)
		if got := operation(req); got != tc.want {
			t.Errorf("%s %s = %s, want %s", tc.method, tc.path, got, tc.want)
		}
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
