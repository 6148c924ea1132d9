package render

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// parityCase is one chart rendered in process and by `helm template`.
type parityCase struct {
	name  string
	chart string
	req   Request // RepoRoot, ChartDir and Dependencies are filled in
	// check asserts something about the in-process output beyond parity.
	check func(t *testing.T, out *Output)
}

// assertParity renders c in process from one copy of the charts and with the
// Helm CLI from another (the CLI building dependencies itself), and
// compares the documents byte for byte after sorting them.
func assertParity(t *testing.T, bin string, c parityCase, prepare func(root string), cliDepArgs ...string) *Output {
	t.Helper()
	ours, theirs := copyCharts(t), copyCharts(t)
	if prepare != nil {
		prepare(ours)
		prepare(theirs)
	}
	req := c.req
	req.RepoRoot = ours
	req.ChartDir = filepath.Join(ours, c.chart)
	if req.Dependencies == (DependencyOptions{}) {
		req.Dependencies = testDeps(t)
	}
	// The same repository in memory, before the disk render fetches
	// dependencies into it.
	mem := req
	mem.Repo, mem.RepoRoot, mem.ChartDir = treeOf(t, ours), ".", c.chart
	mem.Dependencies = testDeps(t)
	mem.Charts = NewChartCache(4)
	out, err := Render(context.Background(), req)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if len(out.Manifests) == 0 {
		t.Fatal("Render returned no manifests")
	}
	for i := range 2 { // the second time from the chart cache
		memOut, err := Render(context.Background(), mem)
		if err != nil {
			t.Fatalf("Render from memory (%d): %v", i, err)
		}
		if got, want := normalised(memOut.Manifests), normalised(out.Manifests); got != want {
			t.Fatalf("render from memory (%d) differs from the render on disk\n--- memory\n%s\n--- disk\n%s", i, got, want)
		}
	}

	cliDeps := testDeps(t)
	env := helmEnv(t, cliDeps)
	cliChart := filepath.Join(theirs, c.chart)
	if raw, err := os.ReadFile(filepath.Join(cliChart, "Chart.yaml")); err == nil && strings.Contains(string(raw), "dependencies:") {
		runHelm(t, bin, env, append([]string{"dependency", "build", cliChart}, cliDepArgs...)...)
	}
	cliOut := runHelm(t, bin, env, cliArgs(t, req, cliChart, out)...)
	want := SplitDocuments(cliOut)

	if got, w := normalised(out.Manifests), normalised(want); got != w {
		t.Errorf("in-process render differs from helm template\n--- in process (%d docs)\n%s\n--- helm template (%d docs)\n%s",
			len(out.Manifests), got, len(want), w)
	}
	if c.check != nil {
		c.check(t, out)
	}
	return out
}

