package docs

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/argocd-image-resolver/argocd-image-resolver/ops"
	"github.com/argocd-image-resolver/argocd-image-resolver/plugin"
	"github.com/argocd-image-resolver/argocd-image-resolver/refresh"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
)

// The documented examples use ghcr.io/acme/...; the tests point that prefix at
// a loopback registry holding these repositories.
const exampleRegistryPrefix = "ghcr.io/acme/"

// registryFixture is an in-memory registry on loopback seeded with the
// repositories the documented commands use.
type registryFixture struct{ host string }

func newRegistryFixture(t *testing.T) *registryFixture {
	t.Helper()
	fx := &registryFixture{host: registrytest.New(t).Host()}
	day := func(d int) time.Time { return time.Date(2024, time.June, d, 12, 0, 0, 0, time.UTC) }
	for i, tag := range []string{"1.5.0", "1.6.0", "1.6.3", "1.7.0", "2.0.0-rc.1", "latest"} {
		fx.push(t, "acme/web:"+tag, day(i+1), "linux/amd64")
	}
	fx.push(t, "acme/job:main-20240601", day(1), "linux/amd64", "linux/arm64")
	fx.push(t, "acme/job:main-20240605", day(5), "linux/amd64")
	fx.push(t, "acme/job:pr-12", day(7), "linux/amd64", "linux/arm64")
	fx.push(t, "acme/api:v1", day(2), "linux/amd64")
	fx.push(t, "acme/api:main", day(3), "linux/amd64")
	return fx
}

// push uploads a random image built at created for the platforms (an index
// when there are several).
func (fx *registryFixture) push(t *testing.T, repoTag string, created time.Time, platforms ...string) {
	t.Helper()
	registrytest.Push(t, fx.host+"/"+repoTag, registrytest.Created(created), registrytest.Platforms(platforms...))
}

// shellLines returns the commands of a sh block: comment and blank lines
// dropped, backslash continuations joined.
func shellLines(body string) []string {
	var out []string
	var cur strings.Builder
	for _, l := range strings.Split(body, "\n") {
		trimmed := strings.TrimSpace(l)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, `\`) {
			cur.WriteString(strings.TrimSpace(strings.TrimSuffix(trimmed, `\`)))
			cur.WriteString(" ")
			continue
		}
		cur.WriteString(trimmed)
		out = append(out, strings.TrimSpace(cur.String()))
		cur.Reset()
	}
	if cur.Len() > 0 {
		out = append(out, strings.TrimSpace(cur.String()))
	}
	return out
}

// splitWords splits a command line as a POSIX shell would for the simple
// forms the docs use: single and double quotes, backslash escapes, and
// an unquoted # starting a comment.
func splitWords(line string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unclosed ' in %q", line)
			}
			w.WriteString(line[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' && i+1 < len(line) && strings.ContainsRune(`"\$`+"`", rune(line[i+1])) {
					i++
				}
				w.WriteByte(line[i])
			}
			if i >= len(line) {
				return nil, fmt.Errorf(`unclosed " in %q`, line)
			}
			inWord = true
		case c == '\\' && i+1 < len(line):
			i++
			w.WriteByte(line[i])
			inWord = true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case c == '#' && !inWord:
			i = len(line)
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// Commands that need a Kubernetes cluster: they are shown for people to run
// and only their file arguments are checked here.
var clusterCommands = map[string]string{
	"kubectl": "talks to the cluster's API server",
	"helm":    "installs into a cluster",
	"argocd":  "talks to a running Argo CD",
}

// argocd-image-resolver subcommands the test does not run, with the reason;
// their subcommand and flags are still checked.
var notRun = map[string]string{
	"serve": "binds the plugin socket and service ports; test/e2e runs it beside a real argocd-repo-server",
}

// expectations are output fragments that documented commands must print
// (the command as written in the docs).
var expectations = map[string]string{
	`argocd-image-resolver resolve 'web=ghcr.io/acme/web:~1.6'`:                                                                                                                 "1.6.3",
	`argocd-image-resolver resolve 'web=ghcr.io/acme/web:~1.6' -o json`:                                                                                                         `"tag": "1.6.3"`,
	`argocd-image-resolver resolve 'web=ghcr.io/acme/web' --option 'web.ignore-tags=*-rc*,latest'`:                                                                              "1.7.0",
	`argocd-image-resolver resolve 'web=ghcr.io/acme/web:~1.6' --option web.pin=tag+digest`:                                                                                     "tag+digest → ghcr.io/acme/web:1.6.3@sha256:",
	`argocd-image-resolver resolve 'api=ghcr.io/acme/api:main' --option api.update-strategy=digest`:                                                                             "sha256:",
	`argocd-image-resolver resolve 'web=ghcr.io/acme/web:~1.8' --max-candidates 3`:                                                                                              "... 3 more (--max-candidates)",
	`argocd-image-resolver generate examples/web --image 'web=ghcr.io/acme/web:~1.6' --set image.overrideTag=1.5.0`:                                                             "ghcr.io/acme/web:1.5.0",
	`argocd-image-resolver generate examples/web --image 'web=ghcr.io/acme/web:~1.6' --option web.pin=tag+digest --set replicaCount=1`:                                          "ghcr.io/acme/web:1.6.3@sha256:",
	`argocd-image-resolver generate examples/web --image 'web=ghcr.io/acme/web:~1.6' --inline-values 'replicaCount: 1' --skip-crds`:                                             "replicas: 1",
	`argocd-image-resolver generate --app examples/applications/web.yaml`:                                                                                                       `image: "ghcr.io/acme/web:1.6.3"`,
	`argocd-image-resolver generate --app examples/applications/web-tag-digest.yaml`:                                                                                            `image: "ghcr.io/acme/web:1.6.3@sha256:`,
	`argocd-image-resolver resolve 'job=ghcr.io/acme/job' --option job.update-strategy=newest-build --option 'job.allow-tags=regexp:^main-' --option job.platforms=linux/arm64`: "main-20240601",
}

// failures are documented commands that exit non-zero on purpose, with a
// fragment of their error.
var failures = map[string]string{
	`argocd-image-resolver resolve 'web=ghcr.io/acme/web:~1.8' --max-candidates 3`: "none of 6 tags",
}

// recordingWaker records the repositories a webhook woke the refresher for.
type recordingWaker struct {
	mu    sync.Mutex
	repos []string
}

func (w *recordingWaker) Wake(repo string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.repos = append(w.repos, repo)
}

func (w *recordingWaker) woken() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.repos...)
}

