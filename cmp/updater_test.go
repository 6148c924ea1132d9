package cmp

import (
	"context"
	"os"
	"testing"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/argocd-image-resolver/argocd-image-resolver/test/tartest"
)

// TestArgoCDImageUpdaterKeysAsTheyAre: keys copied from
// argocd-image-updater's annotations work as they are: image-list (a
// comma-separated string) as a parameter, in the plugin env and in the repo
// file, with or without the annotation prefix, and its per-alias keys as
// top-level parameters. Misspelled keys are still refused.
func TestArgoCDImageUpdaterKeysAsTheyAre(t *testing.T) {
	reg := newTestRegistry(t)
	reg.push(t, "acme/web", "1.5.0", "1.6.3")
	reg.push(t, "acme/api", "2.0.0")
	h := startServer(t, reg)
	const prefix = "argocd-image-updater.argoproj.io/"
	list := "web=" + reg.host + "/acme/web:~1.6, api=" + reg.host + "/acme/api"
	want := `image: "` + reg.host + `/acme/web:1.6.3"`
	// The second image is paused, so only web is written; each alias still
	// names its path, as with several images it must.
	perAlias := func(p string) v1alpha1.ApplicationSourcePluginParameters {
		return v1alpha1.ApplicationSourcePluginParameters{
			strParam(p+"web.helm.image-name", "image.repository"),
			strParam(p+"web.helm.image-tag", "image.tag"),
			strParam(p+"api.helm.image-tag", "api.tag"),
			strParam(p+"api.ignore-tags", "*"),
		}
	}
	cases := []struct {
		name   string
		params v1alpha1.ApplicationSourcePluginParameters
		env    []string
	}{
		{"prefixed image-list parameter and per-alias keys", append(v1alpha1.ApplicationSourcePluginParameters{strParam(prefix+"image-list", list)}, perAlias(prefix)...), nil},
		{"bare image-list parameter and per-alias keys", append(v1alpha1.ApplicationSourcePluginParameters{strParam("image-list", list)}, perAlias("")...), nil},
		{"image-list in the plugin env", perAlias(prefix), []string{"ARGOCD_ENV_image-list=" + list}},
		{"prefixed image-list in the plugin env", perAlias(""), []string{"ARGOCD_ENV_" + prefix + "image-list=" + list}},
		{"per-alias keys beside image-options", v1alpha1.ApplicationSourcePluginParameters{
			strParam(prefix+"image-list", list),
			mapParam("image-options", map[string]string{"web.helm.image-name": "image.repository", "api.helm.image-tag": "api.tag"}),
			strParam(prefix+"web.helm.image-tag", "image.tag"),
			strParam("api.ignore-tags", "*"),
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := h.generate(context.Background(), t, "apps/web", pluginEnv(t, "web", tc.params, tc.env...))
			if err != nil {
				t.Fatal(err)
			}
			mustContain(t, manifestsText(resp), want)
		})
	}

	t.Run("in the repository file", func(t *testing.T) {
		conf := prefix + "image-list: " + list + "\n" +
			prefix + "web.helm.image-name: image.repository\n" +
			"web.helm.image-tag: image.tag\napi.helm.image-tag: api.tag\napi.ignore-tags: \"*\"\n"
		data := tartest.Tgz(t, append(webChartEntries(t), tartest.File("apps/web/"+RepoConfigFile, conf))...)
		resp, err := h.sendRaw(context.Background(), t, rawStream{appRelPath: "apps/web", data: data})
		if err != nil {
			t.Fatal(err)
		}
		mustContain(t, manifestsText(resp), want)
	})

	for _, bad := range []struct{ name, param, want string }{
		{"misspelled per-alias key", prefix + "web.update-stratgy", `unknown parameter "` + prefix + `web.update-stratgy"`},
		{"misspelled image-list", "imagelist", `unknown parameter "imagelist"`},
		{"write-back settings are not needed", prefix + "write-back-method", "nothing is written back"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			params := v1alpha1.ApplicationSourcePluginParameters{strParam(prefix+"image-list", list), strParam(bad.param, "x")}
			_, err := h.generate(context.Background(), t, "apps/web", pluginEnv(t, "web", params))
			st, _ := status.FromError(err)
			if st.Code() != codes.InvalidArgument {
				t.Fatalf("got %v, want InvalidArgument", err)
			}
			mustContain(t, st.Message(), bad.want)
		})
	}

	t.Run("an alias named image keeps its per-alias keys", func(t *testing.T) {
		// image.<alias> is also the name of the parameters the plugin
		// announces; an option key of an alias named image is not one.
		params := v1alpha1.ApplicationSourcePluginParameters{
			strParam(prefix+"image-list", "image="+reg.host+"/acme/web"),
			strParam(prefix+"image.allow-tags", "regexp:^1\\.5\\."),
			strParam("image.helm.image-name", "image.repository"),
			strParam("image.web", "announced by the plugin, sent back by the UI"),
		}
		resp, err := h.generate(context.Background(), t, "apps/web", pluginEnv(t, "web", params))
		if err != nil {
			t.Fatal(err)
		}
		mustContain(t, manifestsText(resp), `image: "`+reg.host+`/acme/web:1.5.0"`)
	})

	t.Run("images and image-list together", func(t *testing.T) {
		params := v1alpha1.ApplicationSourcePluginParameters{strParam("image-list", list), arrayParam("images", "web="+reg.host+"/acme/web")}
		_, err := h.generate(context.Background(), t, "apps/web", pluginEnv(t, "web", params))
		st, _ := status.FromError(err)
		if st.Code() != codes.InvalidArgument {
			t.Fatalf("got %v, want InvalidArgument", err)
		}
		mustContain(t, st.Message(), "images", "image-list", "not both")
	})
}

// webChartEntries is testdata/repo/apps/web as tar entries.
func webChartEntries(t *testing.T) []tartest.Entry {
	t.Helper()
	var out []tartest.Entry
	for _, f := range []string{"Chart.yaml", "values.yaml", "templates/deployment.yaml"} {
		out = append(out, tartest.File("apps/web/"+f, readTestdata(t, "testdata/repo/apps/web/"+f)))
	}
	return out
}

func readTestdata(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