func TestParityWithHelmTemplate(t *testing.T) {
	bin := helmBin(t)
	digest := "sha256:" + strings.Repeat("ab", 32)
	cases := []parityCase{
		{
			name:  "scaffold defaults",
			chart: "scaffold",
			req: Request{
				ReleaseName: "web",
				Namespace:   "shop",
				Images:      []Image{{Alias: "web", Repository: "nginx", Tag: "1.27.3"}},
			},
			check: func(t *testing.T, out *Output) {
				if !containsLine(out, `image: "nginx:1.27.3"`) {
					t.Errorf("resolved tag not rendered: %v", imageLines(out))
				}
			},
		},
		{
			name:  "scaffold with value files inline values and parameters",
			chart: "scaffold",
			req: Request{
				ReleaseName: "web",
				Namespace:   "shop",
				KubeVersion: "1.31",
				ValueFiles:  []string{"../shared-values/ingress.yaml", "missing.yaml"},
				Values:      "replicaCount: 2\nservice:\n  port: 8080\n",
				Parameters: map[string]string{
					"service.type":        "NodePort",
					"podLabels.tier":      "front",
					"autoscaling.enabled": "true",
				},
				StringParameters: map[string]string{
					"podAnnotations.owners": "team-a,team-b",
				},
				IgnoreMissingValueFiles: true,
				Images:                  []Image{{Alias: "web", Repository: "nginx", Tag: "1.27.3"}},
			},
			check: func(t *testing.T, out *Output) {
				if !containsText(out, `owners: team-a,team-b`) {
					t.Error("comma in a string parameter was not kept")
				}
				if !containsText(out, "kind: Ingress") || !containsText(out, "kind: HorizontalPodAutoscaler") {
					t.Error("value file / parameters did not enable ingress and autoscaling")
				}
			},
		},
		{
			name:  "umbrella with vendored and file:// sub-charts",
			chart: "umbrella",
			req: Request{
				ReleaseName: "shop",
				Namespace:   "shop",
				Images: []Image{{
					Alias: "frontend", Repository: "registry.example.com/acme/frontend",
					Tag: "3.2.0", Digest: digest, Pin: PinDigest, TagPath: "frontend.image.tag",
				}},
			},
			check: func(t *testing.T, out *Output) {
				if !containsLine(out, `image: "registry.example.com/acme/frontend@`+digest+`"`) {
					t.Errorf("digest not rendered in the sub-chart: %v", imageLines(out))
				}
				if !containsLine(out, `image: "registry.example.com/acme/api:4.2.0"`) {
					t.Errorf("file:// sub-chart not rendered: %v", imageLines(out))
				}
			},
		},
		{
			name:  "umbrella with a sub-chart disabled",
			chart: "umbrella",
			req: Request{
				ReleaseName: "shop",
				Parameters:  map[string]string{"backend.enabled": "false"},
				Images: []Image{{
					Alias: "frontend", Repository: "registry.example.com/acme/frontend",
					Tag: "3.2.0", TagPath: "frontend.image.tag",
				}},
			},
			check: func(t *testing.T, out *Output) {
				if containsText(out, "shop-backend") {
					t.Error("disabled sub-chart rendered")
				}
			},
		},
		{
			name:  "crds hooks and tests on an old cluster",
			chart: "crdhooks",
			req: Request{
				ReleaseName: "jobs",
				Namespace:   "batch",
				KubeVersion: "1.29",
				Images:      []Image{{Alias: "worker", Repository: "registry.example.com/acme/worker", Tag: "2.1.0"}},
			},
			check: func(t *testing.T, out *Output) {
				if !strings.Contains(out.Manifests[0], "kind: CustomResourceDefinition") {
					t.Errorf("CRD is not first: %q", firstLine(out.Manifests[0]))
				}
				if containsText(out, "resizePolicy") || containsText(out, "ServiceMonitor") {
					t.Error("capability switches on for 1.29 without the monitoring API")
				}
				for _, want := range []string{`"helm.sh/hook": test`, `"helm.sh/hook": pre-install,pre-upgrade`, `"helm.sh/hook": post-install`, `kubeVersion: "v1.29"`} {
					if !containsText(out, want) {
						t.Errorf("missing %s", want)
					}
				}
			},
		},
		{
			name:  "crds hooks on a new cluster with extra APIs",
			chart: "crdhooks",
			req: Request{
				ReleaseName: "jobs",
				Namespace:   "batch",
				KubeVersion: "v1.31.2",
				APIVersions: []string{"monitoring.coreos.com/v1/ServiceMonitor", "monitoring.coreos.com/v1"},
				Images:      []Image{{Alias: "worker", Repository: "registry.example.com/acme/worker", Tag: "2.1.0"}},
			},
			check: func(t *testing.T, out *Output) {
				for _, want := range []string{"resizePolicy", "kind: ServiceMonitor", `kube-minor: "31"`, `kubeVersion: "v1.31.2"`} {
					if !containsText(out, want) {
						t.Errorf("missing %s", want)
					}
				}
			},
		},
		{
			name:  "crds and tests skipped",
			chart: "crdhooks",
			req: Request{
				ReleaseName: "jobs",
				SkipCRDs:    true,
				SkipTests:   true,
				Images:      []Image{{Alias: "worker", Repository: "registry.example.com/acme/worker", Tag: "2.1.0"}},
			},
			check: func(t *testing.T, out *Output) {
				if containsText(out, "kind: CustomResourceDefinition") {
					t.Error("CRD rendered with SkipCRDs")
				}
				if containsText(out, `"helm.sh/hook": test`) {
					t.Error("test hook rendered with SkipTests")
				}
				if !containsText(out, "kind: Widget") {
					t.Error("custom resource missing")
				}
			},
		},
		{
			name:  "overrideTag chart pinned by values",
			chart: "overridetag",
			req: Request{
				ReleaseName: "web",
				Values:      "image:\n  overrideTag: \"1.2.0\"\n",
				Images:      []Image{{Alias: "web", Repository: "registry.example.com/acme/web", Tag: "1.4.2", Digest: digest, Pin: PinDigest}},
			},
			check: func(t *testing.T, out *Output) {
				if !containsLine(out, `image: "registry.example.com/acme/web:1.2.0"`) || !out.Injections[0].Pinned {
					t.Errorf("override not honoured: %v %+v", imageLines(out), out.Injections)
				}
			},
		},
		{
			name:  "overrideTag chart tag+digest",
			chart: "overridetag",
			req: Request{
				ReleaseName: "web",
				Images:      []Image{{Alias: "web", Repository: "registry.example.com/acme/web", Tag: "1.4.2", Digest: digest, Pin: PinTagAndDigest}},
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assertParity(t, bin, c, func(root string) {
				dir := filepath.Join(root, "shared-values")
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				ingress := "ingress:\n  enabled: true\n  hosts:\n    - host: shop.example.com\n      paths:\n        - path: /\n          pathType: Prefix\n"
				if err := os.WriteFile(filepath.Join(dir, "ingress.yaml"), []byte(ingress), 0o644); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

func containsLine(out *Output, line string) bool {
	for _, l := range imageLines(out) {
		if l == line {
			return true
		}
	}
	return false
}

func containsText(out *Output, s string) bool {
	for _, d := range out.Manifests {
		if strings.Contains(d, s) {
			return true
		}
	}
	return false
}

func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" && !strings.HasPrefix(l, "#") {
			return l
		}
	}
	return ""
}
