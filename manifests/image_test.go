package manifests

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

// versionPlaceholder stands for $(VERSION) in the Makefile and ${VERSION}
// in the Dockerfile, so that the two build lines compare equal.
const versionPlaceholder = "<VERSION>"

// goBuild is a `go build` command line split into its parts.
type goBuild struct {
	env  map[string]string // VAR=value words before `go`
	args []string          // flags and packages after `go build`, -o removed
	out  string            // the -o value
}

// makefileBuild expands the Makefile's BUILD_CMD.
func makefileBuild(t *testing.T) goBuild {
	t.Helper()
	data, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"VERSION": versionPlaceholder}
	assign := regexp.MustCompile(`^([A-Z_]+)\s*:?=\s*(.*)$`)
	for _, line := range strings.Split(string(data), "\n") {
		if m := assign.FindStringSubmatch(line); m != nil && m[1] != "VERSION" {
			vars[m[1]] = m[2]
		}
	}
	ref := regexp.MustCompile(`\$\(([A-Z_]+)\)`)
	cmd, ok := vars["BUILD_CMD"]
	if !ok {
		t.Fatal("Makefile defines no BUILD_CMD")
	}
	for range 10 {
		cmd = ref.ReplaceAllStringFunc(cmd, func(s string) string {
			return vars[ref.FindStringSubmatch(s)[1]]
		})
	}
	return parseGoBuild(t, "Makefile BUILD_CMD", cmd)
}

// dockerfile holds the instructions of the Dockerfile that the tests check.
type dockerfile struct {
	froms []string // FROM arguments, in order
	user  string   // the last USER
	copy  string   // the last COPY --from instruction
	build string   // the RUN instruction holding `go build`
	entry string   // ENTRYPOINT
}

func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	f, err := os.Open("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var d dockerfile
	var inst string
	handle := func(inst string) {
		verb, rest, _ := strings.Cut(strings.TrimSpace(inst), " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(verb) {
		case "FROM":
			d.froms = append(d.froms, rest)
		case "USER":
			d.user = rest
		case "COPY":
			if strings.HasPrefix(rest, "--from=") {
				d.copy = rest
			}
		case "ENTRYPOINT":
			d.entry = rest
		case "RUN":
			if strings.Contains(rest, "go build") {
				d.build = rest
			}
		}
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if inst == "" && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			inst += cont + " "
			continue
		}
		handle(inst + line)
		inst = ""
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return d
}

func dockerfileBuild(t *testing.T, d dockerfile) goBuild {
	t.Helper()
	if d.build == "" {
		t.Fatal("Dockerfile has no RUN instruction with `go build`")
	}
	var words []string
	for _, w := range strings.Fields(d.build) {
		if !strings.HasPrefix(w, "--mount=") || len(words) > 0 {
			words = append(words, w)
		}
	}
	line := strings.NewReplacer("${VERSION}", versionPlaceholder, "$VERSION", versionPlaceholder).Replace(strings.Join(words, " "))
	b := parseGoBuild(t, "Dockerfile", line)
	// Cross-compilation settings exist only in the image build.
	delete(b.env, "GOOS")
	delete(b.env, "GOARCH")
	return b
}

// parseGoBuild splits a shell command line `VAR=x ... go build ARGS`.
func parseGoBuild(t *testing.T, where, line string) goBuild {
	t.Helper()
	words := shellWords(line)
	b := goBuild{env: map[string]string{}}
	i := 0
	for ; i < len(words) && strings.Contains(words[i], "="); i++ {
		k, v, _ := strings.Cut(words[i], "=")
		b.env[k] = v
	}
	if i+1 >= len(words) || words[i] != "go" || words[i+1] != "build" {
		t.Fatalf("%s: %q is not `[VAR=value...] go build ...`", where, line)
	}
	rest := words[i+2:]
	for j := 0; j < len(rest); j++ {
		if rest[j] == "-o" && j+1 < len(rest) {
			b.out = rest[j+1]
			j++
			continue
		}
		b.args = append(b.args, rest[j])
	}
	return b
}

// shellWords splits a command line on blanks outside double quotes and
// drops the quotes, which is all the two build lines use.
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	quoted, inWord := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
			inWord = true
		case (r == ' ' || r == '\t') && !quoted:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

