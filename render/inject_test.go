package render

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const (
	webRepo   = "registry.example.com/acme/web"
	webDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

// renderOverrideChart renders the overrideTag/shasum pattern chart.
func renderOverrideChart(t *testing.T, req Request) *Output {
	t.Helper()
	root := copyCharts(t)
	req.RepoRoot = root
	req.ChartDir = filepath.Join(root, "overridetag")
	req.Dependencies = testDeps(t)
	out, err := Render(context.Background(), req)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	return out
}

func TestOverrideTagPatternImageLine(t *testing.T) {
	overrides := []struct {
		name   string
		mutate func(*Request)
		pinned string // the pinned tag, "" when not pinned
	}{
		{name: "no override", mutate: func(*Request) {}},
		{name: "override-tag option", mutate: func(r *Request) { r.Images[0].OverrideTag = "1.3.0" }, pinned: "1.3.0"},
		{name: "overrideTag in values", mutate: func(r *Request) { r.Values = "image:\n  overrideTag: \"1.2.0\"\n" }, pinned: "1.2.0"},
		{name: "helm-parameter on the tag path", mutate: func(r *Request) { r.Parameters = map[string]string{"image.tag": "1.1.0"} }, pinned: "1.1.0"},
		{name: "helm-string-parameter on the tag path", mutate: func(r *Request) { r.StringParameters = map[string]string{"image.tag": "1.0.9"} }, pinned: "1.0.9"},
	}
	pins := []struct {
		mode string
		want string // rendered image line when not pinned
		vals map[string]string
	}{
		{PinTag, `image: "` + webRepo + `:1.4.2"`, map[string]string{"image.tag": "1.4.2"}},
		{PinDigest, `image: "` + webRepo + `@` + webDigest + `"`, map[string]string{"image.tag": "1.4.2", "image.shasum": webDigest}},
		{PinTagAndDigest, `image: "` + webRepo + `:1.4.2@` + webDigest + `"`, map[string]string{"image.tag": "1.4.2@" + webDigest}},
	}
	for _, o := range overrides {
		for _, p := range pins {
			t.Run(o.name+"/"+p.mode, func(t *testing.T) {
				req := Request{Images: []Image{{Alias: "web", Repository: webRepo, Tag: "1.4.2", Digest: webDigest, Pin: p.mode}}}
				o.mutate(&req)
				out := renderOverrideChart(t, req)

				want, wantVals := p.want, p.vals
				if o.pinned != "" {
					want = `image: "` + webRepo + `:` + o.pinned + `"`
					wantVals = map[string]string{"image.tag": o.pinned, "image.shasum": ""}
				}
				if got := imageLines(out); len(got) != 1 || got[0] != want {
					t.Errorf("image lines = %v, want [%s]", got, want)
				}
				inj := out.Injections[0]
				if inj.Alias != "web" || inj.Pinned != (o.pinned != "") || !reflect.DeepEqual(inj.Values, wantVals) {
					t.Errorf("injection = %+v, want pinned=%v values=%v", inj, o.pinned != "", wantVals)
				}
			})
		}
	}
}

func TestPins(t *testing.T) {
	root := copyCharts(t)
	base := func() Request {
		return Request{
			RepoRoot: root, ChartDir: filepath.Join(root, "umbrella"), Dependencies: testDeps(t),
			Images: []Image{
				{Alias: "frontend", Repository: "registry.example.com/acme/frontend", TagPath: "frontend.image.tag"},
				{Alias: "api", Repository: "registry.example.com/acme/api", TagPath: "backend.containers[0].image.tag"},
			},
		}
	}
	cases := []struct {
		name   string
		mutate func(*Request)
		want   map[string]string
	}{
		{"none", func(*Request) {}, map[string]string{}},
		{"option", func(r *Request) { r.Images[1].OverrideTag = "4.0.0" }, map[string]string{"api": "4.0.0"}},
		{"sub-chart values", func(r *Request) { r.Values = "frontend:\n  image:\n    overrideTag: \"3.0.1\"\n" }, map[string]string{"frontend": "3.0.1"}},
		{"parameter with list index", func(r *Request) { r.Parameters = map[string]string{"backend.containers[0].image.tag": "4.1.0"} }, map[string]string{"api": "4.1.0"}},
		{"explicit override path", func(r *Request) {
			r.Images[1].OverridePath = "backend.pinned"
			r.StringParameters = map[string]string{"backend.pinned": "4.0.9"}
		}, map[string]string{"api": "4.0.9"}},
		{"empty override value does not pin", func(r *Request) { r.Values = "frontend:\n  image:\n    overrideTag: \"\"\n" }, map[string]string{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := base()
			c.mutate(&req)
			got, err := Pins(req)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("Pins = %v, want %v", got, c.want)
			}
		})
	}
}

