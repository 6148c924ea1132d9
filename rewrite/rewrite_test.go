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

// TestRewriteMatching: a field is written only when it runs the alias's
// repository, on its registry or behind a proxy prefix; it keeps its own
// name (the chart's mirror stays) and gets the resolved tag or digest.
func TestRewriteMatching(t *testing.T) {
	for _, c := range []struct {
		name, repo, current string
		// want is the field afterwards; "" means untouched.
		want string
	}{
		{"same", "ghcr.io/acme/web", "ghcr.io/acme/web:1.0", "ghcr.io/acme/web:9"},
		{"digest", "ghcr.io/acme/web", "ghcr.io/acme/web@sha256:abc", "ghcr.io/acme/web:9"},
		{"tag and digest", "ghcr.io/acme/web", "ghcr.io/acme/web:1@sha256:abc", "ghcr.io/acme/web:9"},
		{"no tag", "ghcr.io/acme/web", "ghcr.io/acme/web", "ghcr.io/acme/web:9"},
		{"proxy prefix with the registry", "ghcr.io/acme/web", "proxy.example.com/ghcr.io/acme/web:1", "proxy.example.com/ghcr.io/acme/web:9"},
		{"proxy prefix keeps the mirror", "nginx", "harbor.corp/dockerhub/library/nginx:1.27", "harbor.corp/dockerhub/library/nginx:9"},
		{"docker hub spelled out", "nginx", "docker.io/library/nginx:1.27", "docker.io/library/nginx:9"},
		{"docker hub index host", "docker.io/library/nginx", "index.docker.io/library/nginx:1", "index.docker.io/library/nginx:9"},
		{"registry port", "localhost:5000/acme/web", "localhost:5000/acme/web:2", "localhost:5000/acme/web:9"},
		{"case", "ghcr.io/Acme/Web", "ghcr.io/acme/web:1", "ghcr.io/acme/web:9"},
		{"same path on another registry", "ghcr.io/acme/web", "quay.io/acme/web:1", ""},
		{"another namespace of a hub image", "redis", "docker.io/bitnami/redis:7.2", ""},
		{"another registry's redis", "redis", "ghcr.io/acme/redis:1.0", ""},
		{"other repository", "ghcr.io/acme/web", "ghcr.io/acme/api:1.0", ""},
		{"prefix is not a match", "ghcr.io/acme/web", "ghcr.io/acme/web-worker:1", ""},
		{"suffix without slash", "ghcr.io/acme/web", "ghcr.io/acme/myweb:1", ""},
		{"empty", "ghcr.io/acme/web", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc := "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: " + fmt.Sprintf("%q", c.current) + "\n"
			res, err := Rewrite([]string{doc}, []Image{{Repository: c.repo, Reference: c.repo + ":9"}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := images(t, res.Documents[0])["containers"][0]
			if c.want == "" {
				if res.Written[0] != 0 || res.Documents[0] != doc {
					t.Errorf("image %q -> %q (written %d), want it untouched", c.current, got, res.Written[0])
				}
				return
			}
			if got != c.want || res.Written[0] != 1 {
				t.Errorf("image %q -> %q (written %d), want %q", c.current, got, res.Written[0], c.want)
			}
		})
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
		// Not read, passed through: a large CRD must not fail the render;
		// a workload missed this way fails the rendered check.
		doc := "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: ghcr.io/acme/web:1\n    args: [" + strings.Repeat("x", MaxDocumentBytes) + "]\n"
		res, err := Rewrite([]string{doc}, []Image{web}, nil)
		if err != nil || res.Documents[0] != doc || res.Written[0] != 0 {
			t.Fatalf("err = %v, written %d; want the document passed through", err, res.Written[0])
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