func TestDockerfileBuildMatchesMakefile(t *testing.T) {
	mk := makefileBuild(t)
	d := readDockerfile(t)
	df := dockerfileBuild(t, d)

	if mk.env["CGO_ENABLED"] != "0" {
		t.Errorf("Makefile BUILD_CMD must set CGO_ENABLED=0 for a static binary; env %v", mk.env)
	}
	if !slices.Contains(mk.args, "-trimpath") {
		t.Errorf("Makefile BUILD_CMD lacks -trimpath: %q", mk.args)
	}
	ldflags := flagValue(mk.args, "-ldflags")
	if !strings.Contains(ldflags, "-X github.com/argocd-image-resolver/argocd-image-resolver/plugin.version="+versionPlaceholder) {
		t.Errorf("Makefile -ldflags %q does not set plugin.version from VERSION", ldflags)
	}
	if !mapsEqual(mk.env, df.env) {
		t.Errorf("build environment differs: Makefile %v, Dockerfile %v", mk.env, df.env)
	}
	if !slices.Equal(mk.args, df.args) {
		t.Errorf("go build arguments differ:\nMakefile:   %q\nDockerfile: %q", mk.args, df.args)
	}

	if len(d.froms) != 2 {
		t.Fatalf("Dockerfile stages %q, want a builder and a final stage", d.froms)
	}
	if !strings.Contains(d.froms[0], "golang:1.27 ") {
		t.Errorf("builder stage %q, want golang:1.27", d.froms[0])
	}
	if d.froms[1] != "gcr.io/distroless/static-debian12:nonroot" {
		t.Errorf("final stage %q, want gcr.io/distroless/static-debian12:nonroot", d.froms[1])
	}
	if d.user != "999" {
		t.Errorf("USER %q, want 999 (Argo CD runs sidecars as the argocd user)", d.user)
	}
	// The binary lands where the component's command runs it.
	pod := repoServerDeployment(t, render(t, withComponent, nil)).Spec.Template.Spec
	bin := container(t, &pod, sidecarName).Command[0]
	if want := df.out + " " + bin; !strings.HasSuffix(d.copy, want) {
		t.Errorf("COPY %q does not place the build output %s at %s", d.copy, df.out, bin)
	}
	if !strings.Contains(d.entry, `"`+bin+`"`) {
		t.Errorf("ENTRYPOINT %s does not run %s", d.entry, bin)
	}
}

func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

const testVersion = "v0.0.0-manifests-test"

// buildBinary builds the program once per test run, exactly as the
// Makefile's BUILD_CMD does (with VERSION=testVersion), skipped with -short
// unless E2E_REQUIRED=1.
func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() && os.Getenv("E2E_REQUIRED") != "1" {
		t.Skip("-short: skipping the static build of the binary")
	}
	binMu.Lock()
	defer binMu.Unlock()
	if binPath != "" {
		return binPath
	}
	mk := makefileBuild(t)
	out := filepath.Join(binDir, "argocd-image-resolver")
	args := []string{"build"}
	for _, a := range mk.args {
		args = append(args, strings.ReplaceAll(a, versionPlaceholder, testVersion))
	}
	pkg := args[len(args)-1]
	args = append(args[:len(args)-1], "-o", out, pkg)
	cmd := exec.Command("go", args...)
	cmd.Dir = ".."
	cmd.Env = os.Environ()
	for k, v := range mk.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	binPath = out
	return out
}

