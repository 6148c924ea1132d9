package render

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/registry"
)

// pushChartToLoopbackRegistry starts an in-memory OCI registry on loopback,
// packages testdata/charts/<name> and pushes it with the Helm SDK registry
// client. It returns the registry's host:port.
func pushChartToLoopbackRegistry(t *testing.T, name, version string) string {
	t.Helper()
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")

	ch, err := loader.Load(filepath.Join("testdata", "charts", name))
	if err != nil {
		t.Fatal(err)
	}
	tgz, err := chartutil.Save(ch, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(tgz)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := registry.NewClient(registry.ClientOptPlainHTTP(), registry.ClientOptCredentialsFile(filepath.Join(t.TempDir(), "config.json")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Push(data, host+"/charts/"+name+":"+version); err != nil {
		t.Fatalf("pushing %s to %s: %v", name, host, err)
	}
	return host
}

// pointAtRegistry rewrites ociapp/Chart.yaml in a copy of the charts to the
// loopback registry's address.
func pointAtRegistry(t *testing.T, root, host string) {
	t.Helper()
	p := filepath.Join(root, "ociapp", "Chart.yaml")
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(strings.ReplaceAll(string(raw), "REGISTRY_ADDRESS", host)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestParityOCIDependency(t *testing.T) {
	bin := helmBin(t)
	host := pushChartToLoopbackRegistry(t, "ocilib", "0.5.0")
	deps := testDeps(t)
	deps.PlainHTTP = true
	c := parityCase{
		chart: "ociapp",
		req: Request{
			ReleaseName:  "oci",
			Namespace:    "apps",
			Dependencies: deps,
			Images: []Image{{
				Alias: "lib", Repository: "registry.example.com/acme/oci-served", Tag: "5.1.0", TagPath: "ocilib.image.tag",
			}},
		},
		check: func(t *testing.T, out *Output) {
			if !containsLine(out, `image: "registry.example.com/acme/oci-served:5.1.0"`) {
				t.Errorf("OCI sub-chart not rendered with the injected tag: %v", imageLines(out))
			}
		},
	}
	assertParity(t, bin, c, func(root string) { pointAtRegistry(t, root, host) }, "--plain-http")
}

func TestOCIDependencyFetchedInProcess(t *testing.T) {
	host := pushChartToLoopbackRegistry(t, "ocilib", "0.5.0")
	root := copyCharts(t)
	pointAtRegistry(t, root, host)
	deps := testDeps(t)
	deps.PlainHTTP = true
	out, err := Render(context.Background(), Request{
		RepoRoot: root, ChartDir: filepath.Join(root, "ociapp"), Dependencies: deps,
		Images: []Image{{Alias: "lib", Repository: "registry.example.com/acme/oci-served", Tag: "5.1.0", TagPath: "ocilib.image.tag"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !containsLine(out, `image: "registry.example.com/acme/oci-served:5.1.0"`) {
		t.Errorf("image lines: %v", imageLines(out))
	}
	if _, err := os.Stat(filepath.Join(root, "ociapp", "charts", "ocilib-0.5.0.tgz")); err != nil {
		t.Errorf("dependency not stored in charts/: %v", err)
	}
}
