package docs

import (
	"bytes"
	"context"
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

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"gopkg.in/yaml.v3"

	"github.com/argocd-image-resolver/argocd-image-resolver/cmp"
	"github.com/argocd-image-resolver/argocd-image-resolver/ops"
	"github.com/argocd-image-resolver/argocd-image-resolver/refresh"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
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

func readme(t *testing.T) string { return readFile(t, "README.md") }

// fence is one fenced code block of the README.
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

// section returns the text between <!-- name:start --> and <!-- name:end -->.
func section(t *testing.T, text, name string) string {
	t.Helper()
	start, end := "<!-- "+name+":start -->", "<!-- "+name+":end -->"
	i := strings.Index(text, start)
	j := strings.Index(text, end)
	if i < 0 || j < i {
		t.Fatalf("README has no %s ... %s section", start, end)
	}
	return text[i+len(start) : j]
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

// pluginYAML is the part of plugin.yaml the README documents.
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

// kindOf is how the README writes a parameter's kind: the collection type,
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

// TestParameterTableMatchesPluginYAML keeps the README's parameter table a
// copy of plugin.yaml's static parameters: same order, names, kinds,
// titles and tooltips.
func TestParameterTableMatchesPluginYAML(t *testing.T) {
	p := loadPluginYAML(t)
	rows := tableRows(t, section(t, readme(t), "parameters"), 4)
	if len(rows) != len(p.Spec.Parameters.Static) {
		t.Errorf("README lists %d parameters, plugin.yaml %d", len(rows), len(p.Spec.Parameters.Static))
	}
	for i, want := range p.Spec.Parameters.Static {
		if i >= len(rows) {
			t.Errorf("README lacks parameter %q", want.Name)
			continue
		}
		got := rows[i]
		wantRow := []string{want.Name, kindOf(want.CollectionType, want.ItemType), want.Title, want.Tooltip}
		for c, col := range []string{"parameter", "kind", "title", "description"} {
			if plain(got[c]) != wantRow[c] {
				t.Errorf("parameter %d (%s) %s:\n README:      %q\n plugin.yaml: %q", i, want.Name, col, plain(got[c]), wantRow[c])
			}
		}
	}
}

// TestOptionsTableMatchesResolve lists exactly the per-alias options the
// spec parser accepts.
func TestOptionsTableMatchesResolve(t *testing.T) {
	rows := tableRows(t, section(t, readme(t), "options"), 3)
	var got []string
	for _, r := range rows {
		got = append(got, plain(r[0]))
	}
	want := []string{
		resolve.OptUpdateStrategy, resolve.OptAllowTags, resolve.OptIgnoreTags, resolve.OptPlatforms,
		resolve.OptPullSecret, resolve.OptHelmImageTag, resolve.OptHelmImageName, resolve.OptHelmImageSpec,
		resolve.OptHelmImageShasum, resolve.OptHelmOverrideTag, resolve.OptOverrideTag, resolve.OptPin,
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("README options %v\nresolve accepts %v", got, want)
	}
	// Each documented option is accepted by the parser.
	for _, opt := range got {
		value := map[string]string{
			resolve.OptUpdateStrategy: "semver", resolve.OptAllowTags: "any", resolve.OptIgnoreTags: "*-debug",
			resolve.OptPlatforms: "linux/amd64", resolve.OptPullSecret: "env:CREDS", resolve.OptOverrideTag: "1.5.0",
			resolve.OptPin: "tag+digest",
		}[opt]
		if value == "" {
			value = "image.x"
		}
		if _, err := resolve.ParseSpecs([]string{"web=ghcr.io/acme/web"}, map[string]string{"web." + opt: value}); err != nil {
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
// with the README's metrics table, both ways.
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
	for _, row := range tableRows(t, section(t, readme(t), "metrics"), 4) {
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
			t.Errorf("metric %s (%s) is not in the README", name, want)
		case got != want:
			t.Errorf("metric %s: README says %q, code has %q", name, got, want)
		}
	}
	for name := range documented {
		if _, ok := code[name]; !ok {
			t.Errorf("README documents metric %s, which the code does not register", name)
		}
	}
}

// TestTroubleshootingMessagesExistInCode checks that each message fragment
// of the troubleshooting table occurs in a non-test Go source file, so that
// a reworded error cannot leave the README behind.
func TestTroubleshootingMessagesExistInCode(t *testing.T) {
	root := repoRoot(t)
	var sources bytes.Buffer
	for _, dir := range []string{"cmp", "ops", "plugin", "refresh", "render", "resolve"} {
		files, err := filepath.Glob(filepath.Join(root, dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			sources.Write(data)
			sources.WriteByte('\n')
		}
	}
	rows := tableRows(t, section(t, readme(t), "errors"), 3)
	if len(rows) < 20 {
		t.Fatalf("troubleshooting table has only %d rows", len(rows))
	}
	for _, row := range rows {
		fragment := plain(row[0])
		if fragment == row[0] || fragment == "" {
			t.Errorf("troubleshooting row %q: the first cell must be one code span", row[0])
			continue
		}
		if !bytes.Contains(sources.Bytes(), []byte(fragment)) {
			t.Errorf("troubleshooting message %q occurs in no source file of cmp, ops, plugin, refresh, render or resolve", fragment)
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
	for _, f := range fences(readme(t)) {
		if f.lang != "yaml" {
			continue
		}
		blocks++
		t.Run("line"+strconv.Itoa(f.line), func(t *testing.T) {
			var doc any
			if err := yaml.Unmarshal([]byte(f.body), &doc); err != nil {
				t.Fatalf("README line %d: not valid YAML: %v", f.line, err)
			}
			switch {
			case strings.HasPrefix(f.body, "# "+cmp.RepoConfigFile):
				checkRepoConfigFile(t, f.body)
			case isKind(doc, "Application"):
				checkApplication(t, p, doc)
			case isKind(doc, "Kustomization"):
				checkKustomization(t, root, doc)
			case hasKey(doc, "registries"):
				if _, err := resolve.ParseRegistriesConfig([]byte(f.body)); err != nil {
					t.Errorf("registries.conf example: %v", err)
				}
			case hasKey(doc, "image"):
				tpl := readFile(t, "examples/web/templates/deployment.yaml")
				line := strings.TrimSpace(f.body)
				if !strings.Contains(tpl, line) {
					t.Errorf("the template line is not the one of examples/web/templates/deployment.yaml:\n%s", line)
				}
			default:
				list, ok := doc.([]any)
				if !ok {
					t.Fatalf("README line %d: YAML block of unknown purpose; teach this test to check it", f.line)
				}
				checkParameters(t, p, list)
			}
		})
	}
	if blocks < 5 {
		t.Errorf("found only %d YAML blocks", blocks)
	}
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

func checkApplication(t *testing.T, p pluginYAML, doc any) {
	t.Helper()
	spec, _ := doc.(map[string]any)["spec"].(map[string]any)
	source, _ := spec["source"].(map[string]any)
	plugin, _ := source["plugin"].(map[string]any)
	if plugin == nil {
		t.Fatal("Application example has no spec.source.plugin")
	}
	// Argo CD names the socket (and so the plugin) <name>-<version> when
	// plugin.yaml sets a version, <name> otherwise.
	want := p.Metadata.Name
	if p.Spec.Version != "" {
		want += "-" + p.Spec.Version
	}
	if plugin["name"] != want {
		t.Errorf("Application example names plugin %v; the socket is %s.sock, so the name is %s", plugin["name"], want, want)
	}
	params, _ := plugin["parameters"].([]any)
	checkParameters(t, p, params)
}

// checkParameters validates a list of plugin parameters: known names, the
// kind plugin.yaml announces, and images/image-options accepted by the
// spec parser, with a value path for each alias when there are several.
func checkParameters(t *testing.T, p pluginYAML, params []any) {
	t.Helper()
	if len(params) == 0 {
		t.Fatal("no parameters")
	}
	kinds := map[string]string{}
	for _, s := range p.Spec.Parameters.Static {
		kinds[s.Name] = s.CollectionType
	}
	var images []string
	options := map[string]string{}
	for _, raw := range params {
		param, ok := raw.(map[string]any)
		if !ok {
			t.Fatalf("parameter %v is not a mapping", raw)
		}
		name, _ := param["name"].(string)
		kind, known := kinds[name]
		if !known {
			t.Errorf("parameter %q is not in plugin.yaml", name)
			continue
		}
		if kind == "" {
			kind = "string"
		}
		if _, ok := param[kind]; !ok {
			t.Errorf("parameter %q must be given as %s:", name, kind)
		}
		switch name {
		case cmp.ParamImages:
			for _, img := range param["array"].([]any) {
				images = append(images, img.(string))
			}
		case cmp.ParamImageOptions:
			for k, v := range param["map"].(map[string]any) {
				options[k] = scalar(v)
			}
		}
	}
	checkSpecs(t, images, options)
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
	cfg, err := cmp.LoadConfig(cmp.Env{}, dir, dir)
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
