package e2e

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"

	"github.com/argocd-image-resolver/argocd-image-resolver/test/harness"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/redistest"
)

// envProbeScript is the generate command of a probe plugin run by Argo
// CD's own argocd-cmp-server: it answers with one ConfigMap whose
// binaryData holds every ARGOCD_*, KUBE_* and PARAM_* variable of its
// environment, base64-encoded so that any value survives.
const envProbeScript = `printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plugin-env\nbinaryData:\n'
env | sed -n 's/^\(\(ARGOCD\|KUBE\|PARAM\)_[A-Za-z0-9_]*\)=.*/\1/p' | sort -u | while read -r name; do
  printf '  %s: "%s"\n' "$name" "$(printf %s "$(printenv "$name")" | base64 -w0)"
done
`

const envProbePlugin = `apiVersion: argoproj.io/v1alpha1
kind: ConfigManagementPlugin
metadata:
  name: env-probe
spec:
  generate:
    command: [sh, -c]
    args:
      - |
`

// TestRepoServerPluginEnvironment records the environment each release's
// argocd-repo-server and argocd-cmp-server give a plugin's generate
// command, for the example Application with plugin parameters and plugin
// env (one entry empty). The differences it asserts are the ones
// docs/compatibility.md lists; the plugin works with both (the other
// end-to-end tests render through each release).
func TestRepoServerPluginEnvironment(t *testing.T) {
	harness.RequireTool(t, "sh", "a POSIX shell runs the probe plugin")
	params := appParameters("registry.example.invalid/acme/web")
	paramEnv, err := params.Environ()
	if err != nil {
		t.Fatal(err)
	}
	pluginEnv := v1alpha1.Env{
		{Name: "IMAGE_LIST", Value: "web=registry.example.invalid/acme/web:~1.6"},
		{Name: "RELEASE", Value: "$ARGOCD_APP_NAME-blue"},
		{Name: "EMPTY", Value: ""},
	}

	forEachArgoCD(t, func(t *testing.T, argo argoCD) {
		configDir := t.TempDir()
		var spec strings.Builder
		spec.WriteString(envProbePlugin)
		for _, line := range strings.SplitAfter(envProbeScript, "\n") {
			if line != "" {
				spec.WriteString("        " + line)
			}
		}
		if err := os.WriteFile(filepath.Join(configDir, "plugin.yaml"), []byte(spec.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		sockDir := harness.ShortTempDir(t, "cmp")
		startCMPServer(t, argo.bin, configDir, sockDir, "env-probe.sock", t.TempDir())
		rs := startRepoServer(t, argo.bin, redistest.Start(t).Addr(), sockDir)
		repoURL, path := gitRepo(t)
		revision := gitHead(t, strings.TrimPrefix(repoURL, "file://"))

		req := manifestRequest(repoURL, path, "env-probe", params)
		req.ApplicationSource.Plugin.Env = pluginEnv
		resp, err := rs.generateManifest(t, req)
		if err != nil {
			t.Fatalf("GenerateManifest through the probe plugin: %v", err)
		}
		got := probedEnv(t, resp.GetManifests())
		// The cmp-server's own environment reaches the command too (what
		// it inherited, and what it sets from its flags); only what the
		// repo-server sent is of interest.
		for _, kv := range os.Environ() {
			name, _, _ := strings.Cut(kv, "=")
			delete(got, name)
		}
		for _, name := range []string{"ARGOCD_BINARY_NAME", "ARGOCD_PLUGINSOCKFILEPATH", "ARGOCD_LOG_FORMAT", "ARGOCD_LOG_LEVEL"} {
			delete(got, name)
		}

		want := map[string]string{
			"ARGOCD_APP_NAME":                   "web",
			"ARGOCD_APP_NAMESPACE":              "web",
			"ARGOCD_APP_REVISION":               revision,
			"ARGOCD_APP_REVISION_SHORT":         revision[:7],
			"ARGOCD_APP_REVISION_SHORT_8":       revision[:8],
			"ARGOCD_APP_SOURCE_REPO_URL":        repoURL,
			"ARGOCD_APP_SOURCE_PATH":            path,
			"ARGOCD_APP_SOURCE_TARGET_REVISION": "HEAD",
			"KUBE_API_VERSIONS":                 strings.Join(req.ApiVersions, ","),
			"ARGOCD_ENV_IMAGE_LIST":             pluginEnv[0].Value,
			"ARGOCD_ENV_RELEASE":                "web-blue",
		}
		for _, kv := range paramEnv {
			name, value, _ := strings.Cut(kv, "=")
			want[name] = value
		}
		switch argo.major {
		case 2:
			// No project name; the cluster version as <major>.<minor>;
			// argocd-cmp-server drops variables whose value is empty.
			want["KUBE_VERSION"] = "1.31"
		default:
			want["ARGOCD_APP_PROJECT_NAME"] = "default"
			want["KUBE_VERSION"] = "1.31.4"
			want["ARGOCD_ENV_EMPTY"] = ""
		}
		for _, name := range slices.Sorted(maps.Keys(want)) {
			if v, ok := got[name]; !ok {
				t.Errorf("%s: not set, want %q", name, want[name])
			} else if v != want[name] {
				t.Errorf("%s = %q, want %q", name, v, want[name])
			}
		}
		for _, name := range slices.Sorted(maps.Keys(got)) {
			if _, ok := want[name]; !ok {
				t.Errorf("%s = %q is set, which docs/compatibility.md does not list", name, got[name])
			}
		}
	})
}

// probedEnv decodes the probe plugin's ConfigMap, which the repo-server
// returns as JSON.
func probedEnv(t *testing.T, manifests []string) map[string]string {
	t.Helper()
	if len(manifests) != 1 {
		t.Fatalf("probe plugin returned %d manifests, want one ConfigMap:\n%s", len(manifests), dump(manifests))
	}
	var cm struct {
		Kind       string            `json:"kind"`
		BinaryData map[string]string `json:"binaryData"`
	}
	if err := json.Unmarshal([]byte(manifests[0]), &cm); err != nil || cm.Kind != "ConfigMap" {
		t.Fatalf("probe plugin output is not a ConfigMap (%v):\n%s", err, manifests[0])
	}
	env := make(map[string]string, len(cm.BinaryData))
	for name, b64 := range cm.BinaryData {
		v, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		env[name] = string(v)
	}
	return env
}

// gitHead returns the commit the repository's HEAD names.
func gitHead(t *testing.T, dir string) string {
	t.Helper()
	cmd := exec.Command("git", "rev-parse", "HEAD")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git rev-parse HEAD: %v", err)
	}
	return strings.TrimSpace(string(out))
}
