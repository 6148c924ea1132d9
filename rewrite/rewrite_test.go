package rewrite

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const webRef = "ghcr.io/acme/web:1.6.3"

var web = Image{Repository: "ghcr.io/acme/web", Reference: webRef}

// podSpec is a pod spec with one container of each list.
const podSpec = `
containers:
- name: app
  image: ghcr.io/acme/web:0.1.0
- name: side
  image: docker.io/library/busybox:1.36
initContainers:
- name: init
  image: ghcr.io/acme/web@sha256:0000000000000000000000000000000000000000000000000000000000000000
ephemeralContainers:
- name: debug
  image: ghcr.io/acme/web
`

func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = pad + l
	}
	return strings.Join(lines, "\n")
}

func workloadDoc(apiVersion, kind string) string {
	head := fmt.Sprintf("apiVersion: %s\nkind: %s\nmetadata:\n  name: x\n", apiVersion, kind)
	switch kind {
	case "Pod":
		return head + "spec:\n" + indent(podSpec, 2) + "\n"
	case "CronJob":
		return head + "spec:\n  schedule: '* * * * *'\n  jobTemplate:\n    spec:\n      template:\n        spec:\n" + indent(podSpec, 10) + "\n"
	}
	return head + "spec:\n  replicas: 2\n  template:\n    spec:\n" + indent(podSpec, 6) + "\n"
}

// images collects the container images of a document by list.
func images(t *testing.T, doc string) map[string][]string {
	t.Helper()
	var obj map[string]interface{}
	if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
		t.Fatalf("output is not YAML: %v\n%s", err, doc)
	}
	var spec interface{} = obj["spec"]
	get := func(v interface{}, k string) interface{} {
		m, _ := v.(map[string]interface{})
		return m[k]
	}
	switch obj["kind"] {
	case "Pod":
	case "CronJob":
		spec = get(get(get(get(spec, "jobTemplate"), "spec"), "template"), "spec")
	default:
		spec = get(get(spec, "template"), "spec")
	}
	out := map[string][]string{}
	for _, list := range containerLists {
		items, _ := get(spec, list).([]interface{})
		for _, c := range items {
			s, _ := get(c, "image").(string)
			out[list] = append(out[list], s)
		}
	}
	return out
}

