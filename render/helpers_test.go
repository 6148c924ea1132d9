package render

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/argocd-image-resolver/argocd-image-resolver/untar"
)

// copyCharts copies testdata/charts into a fresh temporary folder, so that
// dependency builds write into the copy and never into the repository.
func copyCharts(t testing.TB) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "repo")
	src := filepath.Join("testdata", "charts")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatalf("copying charts: %v", err)
	}
	return dst
}

// testDeps keeps Helm's repository cache and configs inside the test's
// temporary folder.
func testDeps(t testing.TB) DependencyOptions {
	t.Helper()
	d := t.TempDir()
	return DependencyOptions{
		RepositoryConfig: filepath.Join(d, "repositories.yaml"),
		RepositoryCache:  filepath.Join(d, "cache"),
		RegistryConfig:   filepath.Join(d, "registry.json"),
	}
}

// helmBin returns the Helm CLI built from the module (HELM_BIN). Without it
// the test is skipped, unless E2E_REQUIRED=1 makes that a failure.
func helmBin(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("HELM_BIN")
	if bin != "" {
		if _, err := os.Stat(bin); err == nil {
			return bin
		}
	}
	msg := "HELM_BIN is not set or missing: build it with `go build -o .cache/helm-v3.22.0/helm helm.sh/helm/v3/cmd/helm` (make e2e-tools) and export HELM_BIN"
	if os.Getenv("E2E_REQUIRED") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// helmEnv is the environment of the Helm CLI: its folders in the test's
// temporary folder, nothing from the user's home.
func helmEnv(t testing.TB, deps DependencyOptions) []string {
	t.Helper()
	home := t.TempDir()
	return []string{
		"HOME=" + home,
		"PATH=" + os.Getenv("PATH"),
		"HELM_CONFIG_HOME=" + filepath.Join(home, "config"),
		"HELM_CACHE_HOME=" + filepath.Join(home, "cache"),
		"HELM_DATA_HOME=" + filepath.Join(home, "data"),
		"HELM_REPOSITORY_CONFIG=" + deps.RepositoryConfig,
		"HELM_REPOSITORY_CACHE=" + deps.RepositoryCache,
		"HELM_REGISTRY_CONFIG=" + deps.RegistryConfig,
		"KUBECONFIG=" + filepath.Join(home, "no-kubeconfig"),
	}
}

func runHelm(t testing.TB, bin string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), bin, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// cliArgs turns a Request and the injections render reported into the
// `helm template` command Argo CD would run, with the injected values given
// as --set-string. chartDir is the CLI's copy of the chart.
func cliArgs(t testing.TB, req Request, chartDir string, out *Output) []string {
	t.Helper()
	release := req.ReleaseName
	if release == "" {
		release = DefaultReleaseName
	}
	ns := req.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	kv := req.KubeVersion
	if kv == "" {
		kv = DefaultKubeVersion
	}
	args := []string{"template", release, chartDir, "--namespace", ns, "--kube-version", kv}
	for _, a := range req.APIVersions {
		args = append(args, "--api-versions", a)
	}
	if !req.SkipCRDs {
		args = append(args, "--include-crds")
	}
	if req.SkipTests {
		args = append(args, "--skip-tests")
	}
	if req.SkipSchemaValidation {
		args = append(args, "--skip-schema-validation")
	}
	for _, vf := range req.ValueFiles {
		p := filepath.Join(chartDir, vf)
		if _, err := os.Stat(p); err != nil && req.IgnoreMissingValueFiles {
			continue
		}
		args = append(args, "--values", p)
	}
	if req.Values != "" {
		f := filepath.Join(t.TempDir(), "inline-values.yaml")
		if err := os.WriteFile(f, []byte(req.Values), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--values", f)
	}
	for _, k := range sortedKeys(req.Parameters) {
		args = append(args, "--set", k+"="+escapeSetValue(req.Parameters[k]))
	}
	for _, k := range sortedKeys(req.StringParameters) {
		args = append(args, "--set-string", k+"="+escapeSetValue(req.StringParameters[k]))
	}
	for _, inj := range out.Injections {
		keys := make([]string, 0, len(inj.Values))
		for k := range inj.Values {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			args = append(args, "--set-string", k+"="+escapeSetValue(inj.Values[k]))
		}
	}
	return args
}

// normalised sorts documents so that two renders compare independently of
// document order.
func normalised(docs []string) string {
	s := append([]string(nil), docs...)
	sort.Strings(s)
	return strings.Join(s, "---\n")
}

// imageLines returns the `image:` lines of the rendered documents, trimmed.
func imageLines(out *Output) []string {
	var lines []string
	for _, d := range out.Manifests {
		for _, l := range strings.Split(d, "\n") {
			if t := strings.TrimSpace(l); strings.HasPrefix(t, "image:") {
				lines = append(lines, t)
			}
		}
	}
	return lines
}

// treeOf holds the files under dir in memory, as the server receives a
// repository.
func treeOf(t testing.TB, dir string) *untar.Tree {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		files[filepath.ToSlash(rel)] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	tree, err := untar.NewTree(files)
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

func treeOfFiles(t testing.TB, files map[string][]byte) *untar.Tree {
	t.Helper()
	tree, err := untar.NewTree(files)
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

func containsErr(err error, want string) bool { return strings.Contains(err.Error(), want) }
