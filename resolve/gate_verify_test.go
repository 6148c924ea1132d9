package resolve

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"sigs.k8s.io/yaml"

	"github.com/argocd-image-resolver/argocd-image-resolver/test/signtest"
)

// TestVerifyHoldsPinsToo: a pin (override-tag, or a pin in the chart's
// values) is an emergency rollback, not a way around verify.
func TestVerifyHoldsPinsToo(t *testing.T) {
	reg := newTestRegistry(t)
	digests := pushTags(t, reg.host, "acme/web", time.Now(), nil, "1.0.0", "1.1.0")
	key := signtest.NewKey(t)
	signedDigest, err := name.NewDigest(reg.host + "/acme/web@" + digests["1.0.0"])
	if err != nil {
		t.Fatal(err)
	}
	key.SignTag(t, signedDigest)
	conf, err := yaml.Marshal(map[string]any{"signature-policies": []any{key.Policy("ci-key")}})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := ParseRegistriesConfig(conf)
	if err != nil {
		t.Fatal(err)
	}
	r := newTestResolver(t, WithRegistriesConfig(rc), WithInsecure())

	res, err := r.ResolveOne(context.Background(), specFor(t, "web="+reg.host+"/acme/web", map[string]string{"web.verify": "ci-key", "web.override-tag": "1.0.0"}))
	if err != nil || !res.Pinned || res.Tag != "1.0.0" || len(res.Gates) != 1 || res.Gates[0] != "verify ci-key" {
		t.Fatalf("signed pin: %+v, %v", res, err)
	}
	_, err = r.ResolveOne(context.Background(), specFor(t, "web="+reg.host+"/acme/web", map[string]string{"web.verify": "ci-key", "web.override-tag": "1.1.0"}))
	if err == nil || !strings.Contains(err.Error(), "pinned tag 1.1.0: no valid signature for policy ci-key") {
		t.Fatalf("unsigned pin: %v", err)
	}
}