func TestRewriteWorkloadKinds(t *testing.T) {
	for _, c := range []struct{ apiVersion, kind string }{
		{"v1", "Pod"},
		{"v1", "ReplicationController"},
		{"apps/v1", "Deployment"},
		{"apps/v1", "StatefulSet"},
		{"apps/v1", "DaemonSet"},
		{"apps/v1", "ReplicaSet"},
		{"batch/v1", "Job"},
		{"batch/v1", "CronJob"},
	} {
		t.Run(c.kind, func(t *testing.T) {
			res, err := Rewrite([]string{workloadDoc(c.apiVersion, c.kind)}, []Image{web}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Written[0] != 3 {
				t.Errorf("written %d containers, want 3", res.Written[0])
			}
			got := images(t, res.Documents[0])
			want := map[string][]string{
				"containers":          {webRef, "docker.io/library/busybox:1.36"},
				"initContainers":      {webRef},
				"ephemeralContainers": {webRef},
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("images = %v\nwant %v", got, want)
			}
		})
	}
}

func TestRewriteMatching(t *testing.T) {
	for _, c := range []struct {
		name, repo, current string
		want                bool
	}{
		{"same", "ghcr.io/acme/web", "ghcr.io/acme/web:1.0", true},
		{"digest", "ghcr.io/acme/web", "ghcr.io/acme/web@sha256:abc", true},
		{"tag and digest", "ghcr.io/acme/web", "ghcr.io/acme/web:1@sha256:abc", true},
		{"no tag", "ghcr.io/acme/web", "ghcr.io/acme/web", true},
		{"other registry host", "ghcr.io/acme/web", "mirror.example.com/acme/web:1", true},
		{"proxy prefix on the rendered side", "ghcr.io/acme/web", "proxy.example.com/ghcr.io/acme/web:1", true},
		{"proxy prefix on the spec side", "proxy.example.com/cache/acme/web", "ghcr.io/acme/web:1", true},
		{"registry port", "localhost:5000/acme/web", "acme/web:2", true},
		{"docker hub library", "nginx", "docker.io/library/nginx:1.27", true},
		{"case", "ghcr.io/Acme/Web", "ghcr.io/acme/web:1", true},
		{"other repository", "ghcr.io/acme/web", "ghcr.io/acme/api:1.0", false},
		{"prefix is not a match", "ghcr.io/acme/web", "ghcr.io/acme/web-worker:1", false},
		{"suffix without slash", "ghcr.io/acme/web", "ghcr.io/acme/myweb:1", false},
		{"empty", "ghcr.io/acme/web", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc := "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: " + fmt.Sprintf("%q", c.current) + "\n"
			res, err := Rewrite([]string{doc}, []Image{{Repository: c.repo, Reference: "r.example.com/x:9"}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := images(t, res.Documents[0])["containers"][0]
			if (got == "r.example.com/x:9") != c.want || (res.Written[0] == 1) != c.want {
				t.Errorf("image %q -> %q (written %d), want rewritten: %v", c.current, got, res.Written[0], c.want)
			}
			if !c.want && res.Documents[0] != doc {
				t.Errorf("an untouched document changed:\n%s", res.Documents[0])
			}
		})
	}
}

func TestRewriteLeavesOthersAlone(t *testing.T) {
	for _, c := range []struct{ name, doc string }{
		{"config map", "apiVersion: v1\nkind: ConfigMap\ndata:\n  image: ghcr.io/acme/web:0.1\n"},
		{"service with spec.containers", "apiVersion: v1\nkind: Service\nspec:\n  containers:\n  - image: ghcr.io/acme/web:0.1\n"},
		{"deployment of another group", "apiVersion: example.com/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - image: ghcr.io/acme/web:0.1\n"},
		{"other images", "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - image: ghcr.io/acme/api:0.1\n"},
		{"malformed", "apiVersion: v1\nkind: Pod\nspec: [containers: {image: ghcr.io/acme/web:0.1\n"},
		{"not a mapping", "- image: ghcr.io/acme/web:0.1\n"},
		{"scalar", "image ghcr.io/acme/web"},
		{"empty", ""},
		{"containers not a list", "apiVersion: v1\nkind: Pod\nspec:\n  containers: {image: ghcr.io/acme/web:0.1}\n"},
		{"image not a string", "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: [ghcr.io/acme/web]\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := Rewrite([]string{c.doc}, []Image{web}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Documents[0] != c.doc || res.Written[0] != 0 {
				t.Errorf("document changed (written %d):\n%s", res.Written[0], res.Documents[0])
			}
		})
	}
}

