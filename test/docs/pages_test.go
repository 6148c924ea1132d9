package docs

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"gopkg.in/yaml.v3"
	"helm.sh/helm/v3/pkg/chart"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/argocd-image-resolver/argocd-image-resolver/cmp"
	"github.com/argocd-image-resolver/argocd-image-resolver/ops"
	"github.com/argocd-image-resolver/argocd-image-resolver/refresh"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
	"github.com/argocd-image-resolver/argocd-image-resolver/rewrite"
	"github.com/argocd-image-resolver/argocd-image-resolver/store"
	"github.com/argocd-image-resolver/argocd-image-resolver/worker"
)

// repoRoot is the repository root, two levels above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

func readFile(t *testing.T, rel string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// page is one Markdown file the docs tests check: README.md or a page
// under docs/. Pages added by anyone are checked the same way.
type page struct {
	rel  string // path from the repository root
	text string
}

func readme(t *testing.T) string { return readFile(t, "README.md") }

// pages returns README.md and every docs/*.md, sorted by path.
func pages(t *testing.T) []page {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	out := []page{{rel: "README.md", text: readFile(t, "README.md")}}
	for _, f := range files {
		rel := filepath.ToSlash(strings.TrimPrefix(f, repoRoot(t)+string(filepath.Separator)))
		out = append(out, page{rel: rel, text: readFile(t, rel)})
	}
	if len(out) < 2 {
		t.Fatal("no docs/*.md pages")
	}
	return out
}

// fence is one fenced code block of a page.
type fence struct {
	lang string
	line int // 1-based line of the opening fence
	body string
}

// fences returns every fenced code block, with the fence's indentation
// removed from its lines (blocks may sit inside list items).
func fences(text string) []fence {
	var out []fence
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		trimmed := strings.TrimLeft(lines[i], " ")
		if !strings.HasPrefix(trimmed, "```") {
			continue
		}
		indent := len(lines[i]) - len(trimmed)
		f := fence{lang: strings.TrimSpace(strings.TrimPrefix(trimmed, "```")), line: i + 1}
		var body []string
		for i++; i < len(lines); i++ {
			if strings.HasPrefix(strings.TrimLeft(lines[i], " "), "```") {
				break
			}
			l := lines[i]
			if len(l) >= indent && strings.TrimSpace(l[:indent]) == "" {
				l = l[indent:]
			}
			body = append(body, l)
		}
		f.body = strings.Join(body, "\n")
		out = append(out, f)
	}
	return out
}

// section returns the text between <!-- name:start --> and
// <!-- name:end --> in text.
func section(t *testing.T, text, name string) string {
	t.Helper()
	start, end := "<!-- "+name+":start -->", "<!-- "+name+":end -->"
	i := strings.Index(text, start)
	j := strings.Index(text, end)
	if i < 0 || j < i {
		t.Fatalf("no %s ... %s section", start, end)
	}
	return text[i+len(start) : j]
}

// docSection is section in the one page (README.md or docs/*.md) that
// holds it, wherever that page is.
func docSection(t *testing.T, name string) string {
	t.Helper()
	start := "<!-- " + name + ":start -->"
	var found []page
	for _, p := range pages(t) {
		if strings.Contains(p.text, start) {
			found = append(found, p)
		}
	}
	if len(found) != 1 {
		var where []string
		for _, p := range found {
			where = append(where, p.rel)
		}
		t.Fatalf("want exactly one page with a %s section, found %v", start, where)
	}
	return section(t, found[0].text, name)
}

// tableRows parses a Markdown table into cells (header and separator
// skipped). Cells are trimmed; `\|` is not supported and not used.
func tableRows(t *testing.T, table string, columns int) [][]string {
	t.Helper()
	var rows [][]string
	for _, line := range strings.Split(strings.TrimSpace(table), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, "|") || !strings.HasSuffix(line, "|") {
			t.Fatalf("not a table row: %q", line)
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != columns {
			t.Fatalf("row has %d cells, want %d: %q", len(cells), columns, line)
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		rows = append(rows, cells)
	}
	if len(rows) < 2 {
		t.Fatalf("table has no rows: %q", table)
	}
	return rows[2:]
}

var markdownEscape = regexp.MustCompile(`\\([!-/:-@\[-` + "`" + `{-~])`)

// plain undoes Markdown backslash escapes and a code span around the whole
// cell.
func plain(cell string) string {
	if strings.HasPrefix(cell, "`") && strings.HasSuffix(cell, "`") && strings.Count(cell, "`") == 2 {
		return strings.Trim(cell, "`")
	}
	return markdownEscape.ReplaceAllString(cell, "$1")
}

// pluginYAML is the part of plugin.yaml the docs document.
type pluginYAML struct {
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		Version    string `yaml:"version"`
		Parameters struct {
			Static []struct {
				Name           string `yaml:"name"`
				Title          string `yaml:"title"`
				Tooltip        string `yaml:"tooltip"`
				CollectionType string `yaml:"collectionType"`
				ItemType       string `yaml:"itemType"`
			} `yaml:"static"`
		} `yaml:"parameters"`
	} `yaml:"spec"`
}

