package cmp

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/tartest"
)

// TestKustomizeHostile: a kustomization is author input. Remote bases and
// files (which Kustomize would fetch itself, outside the connection rules),
// helmCharts (which exec helm), files outside the repository and builds
// that multiply a base are refused with a message naming the cause, and
// no request leaves for a remote reference.
func TestKustomizeHostile(t *testing.T) {
	var hits atomic.Int64
	remote := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fetched\n")
	}))
	t.Cleanup(remote.Close)
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: outside\ndata:\n  token: hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "kustomization.yaml"), []byte("resources: [secret.yaml]\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	reg := newTestRegistry(t)
	h := startServer(t, reg)
	cm := tartest.File("apps/k/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: local\n")
	kust := func(body string) tartest.Entry { return tartest.File("apps/k/kustomization.yaml", body) }
	none := `ARGOCD_APP_PARAMETERS=[{"name":"kustomize-load-restrictor","string":"LoadRestrictionsNone"}]`
	for _, c := range []struct {
		name  string
		files []tartest.Entry
		env   []string
		want  string
	}{
		{"http resource", []tartest.Entry{kust("resources: [" + remote.URL + "/cm.yaml]\n")}, nil, "is a remote reference"},
		{"https resource upper case", []tartest.Entry{kust("resources: [HTTPS://example.com/cm.yaml]\n")}, nil, "is a remote reference"},
		{"github base", []tartest.Entry{kust("resources: [\"github.com/acme/base?ref=v1\"]\n")}, nil, "is a remote reference"},
		{"scp base", []tartest.Entry{kust("resources: [git@git.example:acme/base.git]\n")}, nil, "is a remote reference"},
		{"go-getter base", []tartest.Entry{kust("resources: [\"git::https://git.example/acme/base\"]\n")}, nil, "is a remote reference"},
		{"file clone", []tartest.Entry{kust("resources: [\"file:///tmp/repo\"]\n")}, nil, "is a remote reference"},
		{"legacy bases", []tartest.Entry{kust("bases: [ssh://git@git.example/acme/base]\n")}, nil, "is a remote reference"},
		{"remote component", []tartest.Entry{kust("components: [" + remote.URL + "/c]\n")}, nil, "is a remote reference"},
		{"remote in a base", []tartest.Entry{kust("resources: [base]\n"), tartest.File("apps/k/base/kustomization.yaml", "resources: ["+remote.URL+"/cm.yaml]\n")}, nil, `apps/k/base/kustomization.yaml: resources entry`},
		{"remote patch", []tartest.Entry{cm, kust("resources: [cm.yaml]\npatches:\n- path: " + remote.URL + "/p.yaml\n")}, nil, "path entry"},
		{"remote generator file", []tartest.Entry{kust("configMapGenerator:\n- name: c\n  files: [key=" + remote.URL + "/f]\n")}, nil, "files entry"},
		{"remote in a transformer config", []tartest.Entry{cm, kust("resources: [cm.yaml]\ntransformers: [t.yaml]\n"), tartest.File("apps/k/t.yaml", "apiVersion: builtin\nkind: PatchTransformer\nmetadata:\n  name: p\npath: "+remote.URL+"/p.yaml\ntarget:\n  kind: ConfigMap\n")}, nil, "apps/k/t.yaml: path entry"},
		{"inline remote generator", []tartest.Entry{kust("generators:\n- |\n  apiVersion: builtin\n  kind: ConfigMapGenerator\n  metadata:\n    name: c\n  files: [" + remote.URL + "/f]\n")}, nil, "is a remote reference"},
		{"duplicate key hiding a remote base", []tartest.Entry{cm, kust("resources: [cm.yaml]\nresources: [" + remote.URL + "/cm.yaml]\n")}, nil, "is a remote reference"},
		// What the review found passing the first screen, all in bases
		// (the root kustomization is decoded by the plugin itself).
		{"base key in another case", []tartest.Entry{kust("resources: [base]\n"), tartest.File("apps/k/base/kustomization.yaml", "Resources: ["+remote.URL+"/cm.yaml]\n")}, nil, "is a remote reference"},
		{"base generator file in another case", []tartest.Entry{kust("resources: [base]\n"), tartest.File("apps/k/base/kustomization.yaml", "configMapGenerator:\n- name: loot\n  Files: [creds="+remote.URL+"/x]\n")}, nil, "is a remote reference"},
		{"base merge key", []tartest.Entry{cm, kust("resources: [base]\n"), tartest.File("apps/k/base/kustomization.yaml", "resources: [../cm.yaml]\n<<: {resources: [\""+remote.URL+"/cm.yaml\"]}\n")}, []string{none}, "is a remote reference"},
		{"value add target", []tartest.Entry{cm, kust("resources: [cm.yaml]\ntransformers: [v.yaml]\n"), tartest.File("apps/k/v.yaml", "apiVersion: builtin\nkind: ValueAddTransformer\nmetadata:\n  name: v\ntargetFilePath: "+remote.URL+"/t\nvalue: x\n")}, nil, "is a remote reference"},
		{"builtin with a slash", []tartest.Entry{cm, kust("resources: [cm.yaml]\ntransformers: [t.yaml]\n"), tartest.File("apps/k/t.yaml", "apiVersion: /builtin\nkind: PatchTransformer\nmetadata:\n  name: p\npath: "+remote.URL+"/p.yaml\ntarget:\n  kind: ConfigMap\n")}, nil, "is a remote reference"},
		{"builtin spelled with an escape", []tartest.Entry{cm, kust("resources: [cm.yaml]\ntransformers: [t.yaml]\n"), tartest.File("apps/k/t.yaml", "apiVersion: \"\\x62uiltin\"\nkind: PatchTransformer\nmetadata:\n  name: p\npath: "+remote.URL+"/p.yaml\ntarget:\n  kind: ConfigMap\n")}, nil, "is a remote reference"},
		{"builtin in a List", []tartest.Entry{cm, kust("resources: [cm.yaml]\ntransformers: [t.yaml]\n"), tartest.File("apps/k/t.yaml", "apiVersion: v1\nkind: List\nitems:\n- apiVersion: builtin\n  kind: PatchTransformer\n  metadata:\n    name: p\n  path: "+remote.URL+"/p.yaml\n  target:\n    kind: ConfigMap\n")}, nil, "is a remote reference"},
		{"config key in another case", []tartest.Entry{cm, kust("resources: [cm.yaml]\ntransformers: [t.yaml]\n"), tartest.File("apps/k/t.yaml", "apiVersion: builtin\nkind: PatchTransformer\nmetadata:\n  name: p\nPath: "+remote.URL+"/p.yaml\ntarget:\n  kind: ConfigMap\n")}, nil, "is a remote reference"},
		{"inline transformer with escapes", []tartest.Entry{cm, kust("resources: [cm.yaml]\ntransformers:\n- |\n  apiVersion: builtin\n  kind: PatchTransformer\n  metadata:\n    name: p\n  path: \"" + strings.ReplaceAll(remote.URL, "/", "\\x2F") + "/p.yaml\"\n  target:\n    kind: ConfigMap\n")}, nil, "is a remote reference"},
		{"git option injection", []tartest.Entry{kust("resources: [base]\n"), tartest.File("apps/k/base/kustomization.yaml", "Resources: [\"file:///tmp/r?ref=--upload-pack=touch+/tmp/pwned\"]\n")}, nil, "is a remote reference"},
		{"helmCharts", []tartest.Entry{kust("helmCharts:\n- name: web\n  repo: https://charts.example\n")}, nil, "helmCharts are not supported"},
		{"helm generator config", []tartest.Entry{kust("generators: [g.yaml]\n"), tartest.File("apps/k/g.yaml", "apiVersion: builtin\nkind: HelmChartInflationGenerator\nmetadata:\n  name: h\nchartName: web\n")}, nil, "helmCharts are not supported"},
		{"absolute file outside the repository", []tartest.Entry{kust("resources: [" + outside + "/secret.yaml]\n")}, []string{none}, "does not exist"},
		{"relative file outside the repository", []tartest.Entry{kust("resources: [../../../../../../../.." + outside + "/secret.yaml]\n")}, []string{none}, "does not exist"},
		{"base outside the repository", []tartest.Entry{kust("resources: [../../../../../../../.." + outside + "]\n")}, nil, "does not exist"},
		{"existing label not forced", []tartest.Entry{cm, kust("resources: [cm.yaml]\ncommonLabels:\n  app: web\n")}, []string{`ARGOCD_APP_PARAMETERS=[{"name":"kustomize-common-labels","map":{"app":"x"}}]`}, `label "app" is already set in the kustomization`},
		{"image name that is no regular expression", []tartest.Entry{tartest.File("apps/k/d.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: web:1\n"), kust("resources: [d.yaml]\nimages:\n- name: \"(\"\n  newTag: \"2\"\n")}, nil, "Kustomize stopped on something in the kustomization it does not check"},
		{"bad load restrictor", []tartest.Entry{cm, kust("resources: [cm.yaml]\n")}, []string{`ARGOCD_APP_PARAMETERS=[{"name":"kustomize-load-restrictor","string":"LoadRestrictionsAll"}]`}, "is not a load restrictor"},
		{"remote component parameter", []tartest.Entry{cm, kust("resources: [cm.yaml]\n")}, []string{`ARGOCD_APP_PARAMETERS=[{"name":"kustomize-components","array":["github.com/acme/c"]}]`}, "is a remote reference"},
		{"bad replicas", []tartest.Entry{cm, kust("resources: [cm.yaml]\n")}, []string{`ARGOCD_APP_PARAMETERS=[{"name":"kustomize-replicas","map":{"web":"many"}}]`}, "is not a whole number"},
		{"bad image", []tartest.Entry{cm, kust("resources: [cm.yaml]\n")}, []string{`ARGOCD_APP_PARAMETERS=[{"name":"kustomize-images","array":["=web:1"]}]`}, "empty name before '='"},
		{"kustomize options on plain manifests", []tartest.Entry{cm}, []string{`ARGOCD_APP_PARAMETERS=[{"name":"kustomize-name-prefix","string":"x-"}]`}, "apply to Kustomize applications only"},
		{"kustomize.image-name on plain manifests", []tartest.Entry{cm}, []string{`ARGOCD_APP_PARAMETERS=[{"name":"images","array":["web=` + reg.host + `/acme/web"]},{"name":"web.kustomize.image-name","string":"web"}]`}, "applies to Kustomize applications only"},
		{"base named many times over", diamond(12), nil, "the build read more than"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := hits.Load()
			_, err := h.sendRaw(context.Background(), t, rawStream{appRelPath: "apps/k", data: tartest.Tgz(t, c.files...), env: c.env})
			st, _ := status.FromError(err)
			if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), c.want) {
				t.Errorf("got %v %q, want InvalidArgument containing %q", st.Code(), st.Message(), c.want)
			}
			if strings.Contains(st.Message(), "hunter2") {
				t.Errorf("the error shows a file outside the repository: %s", st.Message())
			}
			if n := hits.Load() - before; n != 0 {
				t.Errorf("%d requests reached the remote server", n)
			}
		})
	}
}

