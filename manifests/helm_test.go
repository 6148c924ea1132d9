package manifests

import (
	"encoding/json"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// helmValues is the part of the argo-helm argo-cd chart's values that
// helm-values.yaml sets. Decoding is strict, so a misspelt key fails.
type helmValues struct {
	RepoServer struct {
		AutomountServiceAccountToken *bool `json:"automountServiceAccountToken"`
		ServiceAccount               struct {
			Create bool   `json:"create"`
			Name   string `json:"name"`
		} `json:"serviceAccount"`
		RBAC            []rbacv1.PolicyRule `json:"rbac"`
		ExtraContainers []corev1.Container  `json:"extraContainers"`
		Volumes         []corev1.Volume     `json:"volumes"`
	} `json:"repoServer"`
	ExtraObjects []map[string]any `json:"extraObjects"`
}

func loadHelmValues(t *testing.T) *helmValues {
	t.Helper()
	data, err := os.ReadFile("helm-values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var v helmValues
	if err := yaml.UnmarshalStrict(data, &v); err != nil {
		t.Fatalf("helm-values.yaml: %v", err)
	}
	return &v
}

// TestHelmValuesMatchComponent keeps the two install paths from drifting:
// the argo-helm values must add the same container, volumes, RBAC rules and
// objects as the kustomize component.
func TestHelmValuesMatchComponent(t *testing.T) {
	v := loadHelmValues(t)
	base := render(t, baseKustomization, nil)
	with := render(t, withComponent, nil)
	pod := repoServerDeployment(t, with).Spec.Template.Spec
	basePod := repoServerDeployment(t, base).Spec.Template.Spec

	if len(v.RepoServer.ExtraContainers) != 1 {
		t.Fatalf("repoServer.extraContainers holds %d containers, want the sidecar only", len(v.RepoServer.ExtraContainers))
	}
	if got, want := &v.RepoServer.ExtraContainers[0], container(t, &pod, sidecarName); !reflect.DeepEqual(got, want) {
		gy, _ := yaml.Marshal(got)
		wy, _ := yaml.Marshal(want)
		t.Errorf("repoServer.extraContainers[0] differs from the component's container:\nhelm:\n%s\ncomponent:\n%s", gy, wy)
	}

	// The component's own volumes, with the generated ConfigMap name
	// turned back into the fixed name the Helm install uses.
	var want []corev1.Volume
	for _, vol := range pod.Volumes {
		if slices.ContainsFunc(basePod.Volumes, func(b corev1.Volume) bool { return b.Name == vol.Name }) {
			continue
		}
		vol = *vol.DeepCopy()
		if vol.ConfigMap != nil && strings.HasPrefix(vol.ConfigMap.Name, configMapName+"-") {
			vol.ConfigMap.Name = configMapName
		}
		want = append(want, vol)
	}
	if !reflect.DeepEqual(v.RepoServer.Volumes, want) {
		t.Errorf("repoServer.volumes = %+v\nwant the component's %+v", v.RepoServer.Volumes, want)
	}

	role := as[rbacv1.Role](t, find(t, with, "Role", "argocd-image-resolver"))
	if !reflect.DeepEqual(v.RepoServer.RBAC, role.Rules) {
		t.Errorf("repoServer.rbac = %+v, want the component's Role rules %+v", v.RepoServer.RBAC, role.Rules)
	}
	if a := v.RepoServer.AutomountServiceAccountToken; a == nil || *a {
		t.Error("repoServer.automountServiceAccountToken must be false: only the sidecar gets the token")
	}
	if !v.RepoServer.ServiceAccount.Create || v.RepoServer.ServiceAccount.Name != repoServer {
		t.Errorf("repoServer.serviceAccount = %+v, want create: true (the chart's Role needs it) and name %s", v.RepoServer.ServiceAccount, repoServer)
	}

	extra := map[string]*unstructured.Unstructured{}
	for _, o := range v.ExtraObjects {
		u := &unstructured.Unstructured{Object: o}
		extra[u.GetKind()+"/"+u.GetName()] = u
	}
	if len(extra) != 3 {
		t.Errorf("extraObjects = %v, want the ConfigMap, Service and NetworkPolicy", slices.Collect(maps.Keys(extra)))
	}
	cm := extra["ConfigMap/"+configMapName]
	if cm == nil {
		t.Fatalf("extraObjects lacks ConfigMap %s", configMapName)
	}
	wantCM := findPrefix(t, with, "ConfigMap", configMapName)
	if !reflect.DeepEqual(cm.Object["data"], wantCM.Object["data"]) {
		t.Error("extraObjects ConfigMap data differs from the component's plugin.yaml and registries.conf")
	}
	for _, kind := range []string{"Service", "NetworkPolicy"} {
		got := extra[kind+"/argocd-image-resolver"]
		if got == nil {
			t.Errorf("extraObjects lacks %s argocd-image-resolver", kind)
			continue
		}
		w := find(t, with, kind, "argocd-image-resolver")
		if g, w := asJSON(t, got.Object["spec"]), asJSON(t, w.Object["spec"]); g != w {
			t.Errorf("extraObjects %s spec = %s\nwant the component's %s", kind, g, w)
		}
		if !reflect.DeepEqual(got.GetLabels(), w.GetLabels()) {
			t.Errorf("extraObjects %s labels = %v, want %v", kind, got.GetLabels(), w.GetLabels())
		}
	}
}

// TestHelmExtraContainersSurviveTpl: the chart passes extraContainers
// through `tpl`, which would evaluate any template action in them.
func TestHelmExtraContainersSurviveTpl(t *testing.T) {
	v := loadHelmValues(t)
	data, err := yaml.Marshal(v.RepoServer.ExtraContainers)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "{{") {
		t.Error("repoServer.extraContainers contains `{{`, which the chart's tpl call would evaluate")
	}
}

// asJSON is the canonical JSON of v, so that numbers decoded by different
// YAML libraries compare equal.
func asJSON(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
