package sigverify

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
)

// testRegistry is go-containerregistry's in-memory registry on loopback,
// behind a handler that counts requests and can fail them.
type testRegistry struct {
	srv      *httptest.Server
	host     string
	requests atomic.Int64
	// failWith, when not zero, answers every request with that status
	// and failBody.
	failWith atomic.Int64
	failBody atomic.Value
	// failPath, when set, limits failWith to requests whose path holds it.
	failPath atomic.Value
}

func newTestRegistry(t *testing.T) *testRegistry {
	return newTestRegistryWith(t, true)
}

// newTestRegistryWith starts a registry with or without the OCI 1.1
// referrers API (without, referrers live in the referrers tag schema,
// which the pushing client maintains).
func newTestRegistryWith(t *testing.T, referrersAPI bool) *testRegistry {
	t.Helper()
	r := &testRegistry{}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithReferrersSupport(referrersAPI))
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.requests.Add(1)
		only, _ := r.failPath.Load().(string)
		if status := r.failWith.Load(); status != 0 && strings.Contains(req.URL.Path, only) {
			body, _ := r.failBody.Load().(string)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(int(status))
			fmt.Fprint(w, body)
			return
		}
		reg.ServeHTTP(w, req)
	}))
	t.Cleanup(r.srv.Close)
	r.host = strings.TrimPrefix(r.srv.URL, "http://")
	return r
}

// fail makes every request answer status with body; fail(0, "") heals.
func (r *testRegistry) fail(status int, body string) {
	r.failPath.Store("")
	r.failBody.Store(body)
	r.failWith.Store(int64(status))
}

// failOn makes the requests whose path holds path answer status.
func (r *testRegistry) failOn(path string, status int) {
	r.failBody.Store("")
	r.failPath.Store(path)
	r.failWith.Store(int64(status))
}

// pushImage pushes a random image to repo and returns its digest
// reference.
func (r *testRegistry) pushImage(t *testing.T, repo string) name.Digest {
	t.Helper()
	h := registrytest.Push(t, r.host+"/"+repo+":latest")
	ref, err := name.NewDigest(r.host+"/"+repo+"@"+h.String(), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}
