package kustomization

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/types"
)

func TestParseImage(t *testing.T) {
	for _, c := range []struct {
		in   string
		want types.Image
		err  string
	}{
		{"nginx:1.27", types.Image{Name: "nginx", NewTag: "1.27"}, ""},
		{"nginx", types.Image{Name: "nginx"}, ""},
		{"nginx@sha256:abc", types.Image{Name: "nginx", Digest: "sha256:abc"}, ""},
		{"nginx=mirror.example/nginx:1.28", types.Image{Name: "nginx", NewName: "mirror.example/nginx", NewTag: "1.28"}, ""},
		{"registry:5000/acme/web", types.Image{Name: "registry:5000/acme/web"}, ""},
		{"registry:5000/acme/web:1.2", types.Image{Name: "registry:5000/acme/web", NewTag: "1.2"}, ""},
		{"a=b:1@sha256:ff", types.Image{Name: "a", NewName: "b", NewTag: "1", Digest: "sha256:ff"}, ""},
		{" web = ghcr.io/acme/web:2 ", types.Image{}, "may not hold spaces"},
		{"=web:1", types.Image{}, "empty name before '='"},
		{"web=:1", types.Image{}, "no image name"},
		{"web@latest", types.Image{}, "is not a digest"},
		{"web=*:2", types.Image{Name: "web", NewName: "*", NewTag: "2"}, ""},
		{"web@*", types.Image{Name: "web", Digest: "*"}, ""},
		{"a=b=c", types.Image{}, "may not hold"},
	} {
		t.Run(c.in, func(t *testing.T) {
			got, err := ParseImage(c.in)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("ParseImage(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
			}
		})
	}
}

func TestSetImages(t *testing.T) {
	have := []types.Image{{Name: "web", NewName: "mirror/web", NewTag: "1", TagSuffix: "-x"}, {Name: "db", Digest: "sha256:a"}}
	for _, c := range []struct {
		name string
		set  []types.Image
		want []types.Image
	}{
		{"an override replaces the entry whole", []types.Image{{Name: "web", NewTag: "2"}}, []types.Image{have[1], {Name: "web", NewTag: "2"}}},
		{"preserved fields keep the entry's", []types.Image{{Name: "web", NewName: Preserve, NewTag: "2"}}, []types.Image{have[1], {Name: "web", NewName: "mirror/web", NewTag: "2"}}},
		{"preserve with no entry is empty", []types.Image{{Name: "api", NewName: Preserve, NewTag: "3"}}, []types.Image{{Name: "api", NewTag: "3"}, have[1], have[0]}},
		{"the last override of a name wins", []types.Image{{Name: "db", NewTag: "1"}, {Name: "db", NewTag: "2"}}, []types.Image{{Name: "db", NewTag: "2"}, have[0]}},
		{"no override sorts", nil, []types.Image{have[1], have[0]}},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := append([]types.Image(nil), have...)
			if got := SetImages(in, c.set...); !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
			if !reflect.DeepEqual(in, have) {
				t.Errorf("the input changed: %+v", in)
			}
		})
	}
}

func TestApply(t *testing.T) {
	k := types.Kustomization{
		NamePrefix:   "a-",
		Namespace:    "ns",
		CommonLabels: map[string]string{"app": "web"},
		Replicas:     []types.Replica{{Name: "web", Count: 1}},
		Components:   []string{"c1"},
	}
	err := Options{
		NamePrefix:   "b-",
		CommonLabels: map[string]string{"team": "x"},
		Replicas:     []types.Replica{{Name: "web", Count: 3}, {Name: "api", Count: 2}},
		Components:   []string{"c1", "c2"},
		Images:       []types.Image{{Name: "web", NewTag: "2"}},
	}.Apply(&k)
	if err != nil {
		t.Fatal(err)
	}
	want := types.Kustomization{
		NamePrefix:   "b-",
		Namespace:    "ns",
		CommonLabels: map[string]string{"app": "web", "team": "x"},
		Replicas:     []types.Replica{{Name: "web", Count: 3}, {Name: "api", Count: 2}},
		Components:   []string{"c1", "c2"},
		Images:       []types.Image{{Name: "web", NewTag: "2"}},
	}
	if !reflect.DeepEqual(k, want) {
		t.Errorf("got %+v\nwant %+v", k, want)
	}
}

// TestApplyExistingKeys: a label or annotation the kustomization sets is
// replaced only when forced, as Argo CD's kustomize edit add label does.
func TestApplyExistingKeys(t *testing.T) {
	base := func() types.Kustomization {
		return types.Kustomization{CommonLabels: map[string]string{"app": "web"}, CommonAnnotations: map[string]string{"owner": "a"}}
	}
	k := base()
	var existing *ExistingKeyError
	if err := (Options{CommonLabels: map[string]string{"app": "api"}}).Apply(&k); !errors.As(err, &existing) || existing.Key != "app" {
		t.Errorf("unforced label: err = %v, want the existing key named", err)
	}
	k = base()
	if err := (Options{CommonAnnotations: map[string]string{"owner": "b"}}).Apply(&k); !errors.As(err, &existing) || !strings.Contains(err.Error(), "kustomize-force-common-annotations") {
		t.Errorf("unforced annotation: err = %v, want the force parameter named", err)
	}
	k = base()
	if err := (Options{CommonLabels: map[string]string{"app": "api"}, ForceCommonLabels: true, CommonAnnotations: map[string]string{"owner": "b"}, ForceCommonAnnotations: true}).Apply(&k); err != nil || k.CommonLabels["app"] != "api" || k.CommonAnnotations["owner"] != "b" {
		t.Errorf("forced: err = %v, kustomization %+v", err, k)
	}
}