func loadPluginYAML(t *testing.T) pluginYAML {
	t.Helper()
	var p pluginYAML
	if err := yaml.Unmarshal([]byte(readFile(t, "plugin.yaml")), &p); err != nil {
		t.Fatalf("plugin.yaml: %v", err)
	}
	if len(p.Spec.Parameters.Static) == 0 {
		t.Fatal("plugin.yaml has no static parameters")
	}
	return p
}

// kindOf is how the docs write a parameter's kind: the collection type,
// with the item type when it is not a plain string.
func kindOf(collection, item string) string {
	if collection == "" {
		collection = "string"
	}
	if item != "" && item != "string" {
		return collection + " (" + item + ")"
	}
	return collection
}

// TestParameterTableMatchesPluginYAML keeps the docs' parameter table a
// copy of plugin.yaml's static parameters: same order, names, kinds,
// titles and tooltips.
func TestParameterTableMatchesPluginYAML(t *testing.T) {
	p := loadPluginYAML(t)
	rows := tableRows(t, docSection(t, "parameters"), 4)
	if len(rows) != len(p.Spec.Parameters.Static) {
		t.Errorf("the docs list %d parameters, plugin.yaml %d", len(rows), len(p.Spec.Parameters.Static))
	}
	for i, want := range p.Spec.Parameters.Static {
		if i >= len(rows) {
			t.Errorf("the docs lack parameter %q", want.Name)
			continue
		}
		got := rows[i]
		wantRow := []string{want.Name, kindOf(want.CollectionType, want.ItemType), want.Title, want.Tooltip}
		for c, col := range []string{"parameter", "kind", "title", "description"} {
			if plain(got[c]) != wantRow[c] {
				t.Errorf("parameter %d (%s) %s:\n docs:        %q\n plugin.yaml: %q", i, want.Name, col, plain(got[c]), wantRow[c])
			}
		}
	}
}

// TestOptionsTableMatchesResolve lists exactly the per-alias options the
// spec parser accepts, and each documented value parses.
func TestOptionsTableMatchesResolve(t *testing.T) {
	rows := tableRows(t, docSection(t, "options"), 3)
	var got []string
	for _, r := range rows {
		got = append(got, plain(r[0]))
	}
	want := resolve.OptionNames()
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("documented options %v\nresolve accepts %v", got, want)
	}
	for _, opt := range got {
		value := map[string]string{
			resolve.OptUpdateStrategy: "semver", resolve.OptAllowTags: "any", resolve.OptIgnoreTags: "*-debug",
			resolve.OptPlatforms: "linux/amd64", resolve.OptPullSecret: "team-a", resolve.OptOverrideTag: "1.5.0",
			resolve.OptPin: "tag+digest", resolve.OptStrictSemver: "false", resolve.OptHelmCreatePaths: "true",
			resolve.OptCheckRendered: "false", resolve.OptMinAge: "24h", resolve.OptMinAgeSource: "created",
			resolve.OptVerify: "ci-keyless", resolve.OptFollow: "web-staging", resolve.OptFollowMinAge: "2h",
			resolve.OptAnnotate: "true", resolve.OptRewrite: "true",
		}[opt]
		if value == "" {
			value = "image.x"
		}
		options := map[string]string{"web." + opt: value}
		if opt == resolve.OptFollowMinAge {
			options["web."+resolve.OptFollow] = "web-staging"
		}
		if _, err := resolve.ParseSpecs([]string{"web=ghcr.io/acme/web"}, options); err != nil {
			t.Errorf("option %s=%s: %v", opt, value, err)
		}
	}
}