// pluginFixture is a loopback registry plus the HTTP endpoints of a running
// plugin (debug and webhook), for the cache and notify commands.
type pluginFixture struct {
	*registryFixture
	debugURL       string
	webhookURL     string
	openWebhookURL string
	secretFile     string
	registriesConf string
	waker          *recordingWaker
}

func newPluginFixture(t *testing.T) *pluginFixture {
	t.Helper()
	fx := &pluginFixture{registryFixture: newRegistryFixture(t), waker: &recordingWaker{}}
	r, err := resolve.New()
	if err != nil {
		t.Fatal(err)
	}
	// Warm the cache, as renders would, so that cache list shows entries.
	specs, err := resolve.ParseSpecs([]string{"web=" + fx.host + "/acme/web:~1.6"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := r.Resolve(ctx, specs); err != nil {
		t.Fatal(err)
	}
	debug := httptest.NewServer(ops.NewDebugHandler(r, refresh.NewTracker(), nil))
	t.Cleanup(debug.Close)
	fx.debugURL = debug.URL

	secret := []byte("readme-webhook-secret")
	fx.secretFile = filepath.Join(t.TempDir(), "webhook-secret")
	if err := os.WriteFile(fx.secretFile, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	wh, err := ops.NewWebhookHandler(r, fx.waker, ops.WithWebhookSecret(secret),
		ops.WithWebhookLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	hook := httptest.NewServer(wh)
	t.Cleanup(hook.Close)
	fx.webhookURL = hook.URL

	// The local serve of "Try it locally" takes webhooks without a secret.
	open, err := ops.NewWebhookHandler(r, fx.waker, ops.WithInsecureNoAuth(),
		ops.WithWebhookLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	openHook := httptest.NewServer(open)
	t.Cleanup(openHook.Close)
	fx.openWebhookURL = openHook.URL

	// ghcr.io answers from the loopback registry: documented resolve and
	// generate commands run unchanged, Application files included.
	fx.registriesConf = filepath.Join(t.TempDir(), "registries.conf")
	conf := "registries:\n- name: ghcr.io on loopback\n  prefix: ghcr.io\n  api_url: http://" + fx.host + "\n"
	if err := os.WriteFile(fx.registriesConf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return fx
}

// substitute points the documented endpoints at the fixture, and the
// registry lookups of resolve and generate at the loopback registry.
func (fx *pluginFixture) substitute(args []string) []string {
	r := strings.NewReplacer(
		"http://127.0.0.1:8082", fx.debugURL,
		"http://127.0.0.1:8080", fx.openWebhookURL,
		"http://argocd-image-resolver.argocd.svc:8080", fx.webhookURL,
		"/run/secrets/image-resolver-webhook", fx.secretFile,
	)
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = r.Replace(a)
	}
	if len(out) > 0 && (out[0] == "resolve" || out[0] == "generate") {
		out = append(out, "--registries-conf", fx.registriesConf)
	}
	return out
}

// runCurl sends a documented curl command to the fixture's webhook
// handler (the command's flags -X, -H and -d, and its URL) and checks the
// answer is 200.
func (fx *pluginFixture) runCurl(t *testing.T, words []string) {
	t.Helper()
	method, body, target := http.MethodGet, "", ""
	header := http.Header{}
	for i := 1; i < len(words); i++ {
		w := words[i]
		next := func() string {
			if i+1 >= len(words) {
				t.Fatalf("curl %s without a value", w)
			}
			i++
			return words[i]
		}
		switch w {
		case "-X", "--request":
			method = next()
		case "-H", "--header":
			k, v, _ := strings.Cut(next(), ":")
			header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		case "-d", "--data", "--data-raw":
			body = next()
			if method == http.MethodGet {
				method = http.MethodPost
			}
		default:
			if strings.HasPrefix(w, "-") {
				t.Fatalf("curl flag %s: teach this test what it does", w)
			}
			target = fx.substitute([]string{w})[0]
		}
	}
	if !strings.HasPrefix(target, fx.openWebhookURL) {
		t.Fatalf("curl %v: only the local webhook (http://127.0.0.1:8080/webhook) is known to this test", words)
	}
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(answer), `"repositories"`) {
		t.Errorf("%s: %d %s, want 200 with the repositories invalidated", strings.Join(words, " "), resp.StatusCode, answer)
	}
}

// checkCommandTree verifies, without running it, that the subcommand of
// args exists and that every flag used is one of its flags.
func checkCommandTree(t *testing.T, args []string) *cobra.Command {
	t.Helper()
	root := plugin.NewRootCommand()
	cmd, rest, err := root.Find(args)
	if err != nil {
		t.Errorf("%v: %v", args, err)
		return nil
	}
	if cmd == root {
		t.Errorf("%v: no subcommand", args)
		return nil
	}
	cmd.InitDefaultHelpFlag()
	if err := cmd.ParseFlags(rest); err != nil {
		t.Errorf("%v: %s: %v", args, cmd.CommandPath(), err)
		return cmd
	}
	for _, a := range rest {
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			continue
		}
		var found bool
		if long, ok := strings.CutPrefix(a, "--"); ok {
			long, _, _ = strings.Cut(long, "=")
			found = cmd.Flags().Lookup(long) != nil || cmd.InheritedFlags().Lookup(long) != nil
		} else {
			short := a[1:2]
			found = cmd.Flags().ShorthandLookup(short) != nil || cmd.InheritedFlags().ShorthandLookup(short) != nil
		}
		if !found {
			t.Errorf("%v: %s has no flag %s", args, cmd.CommandPath(), a)
		}
	}
	return cmd
}

// run executes the command line in process and returns its output; a
// command with a documented failure must fail with it.
func run(t *testing.T, args []string, failure string) string {
	t.Helper()
	root := plugin.NewRootCommand()
	var out, errOut bytes.Buffer
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errOut)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := root.ExecuteContext(ctx)
	switch {
	case failure != "" && (err == nil || !strings.Contains(err.Error(), failure)):
		t.Errorf("argocd-image-resolver %s: %v, want a failure containing %q", strings.Join(args, " "), err, failure)
	case failure == "" && err != nil:
		t.Errorf("argocd-image-resolver %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String()
}

// envAssignments splits leading NAME=value words off a command line.
func envAssignments(words []string) (map[string]string, []string) {
	env := map[string]string{}
	for len(words) > 0 {
		name, value, ok := strings.Cut(words[0], "=")
		if !ok || name == "" || strings.ContainsAny(name, "-./") {
			break
		}
		env[name] = value
		words = words[1:]
	}
	return env, words
}

// makeTargets lists the targets the Makefile defines.
func makeTargets(t *testing.T) map[string]string {
	t.Helper()
	mk := readFile(t, "Makefile")
	targets := map[string]string{}
	lines := strings.Split(mk, "\n")
	rule := regexp.MustCompile(`^([A-Za-z0-9_-]+):([^=]|$)`)
	for i, l := range lines {
		m := rule.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		var recipe []string
		for _, r := range lines[i+1:] {
			if !strings.HasPrefix(r, "\t") {
				break
			}
			recipe = append(recipe, strings.TrimSpace(r))
		}
		targets[m[1]] = strings.Join(recipe, "\n")
	}
	return targets
}

// TestMakeTargetsInDocsExist checks every `make <target>` the pages name
// in prose (commands in sh blocks are checked by TestShellCommandsInDocs).
func TestMakeTargetsInDocsExist(t *testing.T) {
	targets := makeTargets(t)
	named := 0
	for _, pg := range pages(t) {
		for _, m := range regexp.MustCompile("`make ([a-z][a-z0-9_-]*)`").FindAllStringSubmatch(pg.text, -1) {
			named++
			if _, ok := targets[m[1]]; !ok {
				t.Errorf("%s names `make %s`, which the Makefile does not define", pg.rel, m[1])
			}
		}
	}
	if named == 0 {
		t.Fatal("the docs name no make target")
	}
}

// TestShellCommandsInDocs checks every line of every sh block of every
// page.
//
//   - argocd-image-resolver ...: the subcommand and each flag must exist;
//     commands that need no cluster run in process, with ghcr.io answered by
//     a loopback registry and the plugin's debug and webhook endpoints
//     served by the real handlers; leading NAME=value words set the
//     environment;
//   - curl: sent to the real webhook handler, which must accept it;
//   - make <target>: the target exists; `make demo` runs its recipe's
//     command in process; `make test` is what .ci/run runs; `make build` is
//     the BUILD_CMD that manifests/image_test.go builds and runs;
//   - .ci/run: exists, is executable and runs make test;
//   - kubectl, helm: need a cluster (clusterCommands); their -f/-k files
//     must exist.
//
// Any other command fails the test.
func TestShellCommandsInDocs(t *testing.T) {
	root := repoRoot(t)
	t.Chdir(root)
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	for _, k := range []string{"ARGOCD_APP_PARAMETERS", "ARGOCD_ENV_IMAGE_LIST", "ARGOCD_APP_NAME", "ARGOCD_APP_NAMESPACE", "ARGOCD_APP_SOURCE_PATH", "KUBE_VERSION", "KUBE_API_VERSIONS"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	fx := newPluginFixture(t)
	targets := makeTargets(t)

	var ran, checked []string
	seenExpect := map[string]bool{}
	curls := 0
	for _, pg := range pages(t) {
		for _, f := range fences(pg.text) {
			if f.lang != "sh" {
				continue
			}
			for _, line := range shellLines(f.body) {
				words, err := splitWords(line)
				if err != nil {
					t.Errorf("%s line %d: %v", pg.rel, f.line, err)
					continue
				}
				env, words := envAssignments(words)
				if len(words) == 0 {
					continue
				}
				where := fmt.Sprintf("%s line %d", pg.rel, f.line)
				switch words[0] {
				case "argocd-image-resolver":
					cmd := checkCommandTree(t, words[1:])
					if cmd == nil {
						continue
					}
					top := strings.Fields(strings.TrimPrefix(cmd.CommandPath(), "argocd-image-resolver "))[0]
					if reason, skip := notRun[top]; skip && !slices.Contains(words, "--help") {
						t.Logf("not run (%s): %s", reason, line)
						checked = append(checked, line)
						continue
					}
					cmdLine := line
					t.Run(where, func(t *testing.T) {
						for k, v := range env {
							t.Setenv(k, v)
						}
						out := run(t, fx.substitute(words[1:]), failures[cmdLine])
						if want, ok := expectations[cmdLine]; ok {
							seenExpect[cmdLine] = true
							if !strings.Contains(out, want) {
								t.Errorf("%s\nprinted:\n%s\nwant it to contain %q", line, out, want)
							}
						}
					})
					ran = append(ran, line)
				case "curl":
					fx.runCurl(t, words)
					curls++
					ran = append(ran, line)
				case "make":
					if len(words) != 2 {
						t.Errorf("%s: %q: name one target", where, line)
						continue
					}
					recipe, ok := targets[words[1]]
					if !ok {
						t.Errorf("%s: make %s: no such target", where, words[1])
						continue
					}
					switch words[1] {
					case "demo":
						args, ok := strings.CutPrefix(recipe, "go run . ")
						if !ok {
							t.Errorf("make demo runs %q; this test expects `go run . <args>`", recipe)
							continue
						}
						out := run(t, strings.Fields(args), "")
						if !strings.Contains(out, "1.6.3 → 1.6.4") {
							t.Errorf("make demo did not show the change 1.6.3 → 1.6.4:\n%s", out)
						}
						ran = append(ran, line)
					case "test":
						if !strings.Contains(readFile(t, ".ci/run"), "make test") {
							t.Error(".ci/run does not run make test")
						}
						checked = append(checked, line)
					case "build":
						if !strings.Contains(readFile(t, "Makefile"), "BUILD_CMD") || !strings.Contains(recipe, "$(BUILD_CMD)") {
							t.Errorf("make build runs %q; manifests/image_test.go builds BUILD_CMD, keep the target on it", recipe)
						}
						checked = append(checked, line)
					default:
						t.Errorf("%s: make %s is neither run nor covered by this test", where, words[1])
					}
				case ".ci/run":
					fi, err := os.Stat(filepath.Join(root, ".ci", "run"))
					if err != nil || fi.Mode()&0o111 == 0 {
						t.Errorf(".ci/run must exist and be executable: %v", err)
					}
					checked = append(checked, line)
				default:
					if _, ok := clusterCommands[words[0]]; !ok {
						t.Errorf("%s: %q: no rule checks this command; add one to this test", where, line)
						continue
					}
					for i, w := range words {
						if (w == "-f" || w == "-k") && i+1 < len(words) {
							if _, err := os.Stat(filepath.Join(root, words[i+1])); err != nil && words[i+1] != "." {
								t.Errorf("%s: %s %s: %v", where, w, words[i+1], err)
							}
						}
					}
					checked = append(checked, line)
				}
			}
		}
	}
	for line := range expectations {
		if !seenExpect[line] {
			t.Errorf("expectation for a command the docs no longer have (or did not run): %s", line)
		}
	}
	for line := range failures {
		if _, ok := expectations[line]; !ok {
			t.Errorf("documented failure without an expectation: %s", line)
		}
	}
	if len(ran) < 20 {
		t.Errorf("ran only %d documented commands: %v", len(ran), ran)
	}
	if curls < len(resolve.WebhookProviders()) {
		t.Errorf("the docs show %d curl payloads, want one for each of %v", curls, resolve.WebhookProviders())
	}
	wantRepo := fx.host + "/acme/web"
	if woken := fx.waker.woken(); !slices.Contains(woken, wantRepo) && !slices.Contains(woken, "ghcr.io/acme/web") {
		t.Errorf("notify woke %v, want %s", woken, wantRepo)
	}
	t.Logf("ran %d commands, checked %d more", len(ran), len(checked))
}

// TestSplitWords pins down the shell splitting the command test relies on.
func TestSplitWords(t *testing.T) {
	tests := []struct {
		line string
		want []string
	}{
		{`a b  c`, []string{"a", "b", "c"}},
		{`resolve 'web=x:~1.6' -o json`, []string{"resolve", "web=x:~1.6", "-o", "json"}},
		{`a "b c" d\ e`, []string{"a", "b c", "d e"}},
		{`a 'regexp:^main-' # note`, []string{"a", "regexp:^main-"}},
		{`a x#y`, []string{"a", "x#y"}},
		{`a "x\"y"`, []string{"a", `x"y`}},
	}
	for _, tt := range tests {
		got, err := splitWords(tt.line)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("splitWords(%q) = %q, %v; want %q", tt.line, got, err, tt.want)
		}
	}
	if _, err := splitWords(`a 'b`); err == nil {
		t.Error("an unclosed quote must fail")
	}
	if got := shellLines("# c\n\nx \\\n  y\nz\n"); !slices.Equal(got, []string{"x y", "z"}) {
		t.Errorf("shellLines = %q", got)
	}
}