// diamond is a kustomization at apps/k that names a base 2^levels times:
// each level names the one below twice, under two name prefixes.
func diamond(levels int) []tartest.Entry {
	files := []tartest.Entry{tartest.File("apps/l0/kustomization.yaml", "resources: [cm.yaml]\n"), tartest.File("apps/l0/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n")}
	for i := 1; i <= levels; i++ {
		for _, side := range []string{"a", "b"} {
			files = append(files, tartest.File(fmt.Sprintf("apps/l%d/%s/kustomization.yaml", i, side), fmt.Sprintf("namePrefix: %s-\nresources: [../../l%d]\n", side, i-1)))
		}
		files = append(files, tartest.File(fmt.Sprintf("apps/l%d/kustomization.yaml", i), "resources: [a, b]\n"))
	}
	return append(files, tartest.File("apps/k/kustomization.yaml", fmt.Sprintf("resources: [../l%d]\n", levels)))
}

// TestKustomizeNotRun: an alias that no built workload runs fails the
// render, naming kustomize.image-name as the likely fix; check-rendered
// "false" lets it pass.
func TestKustomizeNotRun(t *testing.T) {
	reg := newTestRegistry(t)
	registrytest.Push(t, reg.host+"/acme/web:1.6.3")
	h := startServer(t, reg)
	images := arrayParam("images", "web="+reg.host+"/acme/web:~1.6")
	env := pluginEnv(t, "web", v1alpha1.ApplicationSourcePluginParameters{images})
	_, err := h.generate(context.Background(), t, "kustomize/overlays/prod", env)
	st, _ := status.FromError(err)
	if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "set web.kustomize.image-name to that name") {
		t.Fatalf("err = %v, want InvalidArgument suggesting kustomize.image-name", err)
	}
	env = pluginEnv(t, "web", v1alpha1.ApplicationSourcePluginParameters{images, strParam("web.check-rendered", "false")})
	if _, err := h.generate(context.Background(), t, "kustomize/overlays/prod", env); err != nil {
		t.Fatalf("with check-rendered false: %v", err)
	}
}
