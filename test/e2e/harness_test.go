package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/argocd-image-resolver/argocd-image-resolver/examples"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/harness"
)

// repoServer is a running argocd-repo-server.
type repoServer struct {
	addr string
	argo argoCD // the release it runs
}

// startRepoServer runs argocd-repo-server from the multi-call argocd binary
// (v2.14 or v3, told apart by the binary's build info), without TLS,
// looking for plugin sockets in sockDir. When HELM_BIN is set, that helm is
// on its PATH for native Helm sources, as in Argo CD's image.
func startRepoServer(t testing.TB, argocdBin, redisAddr, sockDir string) *repoServer {
	t.Helper()
	harness.RequireTool(t, "git", "install git")
	argo := argoCDOf(t, argocdBin)
	home := t.TempDir()
	binDir := filepath.Join(home, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The repo-server runs this wrapper around `git verify-*`; GPG is off,
	// so a stub that succeeds is enough.
	if err := os.WriteFile(filepath.Join(binDir, "git-verify-wrapper.sh"), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if helm := os.Getenv("HELM_BIN"); helm != "" {
		abs, err := filepath.Abs(helm)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(abs, filepath.Join(binDir, "helm")); err != nil {
			t.Fatal(err)
		}
	}
	port := strconv.Itoa(harness.FreePort(t))
	metricsPort := strconv.Itoa(harness.FreePort(t))
	args := append([]string{
		"--redis", redisAddr,
		"--address", "127.0.0.1",
		"--port", port,
		"--metrics-port", metricsPort,
		"--disable-tls",
		"--logformat", "text",
	}, argo.repoServerFlags()...)
	cmd := exec.Command(argocdBin, args...)
	cmd.Env = append(os.Environ(),
		"ARGOCD_BINARY_NAME=argocd-repo-server",
		"ARGOCD_GPG_ENABLED=false",
		"ARGOCD_PLUGINSOCKFILEPATH="+sockDir,
		"PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"HOME="+home,
		"TMPDIR="+t.TempDir(),
		"GIT_CONFIG_NOSYSTEM=1",
	)
	p := harness.StartProcess(t, "argocd-repo-server", cmd)
	addr := "127.0.0.1:" + port
	p.WaitListening(t, "tcp", addr)
	return &repoServer{addr: addr, argo: argo}
}

// startCMPServer runs Argo CD's own argocd-cmp-server with the plugin.yaml
// in configDir. It creates its socket in sockDir; extraPath is put first on
// its PATH so that the plugin's generate command finds our binary.
func startCMPServer(t testing.TB, argocdBin, configDir, sockDir, socketName, extraPath string) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(argocdBin, "--config-dir-path", configDir, "--logformat", "text", "--loglevel", "debug")
	cmd.Env = append(os.Environ(),
		"ARGOCD_BINARY_NAME=argocd-cmp-server",
		"ARGOCD_PLUGINSOCKFILEPATH="+sockDir,
		"PATH="+extraPath+string(os.PathListSeparator)+os.Getenv("PATH"),
		"HOME="+home,
		"TMPDIR="+t.TempDir(),
	)
	p := harness.StartProcess(t, "argocd-cmp-server", cmd)
	p.WaitListening(t, "unix", filepath.Join(sockDir, socketName))
}

// gitRepo commits the example chart under examples/web of a fresh local
// repository and returns its file:// URL and the chart's path in it.
func gitRepo(t testing.TB) (url, path string) {
	t.Helper()
	return gitRepoWith(t, nil)
}

// gitRepoWith is gitRepo with more files, keyed by their slash-separated
// path in the repository.
func gitRepoWith(t testing.TB, files map[string]string) (url, path string) {
	t.Helper()
	harness.RequireTool(t, "git", "install git")
	dir := filepath.Join(t.TempDir(), "repo")
	if _, err := examples.WriteChart(filepath.Join(dir, "examples")); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir,
			"GIT_AUTHOR_NAME=e2e", "GIT_AUTHOR_EMAIL=e2e@example.invalid",
			"GIT_COMMITTER_NAME=e2e", "GIT_COMMITTER_EMAIL=e2e@example.invalid")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	git("init", "-q", "-b", "main")
	git("add", ".")
	git("commit", "-q", "-m", "example chart")
	return "file://" + dir, "examples/" + examples.ChartDir
}

// containerImages returns the image of every container in the rendered
// manifests, which may hold several YAML documents each.
func containerImages(manifests []string) []string {
	var images []string
	for _, m := range manifests {
		for _, line := range strings.Split(m, "\n") {
			line = strings.TrimSpace(line)
			if rest, ok := strings.CutPrefix(line, "image:"); ok {
				images = append(images, strings.Trim(strings.TrimSpace(rest), `"`))
			}
		}
		// Manifests from the repo-server are JSON objects.
		images = append(images, jsonImages(m)...)
	}
	return images
}

// jsonImages finds "image":"..." pairs in a JSON document.
func jsonImages(doc string) []string {
	var images []string
	const key = `"image":"`
	for {
		i := strings.Index(doc, key)
		if i < 0 {
			return images
		}
		doc = doc[i+len(key):]
		j := strings.IndexByte(doc, '"')
		if j < 0 {
			return images
		}
		images = append(images, doc[:j])
		doc = doc[j:]
	}
}

// dump formats manifests for failure messages.
func dump(manifests []string) string {
	var b bytes.Buffer
	for i, m := range manifests {
		fmt.Fprintf(&b, "--- manifest %d\n%s\n", i, m)
	}
	return b.String()
}
