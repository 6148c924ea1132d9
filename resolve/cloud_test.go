package resolve

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

// TestCloudHelpersKeepReachingMetadata: the cloud workload-identity
// helpers are admin configuration and fetch their tokens with their own
// clients, so the rules that bind Applications' connections do not stop
// them. The GCE metadata server is a fake on loopback (the real one is at
// 169.254.169.254, which cannot run here); it speaks the metadata
// protocol, and the Google helper finds it through GCE_METADATA_HOST.
// google.Keychain keeps the authenticator it finds for the process; no
// other test of this package resolves a Google registry.
func TestCloudHelpersKeepReachingMetadata(t *testing.T) {
	var tokenRequests atomic.Int64
	metadata := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Metadata-Flavor") != "Google" {
			http.Error(w, "missing Metadata-Flavor", http.StatusForbidden)
			return
		}
		w.Header().Set("Metadata-Flavor", "Google")
		switch {
		case strings.HasSuffix(r.URL.Path, "/service-accounts/default/token"):
			tokenRequests.Add(1)
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"access_token":"metadata-token-1","expires_in":3600,"token_type":"Bearer"}`)
		case strings.HasSuffix(r.URL.Path, "/project/project-id"):
			io.WriteString(w, "acme-project")
		case strings.HasSuffix(r.URL.Path, "/service-accounts/default/email"):
			io.WriteString(w, "sidecar@acme-project.iam.gserviceaccount.com")
		default:
			io.WriteString(w, "")
		}
	}))
	defer metadata.Close()
	host := strings.TrimPrefix(metadata.URL, "http://")
	t.Setenv("GCE_METADATA_HOST", host)
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "")
	t.Setenv("HOME", t.TempDir())
	t.Setenv("CLOUDSDK_CONFIG", t.TempDir())

	conf, err := ParseRegistriesConfig([]byte("allowed:\n  - europe-docker.pkg.dev/acme/*\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := conf.Policy("").CheckHost(host); err == nil {
		t.Fatal("the rules allow the metadata address; the test would prove nothing")
	}
	r := newTestResolver(t, WithRegistriesConfig(conf))
	reg, err := name.NewRegistry("europe-docker.pkg.dev")
	if err != nil {
		t.Fatal(err)
	}
	auth, err := defaultChain{r.client.keychains}.ResolveContext(context.Background(), reg)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := auth.Authorization()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Password != "metadata-token-1" || tokenRequests.Load() == 0 {
		t.Fatalf("the Google helper got %+v with %d token requests", cfg, tokenRequests.Load())
	}
}