// fakeBackend stands in for a trigger backend; only its name is used here.
type fakeBackend struct{}

func (fakeBackend) Name() string                               { return "kubernetes" }
func (fakeBackend) Refresh(context.Context, refresh.App) error { return nil }

// TestMetricsTableMatchesCode registers the collectors of every package the
// way serve does, exercises them, and compares names, types and label names
// with the docs' metrics table, both ways.
func TestMetricsTableMatchesCode(t *testing.T) {
	reg := prometheus.NewRegistry()
	fx := newRegistryFixture(t)
	r, err := resolve.New(resolve.WithMetrics(reg))
	if err != nil {
		t.Fatal(err)
	}
	specs, err := resolve.ParseSpecs([]string{"web=" + fx.host + "/acme/web:~1.6"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := r.Resolve(ctx, specs); err != nil {
		t.Fatal(err)
	}
	// As serve wires them: registered, and observed only where the code
	// observes them (a collector with no observation exports nothing).
	ops.NewMetrics(reg).ObserveRender(time.Second, nil)
	refresh.NewRefresher(refresh.NewTracker(), r, fakeBackend{}, refresh.WithMetrics(refresh.NewMetrics(reg)))
	// With Redis configured.
	store.NewMetrics(reg)
	workers := worker.NewMetrics(reg)
	workers.Started.Inc()
	workers.Killed.Inc()
	workers.ChartLoads.Inc()

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	code := map[string]string{}
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "argocd_image_resolver_") {
			continue
		}
		labels := map[string]bool{}
		for _, metric := range f.GetMetric() {
			for _, l := range metric.GetLabel() {
				labels[l.GetName()] = true
			}
		}
		names := make([]string, 0, len(labels))
		for l := range labels {
			names = append(names, l)
		}
		sort.Strings(names)
		typ := map[dto.MetricType]string{dto.MetricType_COUNTER: "counter", dto.MetricType_HISTOGRAM: "histogram", dto.MetricType_GAUGE: "gauge"}[f.GetType()]
		code[f.GetName()] = typ + " " + strings.Join(names, ",")
	}

	documented := map[string]string{}
	for _, row := range tableRows(t, docSection(t, "metrics"), 4) {
		var labels []string
		for _, l := range strings.Split(row[2], ",") {
			if l = plain(strings.TrimSpace(l)); l != "" {
				labels = append(labels, l)
			}
		}
		sort.Strings(labels)
		documented[plain(row[0])] = row[1] + " " + strings.Join(labels, ",")
	}
	for name, want := range code {
		got, ok := documented[name]
		switch {
		case !ok:
			t.Errorf("metric %s (%s) is not in the docs", name, want)
		case got != want:
			t.Errorf("metric %s: the docs say %q, code has %q", name, got, want)
		}
	}
	for name := range documented {
		if _, ok := code[name]; !ok {
			t.Errorf("the docs document metric %s, which the code does not register", name)
		}
	}
}

// TestYAMLExamplesAreValid feeds every YAML example to the code that would
// read it: Applications and parameter fragments to the parameter and spec
// parsers, registries.conf to its parser, the repository file to the
// configuration loader, the kustomization to the component it names, and
// the chart template line to the example chart.
func TestYAMLExamplesAreValid(t *testing.T) {
	p := loadPluginYAML(t)
	root := repoRoot(t)
	blocks := 0
	for _, pg := range pages(t) {
		for _, f := range fences(pg.text) {
			if f.lang != "yaml" {
				continue
			}
			blocks++
			t.Run(pg.rel+":"+strconv.Itoa(f.line), func(t *testing.T) { checkYAMLExample(t, p, root, pg, f) })
		}
	}
	if blocks < 8 {
		t.Errorf("found only %d YAML blocks", blocks)
	}
}

