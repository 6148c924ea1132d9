package resolve

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/argocd-image-resolver/argocd-image-resolver/store"
)

// TestMinAgeFirstSeen walks min-age from first sight: a baseline that does
// not freeze old images, a young image held back until it comes of age,
// a backdated image pushed later held back all the same, and a result
// that is fresh only until the next candidate comes of age.
func TestMinAgeFirstSeen(t *testing.T) {
	reg := newTestRegistry(t)
	// A long cache TTL: only the min-age cap can expire the result.
	r := newTestResolver(t, WithCacheTTL(48*time.Hour))
	t0 := r.clock.Now()
	day := 24 * time.Hour
	old := pushTags(t, reg.host, "acme/web", t0.Add(-30*day), nil, "1.0.0")
	young := pushTags(t, reg.host, "acme/web", t0.Add(-time.Minute), nil, "1.1.0")
	spec := specFor(t, "web="+reg.host+"/acme/web", map[string]string{"web.min-age": "24h"})
	ctx := context.Background()

	res, err := r.ResolveOne(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if res.Tag != "1.0.0" || res.Digest != old["1.0.0"] {
		t.Fatalf("baseline: got %s, want the old 1.0.0", res.Tag)
	}
	if len(res.HeldBack) != 1 || res.HeldBack[0].Tag != "1.1.0" || res.HeldBack[0].Digest != young["1.1.0"] ||
		res.HeldBack[0].Reason != "first seen 0s ago; min-age 24h" || !res.HeldBack[0].EligibleAt.Equal(t0.Add(day)) {
		t.Fatalf("held back %+v, want 1.1.0 first seen now, eligible in 24h", res.HeldBack)
	}
	if len(res.Gates) != 1 || res.Gates[0] != "min-age 24h" || res.Rule != `semver "*"` && !strings.HasPrefix(res.Rule, "semver") {
		t.Fatalf("gates %v rule %q", res.Gates, res.Rule)
	}

	// An image pushed an hour later with a backdated created time is not
	// part of the baseline: it waits a full min-age from first sight.
	r.clock.Advance(time.Hour)
	pushTags(t, reg.host, "acme/web", t0.Add(-40*day), nil, "1.2.0")
	r.Invalidate(reg.host + "/acme/web")
	res, err = r.ResolveOne(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if res.Tag != "1.0.0" || len(res.HeldBack) != 2 || res.HeldBack[0].Tag != "1.2.0" || res.HeldBack[0].Reason != "first seen 0s ago; min-age 24h" {
		t.Fatalf("backdated push: got %s held %+v", res.Tag, res.HeldBack)
	}
	if got := res.NextEligible(); !got.Equal(t0.Add(day)) {
		t.Fatalf("NextEligible = %v, want %v", got, t0.Add(day))
	}

	// 1.1.0 comes of age; the cached result expires right then.
	r.clock.Advance(23 * time.Hour)
	res, err = r.ResolveOne(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if res.Tag != "1.1.0" || len(res.HeldBack) != 1 || res.HeldBack[0].Tag != "1.2.0" || res.HeldBack[0].Reason != "first seen 23h ago; min-age 24h" {
		t.Fatalf("at t0+24h: got %s (%s) held %+v, want 1.1.0 with 1.2.0 waiting", res.Tag, res.Source, res.HeldBack)
	}
	r.clock.Advance(time.Hour)
	if res, err = r.ResolveOne(ctx, spec); err != nil || res.Tag != "1.2.0" || len(res.HeldBack) != 0 {
		t.Fatalf("at t0+25h: got %s %v held %+v, want 1.2.0", res.Tag, err, res.HeldBack)
	}
}

// TestMinAgeAfterStoreLoss: a store emptied by a restart (Argo CD's Redis
// keeps nothing on disk) makes a new baseline, which must not release an
// image pushed a minute before.
func TestMinAgeAfterStoreLoss(t *testing.T) {
	reg := newTestRegistry(t)
	first := newTestResolver(t)
	t0 := first.clock.Now()
	pushTags(t, reg.host, "acme/web", t0.Add(-30*24*time.Hour), nil, "1.0.0")
	spec := specFor(t, "web="+reg.host+"/acme/web", map[string]string{"web.min-age": "2h"})
	if res, err := first.ResolveOne(context.Background(), spec); err != nil || res.Tag != "1.0.0" {
		t.Fatalf("got %s %v", res.Tag, err)
	}
	pushTags(t, reg.host, "acme/web", t0.Add(-time.Minute), nil, "1.1.0")

	restarted := newTestResolver(t, WithStore(store.NewMemory()))
	res, err := restarted.ResolveOne(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if res.Tag != "1.0.0" || len(res.HeldBack) != 1 || res.HeldBack[0].Tag != "1.1.0" {
		t.Fatalf("after the store was emptied: got %s held %+v, want 1.1.0 still held back", res.Tag, res.HeldBack)
	}
}

func TestMinAgeRules(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		name     string
		conf     string
		options  map[string]string
		wantTag  string
		wantHeld string
	}{
		{
			name:     "created source reads the image's created time",
			options:  map[string]string{"web.min-age": "24h", "web.min-age-source": "created"},
			wantTag:  "1.0.0",
			wantHeld: "created 2h ago; min-age 24h",
		},
		{
			name:    "created source accepts an old enough image",
			options: map[string]string{"web.min-age": "1h", "web.min-age-source": "created"},
			wantTag: "1.1.0",
		},
		{
			name:     "registries.conf default",
			conf:     "registries:\n- prefix: %s\n  min-age: 1d\n",
			wantTag:  "1.0.0",
			wantHeld: "first seen 0s ago; min-age 24h",
		},
		{
			name:    "the spec turns the default off",
			conf:    "registries:\n- prefix: %s\n  min-age: 1d\n",
			options: map[string]string{"web.min-age": "0"},
			wantTag: "1.1.0",
		},
		{
			name:    "no min-age",
			wantTag: "1.1.0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := newTestRegistry(t)
			var opts []Option
			if tt.conf != "" {
				conf, err := ParseRegistriesConfig([]byte(strings.ReplaceAll(tt.conf, "%s", reg.host)))
				if err != nil {
					t.Fatal(err)
				}
				opts = append(opts, WithRegistriesConfig(conf))
			}
			r := newTestResolver(t, opts...)
			now := r.clock.Now()
			pushTags(t, reg.host, "acme/web", now.Add(-30*day), nil, "1.0.0")
			pushTags(t, reg.host, "acme/web", now.Add(-2*time.Hour), nil, "1.1.0")
			// Both are part of the baseline; 1.1.0 is too young by its
			// created time in the first-seen cases too.
			res, err := r.ResolveOne(context.Background(), specFor(t, "web="+reg.host+"/acme/web", tt.options))
			if err != nil {
				t.Fatal(err)
			}
			if res.Tag != tt.wantTag {
				t.Fatalf("got %s, want %s (held %+v)", res.Tag, tt.wantTag, res.HeldBack)
			}
			if tt.wantHeld == "" {
				if len(res.HeldBack) != 0 {
					t.Fatalf("held %+v, want none", res.HeldBack)
				}
				return
			}
			if len(res.HeldBack) != 1 || res.HeldBack[0].Reason != tt.wantHeld || res.HeldBack[0].Gate != GateMinAge {
				t.Fatalf("held %+v, want %q", res.HeldBack, tt.wantHeld)
			}
		})
	}
}

// TestMinAgeExplains: explanations give the held-back tag its reason, and
// a registry outcome where every tag is too young names the gate.
func TestMinAgeExplains(t *testing.T) {
	reg := newTestRegistry(t)
	r := newTestResolver(t)
	pushTags(t, reg.host, "acme/web", r.clock.Now(), nil, "1.0.0", "1.1.0")
	// Not part of the baseline's old images: both were created now.
	spec := specFor(t, "web="+reg.host+"/acme/web", map[string]string{"web.min-age": "1h"})
	ex, err := r.Explain(context.Background(), spec)
	var nm *NoMatchError
	if !errors.As(err, &nm) || !strings.Contains(err.Error(), "2 held back by min-age") {
		t.Fatalf("err = %v, want no match counting 2 held back by min-age", err)
	}
	if len(ex.Candidates) != 2 || ex.Candidates[0].Tag != "1.1.0" || ex.Candidates[0].Reason != "first seen 0s ago; min-age 1h; eligible at 2025-06-01T13:00:00Z" {
		t.Fatalf("candidates %+v", ex.Candidates)
	}
}

// TestMinAgeRepushedBaselineTag: the baseline holds a tag at the digest
// it had; a new digest pushed to that tag later, with a backdated created
// time (reproducible builds write 1970), waits the full min-age.
func TestMinAgeRepushedBaselineTag(t *testing.T) {
	reg := newTestRegistry(t)
	r := newTestResolver(t)
	t0 := r.clock.Now()
	pushTags(t, reg.host, "acme/web", t0.Add(-30*24*time.Hour), nil, "0.9.0", "1.0.0")
	spec := specFor(t, "web="+reg.host+"/acme/web", map[string]string{"web.min-age": "24h"})
	if res, err := r.ResolveOne(context.Background(), spec); err != nil || res.Tag != "1.0.0" {
		t.Fatalf("baseline: %s %v", res.Tag, err)
	}
	r.clock.Advance(time.Hour)
	repushed := pushTags(t, reg.host, "acme/web", time.Unix(0, 0), nil, "1.0.0")
	r.Invalidate(reg.host + "/acme/web")
	res, err := r.ResolveOne(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if res.Tag != "0.9.0" || len(res.HeldBack) != 1 || res.HeldBack[0].Digest != repushed["1.0.0"] {
		t.Fatalf("re-pushed 1.0.0: got %s held %+v, want 0.9.0 with the new 1.0.0 held back", res.Tag, res.HeldBack)
	}
}

// TestMinAgeSameOnEveryReplica: replicas sharing Argo CD's Redis share the
// baseline and the first-seen times, so a replica that starts later
// renders what the first one renders and releases a tag at the same time.
func TestMinAgeSameOnEveryReplica(t *testing.T) {
	reg := newTestRegistry(t)
	_, client := sharedRedis(t)
	a := replica(t, client)
	t0 := a.clock.Now()
	pushTags(t, reg.host, "acme/web", t0.Add(-30*24*time.Hour), nil, "1.0.0")
	pushTags(t, reg.host, "acme/web", t0.Add(-time.Minute), nil, "1.1.0")
	spec := specFor(t, "web="+reg.host+"/acme/web", map[string]string{"web.min-age": "24h"})
	ctx := context.Background()
	if res, err := a.ResolveOne(ctx, spec); err != nil || res.Tag != "1.0.0" {
		t.Fatalf("replica a: %s %v", res.Tag, err)
	}

	// A backdated image pushed later, seen first by a replica started
	// later: not part of the baseline replica a took.
	pushTags(t, reg.host, "acme/web", t0.Add(-40*24*time.Hour), nil, "1.2.0")
	b := replica(t, client)
	for _, r := range []*testResolver{a, b} {
		r.clock.Advance(time.Hour)
	}
	a.Invalidate(reg.host + "/acme/web")
	for name, r := range map[string]*testResolver{"a": a, "b": b} {
		res, err := r.ResolveOne(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		held := map[string]string{}
		for _, h := range res.HeldBack {
			held[h.Tag] = h.Reason
		}
		if res.Tag != "1.0.0" || held["1.1.0"] != "first seen 1h ago; min-age 24h" || held["1.2.0"] == "" {
			t.Fatalf("replica %s: %s held %v, want 1.0.0 with 1.1.0 first seen 1h ago and 1.2.0 held", name, res.Tag, held)
		}
	}
	for _, r := range []*testResolver{a, b} {
		r.clock.Advance(23 * time.Hour)
	}
	for name, r := range map[string]*testResolver{"a": a, "b": b} {
		if res, err := r.ResolveOne(ctx, spec); err != nil || res.Tag != "1.1.0" {
			t.Fatalf("replica %s at t0+24h: %s %v, want 1.1.0", name, res.Tag, err)
		}
	}
}
