package e2e

import (
	"debug/buildinfo"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/argocd-image-resolver/argocd-image-resolver/test/harness"
)

// argoCDReleases are the Argo CD release lines the end-to-end tests run
// against, newest first: the variable that names each one's multi-call
// argocd binary (`make e2e-tools` builds both into .cache/) and the module
// version prefix that binary must report. docs/compatibility.md lists the
// same versions.
var argoCDReleases = []struct {
	env  string
	line string
}{
	{env: "ARGOCD_BIN", line: "v3."},
	{env: "ARGOCD_V2_BIN", line: "v2.14."},
}

// argoCD is one Argo CD binary, described by the version of the argo-cd
// module it was built from (read from the binary itself, so a test can
// never run one release while it believes it runs another).
type argoCD struct {
	bin     string
	version string // e.g. "v2.14.21"
	major   int
}

// argoCDBinary reads the argo-cd module version from bin's build info.
func argoCDBinary(bin string) (argoCD, error) {
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return argoCD{}, fmt.Errorf("read the Go build info of %s: %w", bin, err)
	}
	for _, m := range append([]*debug.Module{&info.Main}, info.Deps...) {
		switch m.Path {
		case "github.com/argoproj/argo-cd/v2":
			return argoCD{bin: bin, version: m.Version, major: 2}, nil
		case "github.com/argoproj/argo-cd/v3":
			return argoCD{bin: bin, version: m.Version, major: 3}, nil
		}
	}
	return argoCD{}, fmt.Errorf("%s was not built from the argo-cd v2 or v3 module (main module %s)", bin, info.Main.Path)
}

// argoCDOf is argoCDBinary for a test: an unreadable binary fails it.
// Reading the build info is cheap (one ELF section), even of a 300 MB
// binary.
func argoCDOf(t testing.TB, bin string) argoCD {
	t.Helper()
	a, err := argoCDBinary(bin)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// forEachArgoCD runs fn as a subtest named after each Argo CD version of
// argoCDReleases. A release whose binary variable is unset is skipped,
// unless E2E_REQUIRED=1, which makes it a failure; a binary of another
// release line than its variable promises fails the subtest.
func forEachArgoCD(t *testing.T, fn func(t *testing.T, argo argoCD)) {
	t.Helper()
	for _, r := range argoCDReleases {
		name := strings.TrimSuffix(r.line, ".")
		bin := os.Getenv(r.env)
		if bin != "" {
			if a, err := argoCDBinary(bin); err == nil {
				name = a.version
			}
		}
		t.Run(name, func(t *testing.T) {
			a := argoCDOf(t, harness.RequireBinary(t, r.env))
			if !strings.HasPrefix(a.version, r.line) {
				t.Fatalf("%s=%s is Argo CD %s, want a %s* release", r.env, a.bin, a.version, r.line)
			}
			fn(t, a)
		})
	}
}

// repoServerFlags are the flags that differ between releases; everything
// else startRepoServer passes is common to v2.14 and v3.
func (a argoCD) repoServerFlags() []string {
	if a.major >= 3 {
		// v3 defaults --client-ca-path to a mounted Secret's path and
		// refuses it together with --disable-tls; v2.14 has no such flag
		// (no mTLS) and fails on it.
		return []string{"--client-ca-path", ""}
	}
	return nil
}

// kubeVersion is the cluster version as this release's application
// controller sends it in a ManifestRequest, for a cluster whose
// /version reports gitVersion v1.31.4 (major "1", minor "31"): v2.14
// sends "<major>.<minor>", v3 the normalised git version.
func (a argoCD) kubeVersion() string {
	if a.major >= 3 {
		return "v1.31.4"
	}
	return "1.31"
}
