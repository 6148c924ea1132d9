package manifests

import (
	"bufio"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