// TestPreparedPinsThenRender is the caller's flow: pins first, resolution,
// then render from the same preparation; a second render loads the chart
// again and gives the same result.
func TestPreparedPinsThenRender(t *testing.T) {
	root := copyCharts(t)
	req := Request{
		RepoRoot: root, ChartDir: filepath.Join(root, "overridetag"), Dependencies: testDeps(t),
		Values: "image:\n  overrideTag: \"0.8.0\"\n",
		Images: []Image{{Alias: "web", Repository: webRepo}},
	}
	p, err := Prepare(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	pins, err := p.Pins()
	if err != nil || !reflect.DeepEqual(pins, map[string]string{"web": "0.8.0"}) {
		t.Fatalf("Pins = %v, %v", pins, err)
	}
	first, err := p.Render(context.Background(), req.Images)
	if err != nil {
		t.Fatal(err)
	}
	second, err := p.Render(context.Background(), req.Images)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(first, second) {
		t.Errorf("second render differs:\n%v\n%v", first.Manifests, second.Manifests)
	}
	if got := imageLines(first); len(got) != 1 || got[0] != `image: "`+webRepo+`:0.8.0"` {
		t.Errorf("image lines = %v", got)
	}
}

func TestTagStringFidelity(t *testing.T) {
	for _, tag := range []string{"1.10", "0123", "1e3", "true", "1.0", "null", "0x1F"} {
		t.Run(tag, func(t *testing.T) {
			want := `image: "` + webRepo + `:` + tag + `"`
			out := renderOverrideChart(t, Request{Images: []Image{{Alias: "web", Repository: webRepo, Tag: tag}}})
			if got := imageLines(out); len(got) != 1 || got[0] != want {
				t.Errorf("resolved tag: image lines = %v, want %s", got, want)
			}
			out = renderOverrideChart(t, Request{Images: []Image{{Alias: "web", Repository: webRepo, Tag: "9.9.9", OverrideTag: tag}}})
			if got := imageLines(out); len(got) != 1 || got[0] != want {
				t.Errorf("override-tag option: image lines = %v, want %s", got, want)
			}
		})
	}
}

func TestTagStringFidelityParity(t *testing.T) {
	bin := helmBin(t)
	for _, tag := range []string{"1.10", "0123", "1e3", "true"} {
		t.Run(tag, func(t *testing.T) {
			assertParity(t, bin, parityCase{
				chart: "overridetag",
				req:   Request{ReleaseName: "web", Images: []Image{{Alias: "web", Repository: webRepo, Tag: tag}}},
			}, nil)
		})
	}
}

func TestUmbrellaPathsWithListIndexes(t *testing.T) {
	root := copyCharts(t)
	out, err := Render(context.Background(), Request{
		RepoRoot: root, ChartDir: filepath.Join(root, "umbrella"), Dependencies: testDeps(t),
		Images: []Image{
			{Alias: "frontend", Repository: "registry.example.com/acme/frontend", Tag: "3.2.0", TagPath: "frontend.image.tag", NamePath: "frontend.image.repository"},
			{Alias: "proxy", Repository: "registry.example.com/acme/proxy", Tag: "1.1.0", Digest: webDigest, Pin: PinTagAndDigest, TagPath: "backend.containers[1].image.tag"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`image: "registry.example.com/acme/api:4.2.0"`, // containers[0] kept from the chart's values
		`image: "registry.example.com/acme/proxy:1.1.0@` + webDigest + `"`,
		`image: "registry.example.com/acme/frontend:3.2.0"`,
	}
	got := imageLines(out)
	for _, w := range want {
		if !containsLine(out, w) {
			t.Errorf("missing %s in %v", w, got)
		}
	}
	wantInj := []Injection{
		{Alias: "frontend", Values: map[string]string{"frontend.image.tag": "3.2.0", "frontend.image.repository": "registry.example.com/acme/frontend"}},
		{Alias: "proxy", Values: map[string]string{"backend.containers[1].image.tag": "1.1.0@" + webDigest}},
	}
	if !reflect.DeepEqual(out.Injections, wantInj) {
		t.Errorf("injections = %+v, want %+v", out.Injections, wantInj)
	}
}

func TestSpecPath(t *testing.T) {
	vals := map[string]interface{}{}
	for _, c := range []struct {
		pin  string
		want string
	}{
		{PinTag, webRepo + ":1.4.2"},
		{PinDigest, webRepo + "@" + webDigest},
		{PinTagAndDigest, webRepo + ":1.4.2@" + webDigest},
	} {
		img := Image{Alias: "web", Repository: webRepo, Tag: "1.4.2", Digest: webDigest, Pin: c.pin, SpecPath: "app.image"}
		ws, inj, _, _, err := injections([]Image{img}, vals, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(ws) != 1 || ws[0].path.String() != "app.image" || ws[0].value != c.want || inj[0].Values["app.image"] != c.want {
			t.Errorf("pin %s: writes %+v, want app.image=%s", c.pin, ws, c.want)
		}
	}
}

func TestInjectionErrors(t *testing.T) {
	cases := []struct {
		name   string
		images []Image
		want   []string
	}{
		{"several aliases without paths", []Image{{Alias: "web", Tag: "1"}, {Alias: "api", Tag: "2"}, {Alias: "db", Tag: "3", TagPath: "db.tag"}},
			[]string{`"web"`, `"api"`, "helm.image-tag"}},
		{"two aliases on one path", []Image{{Alias: "web", Tag: "1", TagPath: "image.tag"}, {Alias: "api", Tag: "2", TagPath: "image.tag"}},
			[]string{`"web"`, `"api"`, "image.tag"}},
		{"duplicate alias", []Image{{Alias: "web", Tag: "1", TagPath: "a.tag"}, {Alias: "web", Tag: "2", TagPath: "b.tag"}}, []string{`"web"`, "twice"}},
		{"bad path", []Image{{Alias: "web", Tag: "1", TagPath: "image..tag"}}, []string{`"web"`, "helm.image-tag", "empty key"}},
		{"unknown pin", []Image{{Alias: "web", Tag: "1", Pin: "sha"}}, []string{`"web"`, `"sha"`}},
		{"digest pin without digest", []Image{{Alias: "web", Tag: "1", Pin: PinDigest}}, []string{`"web"`, "digest"}},
		{"tag pin without tag", []Image{{Alias: "web"}}, []string{`"web"`, "tag"}},
		{"spec without repository", []Image{{Alias: "web", Tag: "1", SpecPath: "image.ref"}}, []string{`"web"`, "repository"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, _, _, err := injections(c.images, map[string]interface{}{}, nil)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
		})
	}
}

// TestConcurrentRenders renders different tags of one chart at the same
// time; each result must carry its own tag (run with -race as well).
func TestConcurrentRenders(t *testing.T) {
	root := copyCharts(t)
	deps := testDeps(t)
	tags := []string{"1.0.0", "1.0.1", "1.0.2", "1.0.3"}
	errs := make(chan error, len(tags))
	for _, tag := range tags {
		go func() {
			out, err := Render(context.Background(), Request{
				RepoRoot: root, ChartDir: filepath.Join(root, "overridetag"), Dependencies: deps,
				Images: []Image{{Alias: "web", Repository: webRepo, Tag: tag}},
			})
			if err == nil && !containsLine(out, `image: "`+webRepo+`:`+tag+`"`) {
				err = fmt.Errorf("tag %s: image lines %v", tag, imageLines(out))
			}
			errs <- err
		}()
	}
	for range tags {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