// checkYAMLExample hands one YAML block to the code that reads its kind.
func checkYAMLExample(t *testing.T, p pluginYAML, root string, pg page, f fence) {
	t.Helper()
	{
		{
			var doc any
			if err := yaml.Unmarshal([]byte(f.body), &doc); err != nil {
				t.Fatalf("%s line %d: not valid YAML: %v", pg.rel, f.line, err)
			}
			switch {
			case strings.HasPrefix(f.body, "# "+cmp.RepoConfigFile):
				checkRepoConfigFile(t, f.body)
			case isKind(doc, "Application"), hasKey(doc, "spec") && !hasKey(doc, "kind"):
				checkApplication(t, p, doc)
			case isKind(doc, "Kustomization"):
				checkKustomization(t, root, doc)
			case hasKey(doc, "dependencies") && strings.HasPrefix(f.body, "# ") && strings.Contains(f.body, "Chart.yaml"):
				var md chart.Metadata
				if err := sigsyaml.Unmarshal([]byte(f.body), &md); err != nil {
					t.Fatalf("Chart.yaml example: %v", err)
				}
				if err := md.Validate(); err != nil {
					t.Errorf("Chart.yaml example: %v", err)
				}
			case hasKey(doc, "image-options"):
				checkImageOptions(t, doc)
			case hasKey(doc, "images"):
				// serve --image-fields
				if _, err := rewrite.ParseFields([]byte(f.body)); err != nil {
					t.Errorf("image fields example: %v", err)
				}
			case hasKey(doc, "registries"), hasKey(doc, "allowed"), hasKey(doc, "projects"),
				hasKey(doc, "signature-policies"), hasKey(doc, "follow"):
				if _, err := resolve.ParseRegistriesConfig([]byte(f.body)); err != nil {
					t.Errorf("registries.conf example: %v", err)
				}
			case isObject(doc):
				// Another Kubernetes object (a ConfigMap of Argo CD, say):
				// well-formed here; the page's own test checks its content.
			case hasKey(doc, "image"):
				tpl := readFile(t, "examples/web/templates/deployment.yaml")
				line := strings.TrimSpace(f.body)
				if !strings.Contains(tpl, line) {
					t.Errorf("the template line is not the one of examples/web/templates/deployment.yaml:\n%s", line)
				}
			default:
				list, ok := doc.([]any)
				if !ok {
					t.Fatalf("%s line %d: YAML block of unknown purpose; teach this test to check it", pg.rel, f.line)
				}
				checkParameters(t, p, list)
			}
		}
	}
}

// checkImageOptions parses an `image-options:` excerpt as the options of
// the alias it names (images ghcr.io/acme/<alias>).
func checkImageOptions(t *testing.T, doc any) {
	t.Helper()
	raw, _ := doc.(map[string]any)["image-options"].(map[string]any)
	options := map[string]string{}
	aliases := map[string]bool{}
	for k, v := range raw {
		options[k] = fmt.Sprint(v)
		alias, _, _ := strings.Cut(k, ".")
		aliases[alias] = true
	}
	var images []string
	for a := range aliases {
		images = append(images, a+"=ghcr.io/acme/"+a)
	}
	if _, err := resolve.ParseSpecs(images, options); err != nil {
		t.Errorf("image-options example: %v", err)
	}
}

// isObject reports whether doc is a Kubernetes object: apiVersion, kind
// and a named metadata.
func isObject(doc any) bool {
	m, ok := doc.(map[string]any)
	if !ok {
		return false
	}
	md, _ := m["metadata"].(map[string]any)
	return m["apiVersion"] != nil && m["kind"] != nil && md["name"] != nil
}

func isKind(doc any, kind string) bool {
	m, ok := doc.(map[string]any)
	return ok && m["kind"] == kind
}

func hasKey(doc any, key string) bool {
	m, ok := doc.(map[string]any)
	if !ok {
		return false
	}
	_, has := m[key]
	return has
}

// checkApplication checks the plugin sources of an Application (or of
// its spec alone, as a page may show just spec.sources): each names the
// plugin and its parameters pass the plugin's loader.
func checkApplication(t *testing.T, p pluginYAML, doc any) {
	t.Helper()
	spec, _ := doc.(map[string]any)["spec"].(map[string]any)
	var sources []any
	if source, ok := spec["source"]; ok {
		sources = append(sources, source)
	}
	multi, _ := spec["sources"].([]any)
	sources = append(sources, multi...)
	// Argo CD names the socket (and so the plugin) <name>-<version> when
	// plugin.yaml sets a version, <name> otherwise.
	want := p.Metadata.Name
	if p.Spec.Version != "" {
		want += "-" + p.Spec.Version
	}
	plugins := 0
	for _, src := range sources {
		source, _ := src.(map[string]any)
		plugin, _ := source["plugin"].(map[string]any)
		if plugin == nil {
			continue
		}
		plugins++
		if plugin["name"] != want {
			t.Errorf("Application example names plugin %v; the socket is %s.sock, so the name is %s", plugin["name"], want, want)
		}
		params, _ := plugin["parameters"].([]any)
		checkParameters(t, p, params)
	}
	if plugins == 0 {
		t.Fatal("Application example has no source that uses the plugin")
	}
}