var (
	binMu   sync.Mutex
	binPath string
	binDir  string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "argocd-image-resolver-build-")
	if err != nil {
		panic(err)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestStaticBinaryRunsVersion: the binary BUILD_CMD produces is static
// (it runs on distroless/static) and reports the version set by -ldflags.
func TestStaticBinaryRunsVersion(t *testing.T) {
	bin := buildBinary(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("binary has an ELF interpreter: it is dynamically linked and will not run on distroless/static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("binary links shared libraries %q", libs)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s version: %v\n%s", bin, err, out)
	}
	if !strings.Contains(string(out), testVersion) {
		t.Errorf("version printed %q, want it to contain %q (set through -ldflags -X)", out, testVersion)
	}
}

// TestSidecarArgsAreServeFlags runs the real binary with the sidecar's
// command and arguments plus --help: cobra parses every flag first, so an
// unknown or malformed flag in the manifests fails here instead of in a
// crash-looping pod.
func TestSidecarArgsAreServeFlags(t *testing.T) {
	bin := buildBinary(t)
	pod := repoServerDeployment(t, render(t, withComponent, nil)).Spec.Template.Spec
	c := container(t, &pod, sidecarName)
	args := append(append(slices.Clone(c.Command[1:]), c.Args...), "--help")
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("argocd-image-resolver %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	for _, a := range c.Args {
		name, _, _ := strings.Cut(a, "=")
		if !strings.Contains(string(out), name) {
			t.Errorf("serve --help does not list %s", name)
		}
	}
}

// makeVar returns the value of a simple `NAME := value` line of the
// Makefile.
func makeVar(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	assign := regexp.MustCompile(`^` + name + `\s*:?=\s*(.*)$`)
	for _, line := range strings.Split(string(data), "\n") {
		if m := assign.FindStringSubmatch(line); m != nil {
			return strings.TrimSpace(m[1])
		}
	}
	t.Fatalf("Makefile defines no %s", name)
	return ""
}

// TestDockerfileBuildsEveryPlatform: the build stage runs on the builder's
// platform and cross-compiles for the platform BuildKit asks for, and the
// multi-platform build the Dockerfile documents covers the Makefile's
// PLATFORMS, the same list `make release` builds.
func TestDockerfileBuildsEveryPlatform(t *testing.T) {
	platforms := strings.Fields(makeVar(t, "PLATFORMS"))
	if !slices.Equal(platforms, []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf("Makefile PLATFORMS = %q, want linux/amd64 and linux/arm64", platforms)
	}
	d := readDockerfile(t)
	if len(d.froms) == 0 || !strings.HasPrefix(d.froms[0], "--platform=$BUILDPLATFORM ") {
		t.Errorf("builder stage %q must run on --platform=$BUILDPLATFORM and cross-compile", d.froms)
	}
	words := shellWords(d.build)
	for k, v := range map[string]string{"GOOS": "$TARGETOS", "GOARCH": "$TARGETARCH"} {
		if !slices.Contains(words, k+"="+v) {
			t.Errorf("Dockerfile go build does not set %s=%s: %s", k, v, d.build)
		}
	}
	data, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, arg := range []string{"TARGETOS", "TARGETARCH"} {
		if !regexp.MustCompile(`(?m)^ARG ` + arg + `$`).Match(data) {
			t.Errorf("Dockerfile does not declare ARG %s in the build stage", arg)
		}
	}
	m := regexp.MustCompile(`(?m)^#.*docker buildx build --platform (\S+)`).FindSubmatch(data)
	if m == nil {
		t.Fatal("Dockerfile header documents no `docker buildx build --platform ...` for release images")
	}
	if got := strings.Split(string(m[1]), ","); !slices.Equal(got, platforms) {
		t.Errorf("Dockerfile documents platforms %q, Makefile PLATFORMS are %q", got, platforms)
	}
}

// TestManifestsPinOneRelease: both install paths run one released image
// tag, and every place that tells users where to fetch the component
// (README, docs, the component's own comment) names the same tag as its
// git ref, so an install is reproducible and upgrades are deliberate.
func TestManifestsPinOneRelease(t *testing.T) {
	const repo = "ghcr.io/argocd-image-resolver/argocd-image-resolver:"
	// A released version, optionally a pre-release; never a branch or
	// `latest`.
	releaseTag := regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`)
	pod := repoServerDeployment(t, render(t, withComponent, nil)).Spec.Template.Spec
	image := container(t, &pod, sidecarName).Image
	tag, ok := strings.CutPrefix(image, repo)
	if !ok || !releaseTag.MatchString(tag) {
		t.Fatalf("component image %q, want %s<release tag> such as v0.1.0", image, repo)
	}
	if got := loadHelmValues(t).RepoServer.ExtraContainers[0].Image; got != image {
		t.Errorf("helm-values.yaml image %q, the component's %q", got, image)
	}

	files := []string{"../README.md", "sidecar/kustomization.yaml"}
	docs, err := filepath.Glob("../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, docs...)
	ref := regexp.MustCompile(`//manifests/sidecar\?ref=([0-9A-Za-z._/-]+)`)
	found := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ref.FindAllSubmatch(data, -1) {
			found++
			if string(m[1]) != tag {
				t.Errorf("%s fetches the component at ?ref=%s, the manifests run image tag %s", f, m[1], tag)
			}
		}
	}
	if found == 0 {
		t.Error("no file shows the remote component URL with ?ref=<release>")
	}
}

// TestMakeRelease runs `make release` into a temporary folder: one static
// binary per platform of PLATFORMS, for the right architecture, reporting
// the version, and SHA256SUMS that match them.
func TestMakeRelease(t *testing.T) {
	if testing.Short() && os.Getenv("E2E_REQUIRED") != "1" {
		t.Skip("-short: skipping the release cross-builds")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	dist := t.TempDir()
	cmd := exec.Command("make", "-C", "..", "release", "VERSION="+testVersion, "DIST="+dist)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make release: %v\n%s", err, out)
	}
	sums, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q is not `<sha256>  <file>`", line)
		}
		listed[name] = sum
	}
	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	platforms := strings.Fields(makeVar(t, "PLATFORMS"))
	if len(listed) != len(platforms) {
		t.Errorf("SHA256SUMS lists %d files, want one per platform %q", len(listed), platforms)
	}
	for _, p := range platforms {
		goos, goarch, _ := strings.Cut(p, "/")
		name := "argocd-image-resolver-" + testVersion + "-" + goos + "-" + goarch
		path := filepath.Join(dist, name)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if got := fmt.Sprintf("%x", sha256.Sum256(data)); listed[name] != got {
			t.Errorf("SHA256SUMS has %q for %s, the file hashes to %s", listed[name], name, got)
		}
		f, err := elf.NewFile(bytes.NewReader(data))
		if err != nil {
			t.Errorf("%s is not an ELF binary: %v", name, err)
			continue
		}
		if want, ok := machines[goarch]; !ok || f.Machine != want {
			t.Errorf("%s is built for %v, want %v", name, f.Machine, want)
		}
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				t.Errorf("%s is dynamically linked", name)
			}
		}
		if goos == runtime.GOOS && goarch == runtime.GOARCH {
			out, err := exec.Command(path, "version").CombinedOutput()
			if err != nil || !strings.Contains(string(out), testVersion) {
				t.Errorf("%s version: %v %q, want it to report %s", name, err, out, testVersion)
			}
		}
	}
}