func TestRewriteFirstImageWins(t *testing.T) {
	doc := "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: ghcr.io/acme/web:0.1\n  - image: ghcr.io/acme/api:0.1\n"
	res, err := Rewrite([]string{doc}, []Image{
		{Repository: "ghcr.io/acme/api", Reference: "ghcr.io/acme/api:2"},
		web,
		{Repository: "mirror.example.com/acme/web", Reference: "never"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(res.Written); got != "[1 1 0]" {
		t.Errorf("written %s, want [1 1 0]", got)
	}
	if got := images(t, res.Documents[0])["containers"]; fmt.Sprint(got) != fmt.Sprint([]string{webRef, "ghcr.io/acme/api:2"}) {
		t.Errorf("containers = %v", got)
	}
}

func TestRewriteCanonical(t *testing.T) {
	docs := []string{
		"kind: Deployment\napiVersion: apps/v1\nmetadata: {name: web, labels: {b: '1', a: '2'}}\nspec:\n  replicas: 12345678901234567890\n  template:\n    spec:\n      containers:\n      - {name: app, image: 'ghcr.io/acme/web:0.1'}\n",
		"# untouched\nkind: ConfigMap\n",
	}
	first, err := Rewrite(docs, []Image{web}, nil)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Rewrite(docs, []Image{web}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(first.Documents) != fmt.Sprint(second.Documents) {
		t.Fatal("two rewrites of the same input differ")
	}
	again, err := Rewrite(first.Documents, []Image{web}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.Documents[0] != first.Documents[0] {
		t.Errorf("rewriting the output changed it:\n%s\n---\n%s", first.Documents[0], again.Documents[0])
	}
	if !strings.Contains(first.Documents[0], "replicas: 12345678901234567890") {
		t.Errorf("a large integer was not kept as written:\n%s", first.Documents[0])
	}
	if !strings.HasPrefix(first.Documents[0], "apiVersion: apps/v1\nkind: Deployment\n") {
		t.Errorf("the changed document is not in canonical (sorted) form:\n%s", first.Documents[0])
	}
	if first.Documents[1] != docs[1] {
		t.Errorf("an unchanged document was rewritten: %q", first.Documents[1])
	}
}

func TestRewriteExtraFields(t *testing.T) {
	fields, err := ParseFields([]byte(`
images:
- path: spec/template/spec/containers[]/image
  kind: Rollout
  group: argoproj.io
- path: spec/runners[]/images[]
  kind: Pipeline
- path: spec/image
  kind: Pipeline
  version: v2
`))
	if err != nil {
		t.Fatal(err)
	}
	docs := []string{
		"apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nspec:\n  template:\n    spec:\n      containers:\n      - image: ghcr.io/acme/web:0.1\n",
		"apiVersion: example.com/v1alpha1\nkind: Rollout\nspec:\n  template:\n    spec:\n      containers:\n      - image: ghcr.io/acme/web:0.1\n",
		"apiVersion: ci.example.com/v2\nkind: Pipeline\nspec:\n  image: ghcr.io/acme/web\n  runners:\n  - images: [ghcr.io/acme/web:0.1, ghcr.io/acme/api:0.1]\n  - images: [ghcr.io/acme/web:0.2]\n",
		"apiVersion: ci.example.com/v1\nkind: Pipeline\nspec:\n  image: ghcr.io/acme/web\n",
	}
	res, err := Rewrite(docs, []Image{web}, fields)
	if err != nil {
		t.Fatal(err)
	}
	if res.Written[0] != 4 {
		t.Errorf("written %d fields, want 4", res.Written[0])
	}
	if !strings.Contains(res.Documents[0], "image: "+webRef) {
		t.Errorf("the Rollout of argoproj.io was not rewritten:\n%s", res.Documents[0])
	}
	if res.Documents[1] != docs[1] {
		t.Errorf("a Rollout of another group was rewritten:\n%s", res.Documents[1])
	}
	want := "apiVersion: ci.example.com/v2\nkind: Pipeline\nspec:\n  image: " + webRef + "\n  runners:\n  - images:\n    - " + webRef + "\n    - ghcr.io/acme/api:0.1\n  - images:\n    - " + webRef + "\n"
	if res.Documents[2] != want {
		t.Errorf("pipeline =\n%s\nwant\n%s", res.Documents[2], want)
	}
	if !strings.Contains(res.Documents[3], "image: ghcr.io/acme/web\n") || strings.Contains(res.Documents[3], webRef) {
		t.Errorf("spec/image of version v2 only was rewritten in v1:\n%s", res.Documents[3])
	}
}

func TestRewriteBadExtraPath(t *testing.T) {
	_, err := Rewrite([]string{"kind: Pod"}, []Image{web}, []FieldSpec{{Kind: "Foo", Path: "spec//image"}})
	var fe *FieldsError
	var pe *PathError
	if !errors.As(err, &fe) || !errors.As(err, &pe) {
		t.Fatalf("err = %v, want a FieldsError with a PathError", err)
	}
}

func TestRewriteLimits(t *testing.T) {
	t.Run("document size", func(t *testing.T) {
		doc := "apiVersion: v1\nkind: ConfigMap\ndata:\n  image: " + strings.Repeat("x", MaxDocumentBytes) + "\n"
		_, err := Rewrite([]string{doc}, []Image{web}, nil)
		var le *LimitError
		if !errors.As(err, &le) || le.What != "bytes" {
			t.Fatalf("err = %v, want a LimitError on bytes", err)
		}
	})
	t.Run("visits", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n")
		for i := 0; i < MaxVisits; i++ {
			b.WriteString("  - {image: ghcr.io/acme/api}\n")
		}
		_, err := Rewrite([]string{b.String()}, []Image{web}, nil)
		var le *LimitError
		if !errors.As(err, &le) || le.Kind != "Pod" {
			t.Fatalf("err = %v, want a LimitError naming the Pod", err)
		}
	})
	t.Run("deep nesting", func(t *testing.T) {
		doc := "kind: Pod\nimage: " + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + "\n"
		res, err := Rewrite([]string{doc}, []Image{web}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Documents[0] != doc {
			t.Error("a document too deep to read was changed")
		}
	})
}

func TestRewriteNoImages(t *testing.T) {
	docs := []string{workloadDoc("v1", "Pod")}
	res, err := Rewrite(docs, nil, []FieldSpec{{Path: "bad//path"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Documents[0] != docs[0] || len(res.Written) != 0 {
		t.Errorf("rewrite without images changed something: %+v", res)
	}
}
