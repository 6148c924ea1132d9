package render

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
)

// schemaServer answers every request with a schema that no values meet,
// and counts the requests: a schema reference that reaches it is a
// request the chart made the sidecar send.
func schemaServer(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"type": "object", "required": ["fetched-from-the-network"]}`))
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &hits
}

// writeSchemaChart writes a chart at root/<name> with the given
// values.schema.json and extra files (paths relative to the chart).
func writeSchemaChart(t *testing.T, root, name, chartYAML, schema string, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(root, name)
	if chartYAML == "" {
		chartYAML = "apiVersion: v2\nname: " + name + "\nversion: 0.1.0\n"
	}
	writeFile(t, filepath.Join(dir, "Chart.yaml"), chartYAML)
	writeFile(t, filepath.Join(dir, "values.yaml"), "replicas: 1\nimage:\n  tag: \"1.0\"\n")
	writeFile(t, filepath.Join(dir, "templates", "cm.yaml"),
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Chart.Name }}\ndata:\n  replicas: {{ .Values.replicas | quote }}\n")
	if schema != "" {
		writeFile(t, filepath.Join(dir, "values.schema.json"), schema)
	}
	for p, body := range files {
		writeFile(t, filepath.Join(dir, p), body)
	}
	return dir
}

// TestSchemaReferencesStayInTheChart: values.schema.json is author input.
// Its references are followed inside the schema and to JSON files of the
// chart; any other one fails the render, naming the chart and the
// reference, with no request and no file read.
func TestSchemaReferencesStayInTheChart(t *testing.T) {
	srvURL, hits := schemaServer(t)
	const sidecarMarker = "sidecar-file-was-read"
	outside := filepath.Join(t.TempDir(), "outside.json")
	writeFile(t, outside, `{"type": "object", "required": ["`+sidecarMarker+`"]}`)

	cases := []struct {
		name    string
		schema  string
		files   map[string]string
		values  string
		refused string   // the reference named in the refusal
		want    []string // in a validation error ("" when the render succeeds)
	}{
		{name: "$ref to a loopback server", schema: `{"$ref": "` + srvURL + `/schema.json"}`, refused: srvURL + "/schema.json"},
		{name: "$schema naming a loopback server", schema: `{"$schema": "` + srvURL + `/meta", "type": "object"}`, refused: srvURL + "/meta"},
		{name: "$ref to instance metadata", schema: `{"properties": {"image": {"$ref": "http://169.254.169.254/latest/meta-data/schema.json"}}}`,
			refused: "http://169.254.169.254/latest/meta-data/schema.json"},
		{name: "$ref to a sidecar file", schema: `{"$ref": "file://` + outside + `"}`, refused: "file://" + outside},
		{name: "relative $ref climbing out of the chart", schema: `{"$ref": "../../../../../../..` + outside + `"}`, refused: "file://" + outside},
		{name: "$id moving relative references to a server", schema: `{"$id": "` + srvURL + `/root.json", "properties": {"image": {"$ref": "image.json"}}}`,
			refused: srvURL + "/image.json"},
		{name: "$ref to a file the chart lacks", schema: `{"$ref": "defs/missing.json"}`, refused: "file:///defs/missing.json"},
		{name: "$ref to a host-named file URL", schema: `{"$ref": "file://fileserver/share/schema.json"}`, refused: "file://fileserver/share/schema.json"},
		{name: "$ref with another scheme", schema: `{"$ref": "ftp://example.com/schema.json"}`, refused: "ftp://example.com/schema.json"},

		{name: "reference inside the schema", values: "replicas: many\n",
			schema: `{"definitions": {"n": {"type": "integer"}}, "properties": {"replicas": {"$ref": "#/definitions/n"}}}`,
			want:   []string{"- at '/replicas': got string, want integer"}},
		{name: "reference inside the schema, values meet it",
			schema: `{"definitions": {"n": {"type": "integer"}}, "properties": {"replicas": {"$ref": "#/definitions/n"}}}`},
		{name: "relative reference to a file of the chart",
			schema: `{"properties": {"image": {"$ref": "schemas/image.json"}}}`,
			files:  map[string]string{"schemas/image.json": `{"type": "object", "required": ["tag"]}`}},
		{name: "relative reference to a file of the chart, values fail it",
			schema: `{"properties": {"image": {"$ref": "schemas/image.json#/definitions/pinned"}}}`,
			files:  map[string]string{"schemas/image.json": `{"definitions": {"pinned": {"type": "object", "required": ["digest"]}}}`},
			want:   []string{"- at '/image': missing property 'digest'"}},
		{name: "draft-04", schema: `{"$schema": "http://json-schema.org/draft-04/schema#", "type": "object"}`},
		{name: "draft-06", schema: `{"$schema": "http://json-schema.org/draft-06/schema#", "type": "object"}`},
		{name: "draft-07", schema: `{"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "properties": {"replicas": {"type": "integer"}}}`},
		{name: "draft-07 without the fragment", schema: `{"$schema": "http://json-schema.org/draft-07/schema", "type": "object"}`},
		{name: "2019-09", schema: `{"$schema": "https://json-schema.org/draft/2019-09/schema", "type": "object"}`},
		{name: "2020-12", schema: `{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "properties": {"replicas": {"type": "integer"}}}`},
		{name: "2020-12 fails as Helm does", values: "replicas: many\n",
			schema: `{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "properties": {"replicas": {"type": "integer"}}}`,
			want:   []string{"values don't meet the specifications of the schema(s) in the following chart(s):\nschemaapp:\n- at '/replicas': got string, want integer\n"}},
		{name: "$ref to the draft-07 meta-schema",
			schema: `{"$schema": "http://json-schema.org/draft-07/schema#", "properties": {"extra": {"$ref": "http://json-schema.org/draft-07/schema#"}}}`},
		{name: "$ref into the 2020-12 meta-schema",
			schema: `{"properties": {"image": {"$ref": "https://json-schema.org/draft/2020-12/meta/core"}}}`},
		{name: "unresolved urn: reference is permissive, as in Helm", schema: `{"properties": {"image": {"$ref": "urn:example:image"}}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			dir := writeSchemaChart(t, root, "schemaapp", "", tc.schema, tc.files)
			before := hits.Load()
			out, err := Render(context.Background(), Request{RepoRoot: root, ChartDir: dir, Values: tc.values, Dependencies: testDeps(t)})
			if n := hits.Load() - before; n != 0 {
				t.Errorf("the schema made %d requests", n)
			}
			if err != nil && strings.Contains(err.Error(), sidecarMarker) {
				t.Errorf("a sidecar file was read: %v", err)
			}
			switch {
			case tc.refused != "":
				var re *SchemaReferenceError
				if !errors.As(err, &re) {
					t.Fatalf("got %v, want a refused schema reference", err)
				}
				if re.Chart != "schemaapp" || re.Ref != tc.refused {
					t.Errorf("refused %q of chart %q, want %q of schemaapp", re.Ref, re.Chart, tc.refused)
				}
				for _, w := range []string{"schemaapp", tc.refused, "values.schema.json"} {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("message %q lacks %q", err, w)
					}
				}
			case tc.want != nil:
				var se *SchemaError
				if !errors.As(err, &se) {
					t.Fatalf("got %v, want a schema validation error", err)
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("message %q lacks %q", err, w)
					}
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if len(out.Manifests) == 0 {
					t.Error("no manifests")
				}
			}
		})
	}
}

// TestSubChartSchemas: sub-chart schemas are checked like Helm checks
// them, each with its own files; a sub-chart the values disable is not
// checked at all.
func TestSubChartSchemas(t *testing.T) {
	srvURL, hits := schemaServer(t)
	parent := "apiVersion: v2\nname: parent\nversion: 0.1.0\ndependencies:\n  - name: sub\n    version: 0.1.0\n    condition: shop.enabled\n    alias: shop\n"
	cases := []struct {
		name, subSchema, values string
		refused, want           string
	}{
		{name: "an enabled sub-chart's reference is refused", subSchema: `{"$ref": "` + srvURL + `/sub.json"}`, values: "shop:\n  enabled: true\n", refused: srvURL + "/sub.json"},
		{name: "a disabled sub-chart is not checked", subSchema: `{"$ref": "` + srvURL + `/sub.json"}`, values: "shop:\n  enabled: false\n"},
		{name: "a sub-chart reference to a parent file is refused", subSchema: `{"$ref": "parent-only.json"}`, values: "shop:\n  enabled: true\n", refused: "file:///parent-only.json"},
		{name: "a sub-chart reference to its own file", subSchema: `{"$ref": "own.json"}`, values: "shop:\n  enabled: true\n  replicas: 0\n",
			want: "shop:\n- at '/replicas': minimum: got 0, want 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			dir := writeSchemaChart(t, root, "parent", parent, `{"type": "object"}`, map[string]string{"parent-only.json": `{"type": "object"}`})
			writeSchemaChart(t, filepath.Join(dir, "charts"), "sub", "", tc.subSchema,
				map[string]string{"own.json": `{"properties": {"replicas": {"minimum": 1}}}`})
			before := hits.Load()
			_, err := Render(context.Background(), Request{RepoRoot: root, ChartDir: dir, Values: tc.values, Dependencies: testDeps(t)})
			if n := hits.Load() - before; n != 0 {
				t.Errorf("the schema made %d requests", n)
			}
			switch {
			case tc.refused != "":
				var re *SchemaReferenceError
				if !errors.As(err, &re) || re.Chart != "shop" || re.Ref != tc.refused {
					t.Fatalf("got %v, want %q of chart shop refused", err, tc.refused)
				}
			case tc.want != "":
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("got %v, want %q", err, tc.want)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestSchemaErrorsReadAsHelms: for schemas without outside references the
// message is Helm's own, sub-charts included.
func TestSchemaErrorsReadAsHelms(t *testing.T) {
	root := t.TempDir()
	parent := "apiVersion: v2\nname: parent\nversion: 0.1.0\ndependencies:\n  - name: sub\n    version: 0.1.0\n"
	dir := writeSchemaChart(t, root, "parent", parent,
		`{"type": "object", "properties": {"replicas": {"type": "integer", "maximum": 3}, "image": {"type": "object", "required": ["digest"]}}}`, nil)
	writeSchemaChart(t, filepath.Join(dir, "charts"), "sub", "",
		`{"$schema": "http://json-schema.org/draft-07/schema#", "properties": {"replicas": {"oneOf": [{"type": "string"}, {"maximum": 1}]}}}`, nil)
	values := "replicas: 5\nsub:\n  replicas: 2\n"

	_, err := Render(context.Background(), Request{RepoRoot: root, ChartDir: dir, Values: values, Dependencies: testDeps(t)})
	if err == nil {
		t.Fatal("no error")
	}

	// What Helm says for the same chart and values.
	ch, lerr := loader.Load(dir)
	if lerr != nil {
		t.Fatal(lerr)
	}
	user, _ := chartutil.ReadValues([]byte(values))
	if err := chartutil.ProcessDependenciesWithMerge(ch, user); err != nil {
		t.Fatal(err)
	}
	vals, cerr := chartutil.CoalesceValues(ch, user)
	if cerr != nil {
		t.Fatal(cerr)
	}
	helmErr := chartutil.ValidateAgainstSchema(ch, vals)
	if helmErr == nil {
		t.Fatal("Helm finds no error")
	}
	// The validator reports the failures of one object in map order, as
	// in Helm: the lines are compared, not their order.
	want := "values don't meet the specifications of the schema(s) in the following chart(s):\n" + helmErr.Error()
	var se *SchemaError
	if !errors.As(err, &se) || sortedLines(se.Error()) != sortedLines(want) {
		t.Errorf("got\n%s\nwant Helm's\n%s", err, want)
	}
}

func sortedLines(s string) string {
	lines := strings.Split(s, "\n")
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// TestSkipSchemaValidation: with skip-schema-validation no schema is
// compiled, so even an outside reference is left alone.
func TestSkipSchemaValidation(t *testing.T) {
	srvURL, hits := schemaServer(t)
	root := t.TempDir()
	dir := writeSchemaChart(t, root, "schemaapp", "", `{"$ref": "`+srvURL+`/schema.json"}`, nil)
	if _, err := Render(context.Background(), Request{RepoRoot: root, ChartDir: dir, SkipSchemaValidation: true, Dependencies: testDeps(t)}); err != nil {
		t.Fatal(err)
	}
	if hits.Load() != 0 {
		t.Errorf("%d requests", hits.Load())
	}
}
