package refresh_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/argocd-image-resolver/argocd-image-resolver/refresh"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
)

// TestRefresherTriggersWhenHeldBackImageComesOfAge: a tag held back by
// min-age rolls out when it comes of age, without a push or webhook; the
// refresher knows when that is.
func TestRefresherTriggersWhenHeldBackImageComesOfAge(t *testing.T) {
	f := newRefresherFixture(t)
	ctx := context.Background()
	// An image built a month before the fixture's clock.
	registrytest.Push(t, f.reg.Host()+"/acme/api:1.0.0", registrytest.Created(f.clock.Now().Add(-30*24*time.Hour)))
	specs, err := resolve.ParseSpecs([]string{"web=" + f.reg.Host() + "/acme/api:^1.0"}, map[string]string{"web.min-age": "2h"})
	if err != nil {
		t.Fatal(err)
	}
	f.spec = specs[0]
	f.render(t) // 1.0.0 is part of the baseline and old: rendered.

	f.clock.Advance(interval)
	f.reg.Push(t, "acme/api:1.1.0")
	pushed := f.clock.Now()
	f.clock.Advance(interval)
	if got := f.r.RunOnce(ctx); len(got) != 0 {
		t.Fatalf("1.1.0 is too young, yet attempts: %+v", got)
	}
	// First seen by the pass above, one interval after the push.
	want := pushed.Add(interval).Add(2 * time.Hour)
	if got := f.r.ComingOfAge(); !got.Equal(want) {
		t.Fatalf("ComingOfAge = %v, want %v", got, want)
	}

	f.clock.Advance(2*time.Hour - time.Second)
	if got := f.r.RunOnce(ctx); len(got) != 0 {
		t.Fatalf("a second before it comes of age: %+v", got)
	}
	f.clock.Advance(time.Second)
	got := f.r.RunOnce(ctx)
	if !reflect.DeepEqual(results(got), []string{refresh.ResultTriggered}) {
		t.Fatalf("when 1.1.0 comes of age: %+v", got)
	}
	if c := got[0].Changes; len(c) != 1 || c[0].From != "1.0.0" || c[0].To != "1.1.0" {
		t.Fatalf("changes %+v", c)
	}
}
