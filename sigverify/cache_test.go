package sigverify

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/argocd-image-resolver/argocd-image-resolver/store"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/signtest"
)

// TestCache: a second Verify of the same digest asks the registry nothing,
// for verified and not-verified verdicts alike; verdicts expire with their
// TTL; another policy or another repository is checked anew.
func TestCache(t *testing.T) {
	reg := newTestRegistry(t)
	key := signtest.NewKey(t)
	now := time.Now()
	clock := func() time.Time { return now }
	mem := store.NewMemory(store.WithClock(clock))
	v := newVerifier(t, []Option{WithStore(mem), WithClock(clock), WithCacheTTL(time.Hour, time.Minute)}, key.Policy("ci-key"), key.Policy("ci-key-2"))
	signed := reg.pushImage(t, "acme/web")
	key.SignTag(t, signed)
	unsigned := reg.pushImage(t, "acme/api")
	ctx := context.Background()

	verify := func(policy string, want bool) {
		t.Helper()
		r, err := v.Verify(ctx, policy, signedOr(signed, unsigned, want))
		if err != nil || r.Verified != want {
			t.Fatalf("Verify(%s) = %+v, %v; want verified %v", policy, r, err, want)
		}
	}
	for _, want := range []bool{true, false} {
		before := reg.requests.Load()
		verify("ci-key", want)
		if reg.requests.Load() == before {
			t.Fatalf("verified=%v: the first Verify made no registry request", want)
		}
		first := reg.requests.Load()
		verify("ci-key", want)
		if got := reg.requests.Load(); got != first {
			t.Fatalf("verified=%v: the second Verify made %d registry requests", want, got-first)
		}
	}
	keys, err := mem.Keys(ctx, cachePrefix)
	if err != nil || len(keys) != 2 {
		t.Fatalf("cached keys %v, %v", keys, err)
	}
	for _, k := range keys {
		if !strings.Contains(k, "@sha256:") || !strings.Contains(k, reg.host+"/acme/") {
			t.Errorf("cache key %q does not name repository and digest", k)
		}
	}

	// Another policy is another verdict.
	before := reg.requests.Load()
	verify("ci-key-2", true)
	if reg.requests.Load() == before {
		t.Fatal("a verdict of policy ci-key answered for ci-key-2")
	}

	// The negative verdict expires first (a signature pushed after the
	// image counts soon), the positive one later.
	now = now.Add(2 * time.Minute)
	before = reg.requests.Load()
	verify("ci-key", true)
	if reg.requests.Load() != before {
		t.Fatal("the verified verdict expired with the short TTL")
	}
	verify("ci-key", false)
	if reg.requests.Load() == before {
		t.Fatal("the not-verified verdict outlived its TTL")
	}
}

func signedOr(signed, unsigned name.Digest, want bool) name.Digest {
	if want {
		return signed
	}
	return unsigned
}

// TestCacheFingerprint: a verdict is keyed by the policy's content: the
// same name with another key file is checked anew through a shared store.
func TestCacheFingerprint(t *testing.T) {
	reg := newTestRegistry(t)
	key, rotated := signtest.NewKey(t), signtest.NewKey(t)
	shared := store.NewMemory()
	image := reg.pushImage(t, "acme/web")
	key.SignTag(t, image)
	ctx := context.Background()

	v1 := newVerifier(t, []Option{WithStore(shared)}, key.Policy("ci-key"))
	if r, err := v1.Verify(ctx, "ci-key", image); err != nil || !r.Verified {
		t.Fatalf("%+v %v", r, err)
	}
	// The admin replaces the key file's content, same path and name.
	if err := os.WriteFile(key.PublicKeyFile(), rotated.PublicKeyPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	v2 := newVerifier(t, []Option{WithStore(shared)}, key.Policy("ci-key"))
	if v1.policies["ci-key"].fingerprint == v2.policies["ci-key"].fingerprint {
		t.Fatal("the fingerprint ignores the key file's content")
	}
	before := reg.requests.Load()
	r, err := v2.Verify(ctx, "ci-key", image)
	if err != nil || r.Verified {
		t.Fatalf("after key rotation: %+v %v", r, err)
	}
	if reg.requests.Load() == before {
		t.Fatal("the old key's verdict was reused")
	}
}

// TestConcurrentVerify: one Verifier serves concurrent renders.
func TestConcurrentVerify(t *testing.T) {
	reg := newTestRegistry(t)
	key := signtest.NewKey(t)
	vs := signtest.NewSigstore(t)
	v := newVerifier(t, nil, key.Policy("ci-key"), vs.Policy("ci-keyless", testIssuer, testSubject))
	images := make([]name.Digest, 4)
	for i := range images {
		images[i] = reg.pushImage(t, "acme/svc"+string(rune('a'+i)))
		if i%2 == 0 {
			key.SignTag(t, images[i])
			vs.SignBundle(t, images[i], testIssuer, testSubject)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 16; g++ {
		wg.Go(func() {
			for i, img := range images {
				for _, policy := range []string{"ci-key", "ci-keyless"} {
					r, err := v.Verify(context.Background(), policy, img)
					if err != nil {
						errs <- err
						return
					}
					if r.Verified != (i%2 == 0) {
						errs <- fmt.Errorf("%s %s: %+v", policy, img, r)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
