package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"

	"github.com/argocd-image-resolver/argocd-image-resolver/test/redistest"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
)

// directoryFiles is a folder of plain manifests (no Chart.yaml) under
// apps/web whose workloads run host/acme/web at a tag the resolution
// replaces: a Deployment (init container, container, and a sidecar of
// another image) beside a Service, a CronJob naming the repository without
// a tag, a Job in a sub-folder and a test Pod the Application excludes.
func directoryFiles(host string) map[string]string {
	image := host + "/acme/web"
	return map[string]string{
		"apps/web/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      initContainers:
        - name: migrate
          image: ` + image + `:0.9.0
          args: [migrate]
      containers:
        - name: web
          image: ` + image + `:0.9.0
        - name: proxy
          image: docker.io/library/busybox:1.36
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
    - port: 80
      targetPort: 8080
`,
		"apps/web/cron.yaml": `apiVersion: batch/v1
kind: CronJob
metadata:
  name: web-report
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
            - name: report
              image: ` + image + `
              args: [report]
`,
		"apps/web/jobs/backfill.yaml": `apiVersion: batch/v1
kind: Job
metadata:
  name: web-backfill
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: backfill
          image: ` + image + `:0.9.0
`,
		"apps/web/smoke-test.yaml": `apiVersion: v1
kind: Pod
metadata:
  name: web-smoke-test
spec:
  containers:
    - name: smoke
      image: ` + image + `:0.9.0
`,
	}
}

// TestRepoServerDirectory renders a directory Application (an application
// path of plain manifests, no chart) through each release's repo-server
// and our `serve`: the resolved tag is written into every container and
// init container of the workloads that run the repository (a Deployment, a
// CronJob, a Job), and nowhere else. directory-recurse adds the Job of the
// sub-folder, directory-exclude leaves the test Pod out; without them the
// sub-folder is not read and the Pod is rendered, with the resolved tag.
func TestRepoServerDirectory(t *testing.T) {
	forEachArgoCD(t, func(t *testing.T, argo argoCD) {
		reg := registrytest.New(t)
		image := reg.Host() + "/acme/web"
		reg.PushTags(t, "acme/web", exampleTags...)
		srv := startServe(t)
		rs := startRepoServer(t, argo.bin, redistest.Start(t).Addr(), srv.sockDir)
		repoURL, _ := gitRepoWith(t, directoryFiles(reg.Host()))
		resolved := image + ":1.6.3"
		images := v1alpha1.ApplicationSourcePluginParameter{Name: "images", OptionalArray: &v1alpha1.OptionalArray{Array: []string{"web=" + image + ":~1.6"}}}

		for _, c := range []struct {
			name   string
			params v1alpha1.ApplicationSourcePluginParameters
			want   map[string]string // image by workload container
			others []string          // the objects that run no container
		}{
			{
				name: "recurse, exclude *-test.yaml",
				params: v1alpha1.ApplicationSourcePluginParameters{images,
					{Name: "directory-recurse", String_: ptr("true")},
					{Name: "directory-exclude", String_: ptr("*-test.yaml")},
				},
				want: map[string]string{
					"Deployment/web initContainers[migrate]": resolved,
					"Deployment/web containers[web]":         resolved,
					"Deployment/web containers[proxy]":       "docker.io/library/busybox:1.36",
					"CronJob/web-report containers[report]":  resolved,
					"Job/web-backfill containers[backfill]":  resolved,
				},
				others: []string{"Service/web"},
			},
			{
				name:   "defaults",
				params: v1alpha1.ApplicationSourcePluginParameters{images},
				want: map[string]string{
					"Deployment/web initContainers[migrate]": resolved,
					"Deployment/web containers[web]":         resolved,
					"Deployment/web containers[proxy]":       "docker.io/library/busybox:1.36",
					"CronJob/web-report containers[report]":  resolved,
					"Pod/web-smoke-test containers[smoke]":   resolved,
				},
				others: []string{"Service/web"},
			},
		} {
			t.Run(c.name, func(t *testing.T) {
				manifests := rs.generate(t, repoURL, "apps/web", srv.name, c.params)
				objects := renderedObjects(t, manifests)
				assertWorkloadImages(t, objects, c.want, manifests)
				for _, name := range c.others {
					if _, ok := objects[name]; !ok {
						t.Errorf("%s is not rendered\n%s", name, dump(manifests))
					}
				}
				if want := append(workloadsOf(c.want), c.others...); len(objects) != len(want) {
					t.Errorf("rendered %v, want %v", slices.Sorted(maps.Keys(objects)), slices.Sorted(slices.Values(want)))
				}
			})
		}
	})
}

// rewriteChartFiles is a third-party chart under vendor/web that exposes
// no image value: it puts the image together from a registry and a
// repository of its own naming, with its appVersion as the tag, and fails
// when given an `image` value. It runs the image in a Deployment (init
// container and container, beside a sidecar of another image) and in two
// custom resources, a Widget whose field the admins declare and a Gadget
// whose field nobody declares.
func rewriteChartFiles(host string) map[string]string {
	ref := `{{ .Values.global.registry }}/{{ .Values.server.repository }}:{{ .Chart.AppVersion }}`
	return map[string]string{
		"vendor/web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 3.2.1\nappVersion: \"0.9.0\"\n",
		"vendor/web/values.yaml": "global:\n  registry: " + host + "\n" +
			"server:\n  repository: acme/web\n  replicas: 1\n",
		"vendor/web/templates/server.yaml": `{{- if .Values.image }}{{ fail "an image value was written into a chart that has none" }}{{ end -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-server
spec:
  replicas: {{ .Values.server.replicas }}
  selector:
    matchLabels:
      app: {{ .Release.Name }}-server
  template:
    metadata:
      labels:
        app: {{ .Release.Name }}-server
    spec:
      initContainers:
        - name: wait
          image: ` + ref + `
      containers:
        - name: server
          image: "` + ref + `"
        - name: metrics
          image: docker.io/library/busybox:1.36
---
apiVersion: example.com/v1
kind: Widget
metadata:
  name: {{ .Release.Name }}-widget
spec:
  runner:
    image: ` + ref + `
---
apiVersion: example.com/v1
kind: Gadget
metadata:
  name: {{ .Release.Name }}-gadget
spec:
  runner:
    image: ` + ref + `
`,
	}
}

// TestRepoServerRewrite renders a third-party chart with
// `<alias>.rewrite: "true"` through each release's repo-server and our
// `serve`, started with `--image-fields` declaring the Widget's image
// field: after Helm renders, the resolved tag and digest are written into
// the Deployment's init container and container and into the Widget; the
// sidecar of another image and the undeclared Gadget keep what the chart
// rendered.
func TestRepoServerRewrite(t *testing.T) {
	fields := filepath.Join(t.TempDir(), "image-fields.yaml")
	if err := os.WriteFile(fields, []byte("images:\n- path: spec/runner/image\n  kind: Widget\n  group: example.com\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	forEachArgoCD(t, func(t *testing.T, argo argoCD) {
		reg := registrytest.New(t)
		image := reg.Host() + "/acme/web"
		digests := reg.PushTags(t, "acme/web", exampleTags...)
		srv := startServe(t, "--image-fields", fields)
		rs := startRepoServer(t, argo.bin, redistest.Start(t).Addr(), srv.sockDir)
		repoURL, _ := gitRepoWith(t, rewriteChartFiles(reg.Host()))

		manifests := rs.generate(t, repoURL, "vendor/web", srv.name, v1alpha1.ApplicationSourcePluginParameters{
			{Name: "images", OptionalArray: &v1alpha1.OptionalArray{Array: []string{"web=" + image + ":~1.6"}}},
			{Name: "image-options", OptionalMap: &v1alpha1.OptionalMap{Map: map[string]string{
				"web.rewrite": "true",
				"web.pin":     "tag+digest",
			}}},
		})
		objects := renderedObjects(t, manifests)
		resolved := image + ":1.6.3@" + digests["1.6.3"]
		assertWorkloadImages(t, objects, map[string]string{
			"Deployment/web-server initContainers[wait]": resolved,
			"Deployment/web-server containers[server]":   resolved,
			"Deployment/web-server containers[metrics]":  "docker.io/library/busybox:1.36",
		}, manifests)
		for name, want := range map[string]string{
			"Widget/web-widget": resolved,
			"Gadget/web-gadget": image + ":0.9.0",
		} {
			if got := stringAt(objects[name], "spec", "runner", "image"); got != want {
				t.Errorf("%s spec.runner.image = %q, want %q\n%s", name, got, want, dump(manifests))
			}
		}
		if len(objects) != 3 {
			t.Errorf("rendered %v, want the Deployment, the Widget and the Gadget\n%s", slices.Sorted(maps.Keys(objects)), dump(manifests))
		}
	})
}

// renderedObjects decodes the repo-server's JSON manifests by
// "<kind>/<name>"; a manifest that is no JSON object, or two with one
// key, fail the test.
func renderedObjects(t *testing.T, manifests []string) map[string]map[string]any {
	t.Helper()
	out := make(map[string]map[string]any, len(manifests))
	for i, m := range manifests {
		var obj map[string]any
		if err := json.Unmarshal([]byte(m), &obj); err != nil {
			t.Fatalf("manifest %d is not a JSON object: %v\n%s", i, err, m)
		}
		key := stringAt(obj, "kind") + "/" + stringAt(obj, "metadata", "name")
		if _, dup := out[key]; dup {
			t.Fatalf("%s is rendered twice\n%s", key, dump(manifests))
		}
		out[key] = obj
	}
	return out
}

// podSpecs is where each workload kind of the fixtures holds its pod
// spec.
var podSpecs = map[string][]string{
	"Pod":        {"spec"},
	"Deployment": {"spec", "template", "spec"},
	"Job":        {"spec", "template", "spec"},
	"CronJob":    {"spec", "jobTemplate", "spec", "template", "spec"},
}

// workloadImages returns the image of every container and init container
// of the workloads among objects, keyed "<kind>/<name> <list>[<container>]".
func workloadImages(t *testing.T, objects map[string]map[string]any) map[string]string {
	t.Helper()
	out := map[string]string{}
	for key, obj := range objects {
		path, ok := podSpecs[stringAt(obj, "kind")]
		if !ok {
			continue
		}
		spec, _ := valueAt(obj, path...).(map[string]any)
		if spec == nil {
			t.Fatalf("%s has no pod spec at %s", key, strings.Join(path, "."))
		}
		for _, list := range []string{"initContainers", "containers"} {
			containers, _ := spec[list].([]any)
			for _, c := range containers {
				c, _ := c.(map[string]any)
				out[fmt.Sprintf("%s %s[%s]", key, list, stringAt(c, "name"))] = stringAt(c, "image")
			}
		}
	}
	return out
}

// assertWorkloadImages checks that the containers of the rendered
// workloads are exactly those of want, running the images it names.
func assertWorkloadImages(t *testing.T, objects map[string]map[string]any, want map[string]string, manifests []string) {
	t.Helper()
	got := workloadImages(t, objects)
	var errs []string
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if g, ok := got[k]; !ok {
			errs = append(errs, fmt.Sprintf("%s is not rendered", k))
		} else if g != want[k] {
			errs = append(errs, fmt.Sprintf("%s runs %q, want %q", k, g, want[k]))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			errs = append(errs, fmt.Sprintf("%s (image %q) is rendered, want it left out", k, got[k]))
		}
	}
	if len(errs) > 0 {
		t.Errorf("workload containers:\n%s\n%s", strings.Join(errs, "\n"), dump(manifests))
	}
}

// workloadsOf lists the "<kind>/<name>" of the container keys of
// workloadImages.
func workloadsOf(containers map[string]string) []string {
	var out []string
	for k := range containers {
		w, _, _ := strings.Cut(k, " ")
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}

// valueAt follows keys through nested JSON objects; nil when one is
// missing.
func valueAt(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// stringAt is valueAt for a string; "" when missing or of another type.
func stringAt(v any, keys ...string) string {
	s, _ := valueAt(v, keys...).(string)
	return s
}