// checkParameters feeds a list of plugin parameters to the plugin's own
// configuration loader, encoded as Argo CD encodes them, and the images and
// options to the spec parser, with a value path for each alias when there
// are several.
func checkParameters(t *testing.T, p pluginYAML, params []any) {
	t.Helper()
	if len(params) == 0 {
		t.Fatal("no parameters")
	}
	data, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	var list v1alpha1.ApplicationSourcePluginParameters
	if err := json.Unmarshal(data, &list); err != nil {
		t.Fatalf("not Argo CD plugin parameters: %v", err)
	}
	kinds := map[string]string{}
	for _, s := range p.Spec.Parameters.Static {
		kinds[s.Name] = s.CollectionType
	}
	for _, param := range list {
		name := strings.TrimPrefix(param.Name, resolve.UpdaterPrefix)
		kind, announced := kinds[name]
		if !announced {
			continue // image-list and per-alias keys: the loader decides
		}
		if kind == "" {
			kind = "string"
		}
		if got := map[bool]string{param.OptionalArray != nil: "array", param.OptionalMap != nil: "map", param.String_ != nil: "string"}[true]; got != kind {
			t.Errorf("parameter %q must be given as %s:, not %s:", param.Name, kind, got)
		}
	}
	env, err := list.Environ()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg, err := cmp.LoadConfig(cmp.EnvFromList(env), cmp.DiskRepo(dir), ".")
	if err != nil {
		t.Fatalf("the plugin refuses these parameters: %v", err)
	}
	checkSpecs(t, cfg.Images, cfg.ImageOptions)
}

func scalar(v any) string {
	switch x := v.(type) {
	case string:
		return x
	default:
		out, _ := yaml.Marshal(x)
		return strings.TrimSpace(string(out))
	}
}

func checkSpecs(t *testing.T, images []string, options map[string]string) {
	t.Helper()
	if len(images) == 0 {
		if len(options) > 0 {
			t.Error("image-options without images")
		}
		return
	}
	specs, err := resolve.ParseSpecs(images, options)
	if err != nil {
		t.Errorf("images %v with options %v: %v", images, options, err)
		return
	}
	if len(specs) > 1 {
		for _, s := range specs {
			if s.Options.HelmImageTag == "" && s.Options.HelmImageSpec == "" {
				t.Errorf("alias %s: with several images each alias needs helm.image-tag or helm.image-spec", s.Alias)
			}
		}
	}
}

// checkRepoConfigFile loads the example through the same loader the plugin
// uses for .argocd-image-resolver.yaml.
func checkRepoConfigFile(t *testing.T, body string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, cmp.RepoConfigFile), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := cmp.LoadConfig(cmp.Env{}, cmp.DiskRepo(dir), ".")
	if err != nil {
		t.Fatalf("%s example: %v", cmp.RepoConfigFile, err)
	}
	if len(cfg.Images) == 0 {
		t.Fatalf("%s example sets no images", cmp.RepoConfigFile)
	}
	checkSpecs(t, cfg.Images, cfg.ImageOptions)
}

// checkKustomization checks that every component the example names is a
// kustomize Component of this repository.
func checkKustomization(t *testing.T, root string, doc any) {
	t.Helper()
	components, _ := doc.(map[string]any)["components"].([]any)
	if len(components) == 0 {
		t.Fatal("kustomization example has no components")
	}
	for _, c := range components {
		ref, _ := c.(string)
		const repo = "github.com/argocd-image-resolver/argocd-image-resolver//"
		i := strings.Index(ref, repo)
		if i < 0 {
			t.Errorf("component %q is not in this repository", ref)
			continue
		}
		rel, _, _ := strings.Cut(ref[i+len(repo):], "?")
		data, err := os.ReadFile(filepath.Join(root, rel, "kustomization.yaml"))
		if err != nil {
			t.Errorf("component %q: %v", ref, err)
			continue
		}
		if !strings.Contains(string(data), "kind: Component") {
			t.Errorf("component %q: %s/kustomization.yaml is not a kustomize Component", ref, rel)
		}
	}
}
