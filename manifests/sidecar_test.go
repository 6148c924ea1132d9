package manifests

import (
	"net"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/argocd-image-resolver/argocd-image-resolver/plugin"
)

const (
	tokenPath   = "/var/run/secrets/kubernetes.io/serviceaccount"
	pluginsPath = "/home/argocd/cmp-server/plugins"
	httpPort    = 8080
)

func TestComponentAddsSidecar(t *testing.T) {
	objs := render(t, withComponent, nil)
	pod := repoServerDeployment(t, objs).Spec.Template.Spec
	c := container(t, &pod, sidecarName)

	if !strings.HasPrefix(c.Image, "ghcr.io/argocd-image-resolver/argocd-image-resolver:") {
		t.Errorf("image = %q, want the project image", c.Image)
	}
	if want := []string{"/argocd-image-resolver", "serve"}; !slices.Equal(c.Command, want) {
		t.Errorf("command = %q, want %q (the binary serves the CMP protocol itself)", c.Command, want)
	}
	wantSC := &corev1.SecurityContext{
		RunAsUser:                ptr.To[int64](999),
		RunAsGroup:               ptr.To[int64](999),
		RunAsNonRoot:             ptr.To(true),
		ReadOnlyRootFilesystem:   ptr.To(true),
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	if !reflect.DeepEqual(c.SecurityContext, wantSC) {
		t.Errorf("securityContext = %+v, want %+v", c.SecurityContext, wantSC)
	}
	if env := envValue(c, "ARGOCD_PLUGINSOCKFILEPATH"); env != pluginsPath {
		t.Errorf("ARGOCD_PLUGINSOCKFILEPATH = %q, want %q", env, pluginsPath)
	}

	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, lim := c.Resources.Requests[r], c.Resources.Limits[r]
		if req.IsZero() || lim.IsZero() {
			t.Errorf("resources for %s: request %v, limit %v; want both set", r, req.String(), lim.String())
		} else if req.Cmp(lim) > 0 {
			t.Errorf("resources for %s: request %v above limit %v", r, req.String(), lim.String())
		}
	}
}

func TestSidecarProbesAndPorts(t *testing.T) {
	pod := repoServerDeployment(t, render(t, withComponent, nil)).Spec.Template.Spec
	c := container(t, &pod, sidecarName)

	port := containerPort(t, c, "resolver-http")
	if port != httpPort {
		t.Fatalf("port resolver-http = %d, want %d", port, httpPort)
	}
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		want := map[string]string{"liveness": "/healthz", "readiness": "/readyz"}[name]
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s probe missing or not httpGet", name)
			continue
		}
		if p.HTTPGet.Path != want {
			t.Errorf("%s probe path = %q, want %q", name, p.HTTPGet.Path, want)
		}
		if got := resolvePort(t, c, p.HTTPGet.Port); got != httpPort {
			t.Errorf("%s probe port = %d, want %d", name, got, httpPort)
		}
	}

	// Containers of a pod share one network namespace: every port the
	// sidecar listens on (container ports and --*-addr flags, the loopback
	// debug port included) must be free of the repo-server's.
	taken := map[int32]string{}
	for _, other := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
		if other.Name == sidecarName {
			continue
		}
		for _, p := range other.Ports {
			taken[p.ContainerPort] = other.Name
		}
	}
	if len(taken) == 0 {
		t.Fatal("Argo CD's repo-server declares no ports; the install manifest changed shape")
	}
	listens := []int32{port}
	for _, arg := range c.Args {
		name, value, ok := strings.Cut(strings.TrimPrefix(arg, "--"), "=")
		if !ok || !strings.HasSuffix(name, "-addr") {
			continue
		}
		_, p, err := net.SplitHostPort(value)
		if err != nil {
			t.Errorf("flag --%s=%q: %v", name, value, err)
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil || n == 0 {
			t.Errorf("flag --%s=%q: no port number", name, value)
			continue
		}
		listens = append(listens, int32(n))
	}
	if len(listens) < 3 {
		t.Errorf("sidecar args %q set fewer than two --*-addr flags; the defaults are not checked against the pod", c.Args)
	}
	for _, p := range listens {
		if owner, ok := taken[p]; ok {
			t.Errorf("sidecar listens on port %d, which container %q of the same pod uses", p, owner)
		}
	}
}

func TestSidecarVolumes(t *testing.T) {
	objs := render(t, withComponent, nil)
	pod := repoServerDeployment(t, objs).Spec.Template.Spec
	c := container(t, &pod, sidecarName)

	plugins := mountAt(c, pluginsPath)
	if plugins == nil || plugins.Name != "plugins" {
		t.Fatalf("sidecar must mount Argo CD's shared `plugins` volume at %s; mounts: %+v", pluginsPath, c.VolumeMounts)
	}
	if v := volume(t, &pod, "plugins"); v.EmptyDir == nil {
		t.Errorf("plugins volume is not Argo CD's emptyDir: %+v", v.VolumeSource)
	}

	tmp := mountAt(c, "/tmp")
	if tmp == nil {
		t.Fatal("sidecar has no /tmp mount; with a read-only root file system it cannot write anywhere")
	}
	repoTmp := mountAt(container(t, &pod, repoServer), "/tmp")
	if repoTmp == nil {
		t.Fatal("repo-server has no /tmp mount; the install manifest changed shape")
	}
	if tmp.Name == repoTmp.Name {
		t.Errorf("sidecar /tmp is the repo-server's volume %q; it must have its own", tmp.Name)
	}
	if v := volume(t, &pod, tmp.Name); v.EmptyDir == nil {
		t.Errorf("sidecar /tmp volume %q is not an emptyDir: %+v", tmp.Name, v.VolumeSource)
	}
	for _, m := range c.VolumeMounts {
		if m.Name == "var-files" || m.Name == repoTmp.Name {
			t.Errorf("sidecar mounts repo-server volume %q at %s", m.Name, m.MountPath)
		}
	}

	// Config: the generated ConfigMap, read-only, with plugin.yaml equal
	// to the repository's.
	cfg := mountAt(c, "/home/argocd/cmp-server/config")
	if cfg == nil || !cfg.ReadOnly {
		t.Fatalf("config mount at /home/argocd/cmp-server/config missing or writable: %+v", cfg)
	}
	cv := volume(t, &pod, cfg.Name)
	if cv.ConfigMap == nil {
		t.Fatalf("config volume %q is not a ConfigMap", cfg.Name)
	}
	cm := as[corev1.ConfigMap](t, find(t, objs, "ConfigMap", cv.ConfigMap.Name))
	if !strings.HasPrefix(cm.Name, configMapName+"-") || cm.Namespace != argoCDNamespace {
		t.Errorf("config volume refers to ConfigMap %s/%s, want %s/%s-<hash>", cm.Namespace, cm.Name, argoCDNamespace, configMapName)
	}
	rootPlugin, err := os.ReadFile("../plugin.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["plugin.yaml"] != string(rootPlugin) {
		t.Error("ConfigMap plugin.yaml differs from the repository's plugin.yaml; copy it to manifests/sidecar/plugin.yaml")
	}
	if _, ok := cm.Data["registries.conf"]; !ok {
		t.Error("ConfigMap has no registries.conf")
	}

	// Credentials: optional Secrets, so the pod starts without them.
	for _, name := range []string{"image-resolver-registry-creds", "image-resolver-webhook"} {
		v := volume(t, &pod, name)
		if v.Secret == nil || v.Secret.Optional == nil || !*v.Secret.Optional {
			t.Errorf("volume %q must be an optional Secret: %+v", name, v.VolumeSource)
		}
		if m := mountNamed(c, name); m == nil || !m.ReadOnly {
			t.Errorf("volume %q not mounted read-only in the sidecar", name)
		}
	}
	docker := volume(t, &pod, "image-resolver-registry-creds")
	if m := mountNamed(c, docker.Name); m == nil || envValue(c, "DOCKER_CONFIG") != m.MountPath {
		t.Errorf("DOCKER_CONFIG = %q does not point at the registry credentials mount", envValue(c, "DOCKER_CONFIG"))
	}
	if len(docker.Secret.Items) != 1 || docker.Secret.Items[0].Key != corev1.DockerConfigJsonKey || docker.Secret.Items[0].Path != "config.json" {
		t.Errorf("registry credentials must map %s to config.json: %+v", corev1.DockerConfigJsonKey, docker.Secret.Items)
	}
}

func TestTokenProjectedIntoSidecarOnly(t *testing.T) {
	pod := repoServerDeployment(t, render(t, withComponent, nil)).Spec.Template.Spec
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Fatal("pod must keep automountServiceAccountToken: false")
	}
	if pod.ServiceAccountName != repoServer {
		t.Fatalf("serviceAccountName = %q, want %q", pod.ServiceAccountName, repoServer)
	}
	c := container(t, &pod, sidecarName)
	m := mountAt(c, tokenPath)
	if m == nil || !m.ReadOnly {
		t.Fatalf("sidecar needs a read-only mount at %s for client-go's in-cluster config", tokenPath)
	}
	v := volume(t, &pod, m.Name)
	if v.Projected == nil {
		t.Fatalf("token volume %q is not projected", m.Name)
	}
	var token, ca, ns bool
	for _, s := range v.Projected.Sources {
		switch {
		case s.ServiceAccountToken != nil:
			token = s.ServiceAccountToken.Path == "token" && s.ServiceAccountToken.Audience == ""
		case s.ConfigMap != nil:
			ca = s.ConfigMap.Name == "kube-root-ca.crt" &&
				reflect.DeepEqual(s.ConfigMap.Items, []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}})
		case s.DownwardAPI != nil:
			ns = len(s.DownwardAPI.Items) == 1 && s.DownwardAPI.Items[0].Path == "namespace" &&
				s.DownwardAPI.Items[0].FieldRef != nil && s.DownwardAPI.Items[0].FieldRef.FieldPath == "metadata.namespace"
		}
	}
	if !token || !ca || !ns {
		t.Errorf("projected sources must give token (API audience), ca.crt and namespace; got token=%v ca=%v namespace=%v", token, ca, ns)
	}
	for _, other := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
		if other.Name == sidecarName {
			continue
		}
		for _, om := range other.VolumeMounts {
			if om.Name == m.Name || om.MountPath == tokenPath {
				t.Errorf("container %q mounts the token (%s at %s); only the sidecar may", other.Name, om.Name, om.MountPath)
			}
		}
	}
}

// TestComponentLeavesArgoCDAlone: everything Argo CD ships comes out as it
// went in, apart from the one container and the volumes added to the
// repo-server pod.
func TestComponentLeavesArgoCDAlone(t *testing.T) {
	base := render(t, baseKustomization, nil)
	with := render(t, withComponent, nil)

	key := func(o *unstructured.Unstructured) string {
		return o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
	}
	byKey := map[string]*unstructured.Unstructured{}
	for _, o := range with {
		byKey[key(o)] = o
	}
	for _, b := range base {
		w, ok := byKey[key(b)]
		if !ok {
			t.Errorf("%s disappeared", key(b))
			continue
		}
		delete(byKey, key(b))
		if key(b) == "Deployment/argocd/"+repoServer {
			continue
		}
		if !reflect.DeepEqual(b.Object, w.Object) {
			t.Errorf("%s changed", key(b))
		}
	}
	var added []string
	for k := range byKey {
		added = append(added, k)
	}
	slices.Sort(added)
	cm := findPrefix(t, with, "ConfigMap", configMapName)
	want := []string{
		"ConfigMap/argocd/" + cm.GetName(),
		"NetworkPolicy/argocd/argocd-image-resolver",
		"Role/argocd/argocd-image-resolver",
		"RoleBinding/argocd/argocd-image-resolver",
		"Service/argocd/argocd-image-resolver",
	}
	if !slices.Equal(added, want) {
		t.Errorf("component added %q, want %q", added, want)
	}

	bPod := repoServerDeployment(t, base).Spec.Template.Spec
	wDep := repoServerDeployment(t, with)
	wPod := wDep.Spec.Template.Spec
	if !reflect.DeepEqual(container(t, &bPod, repoServer), container(t, &wPod, repoServer)) {
		t.Error("the argocd-repo-server container changed")
	}
	if !reflect.DeepEqual(bPod.InitContainers, wPod.InitContainers) {
		t.Error("init containers changed")
	}
	for _, v := range bPod.Volumes {
		if !reflect.DeepEqual(&v, volume(t, &wPod, v.Name)) {
			t.Errorf("Argo CD volume %q changed", v.Name)
		}
	}
	if wPod.Containers[0].Name != repoServer || wPod.Containers[len(wPod.Containers)-1].Name != sidecarName {
		t.Error("the sidecar must be appended: Argo CD's container stays first, where kubectl and index-based patches expect it")
	}
	if len(wPod.Containers) != len(bPod.Containers)+1 {
		t.Errorf("pod has %d containers, want Argo CD's %d plus the sidecar", len(wPod.Containers), len(bPod.Containers))
	}
}

func TestRBACIsApplicationsEventsAndTheRefresherLeaseOnly(t *testing.T) {
	objs := render(t, withComponent, nil)
	role := as[rbacv1.Role](t, find(t, objs, "Role", "argocd-image-resolver"))
	want := []rbacv1.PolicyRule{{
		APIGroups: []string{"argoproj.io"},
		Resources: []string{"applications"},
		Verbs:     []string{"get", "list", "watch", "patch"},
	}, {
		APIGroups: []string{""},
		Resources: []string{"events"},
		Verbs:     []string{"create"},
	}, {
		APIGroups: []string{"coordination.k8s.io"},
		Resources: []string{"leases"},
		Verbs:     []string{"create"},
	}, {
		APIGroups:     []string{"coordination.k8s.io"},
		Resources:     []string{"leases"},
		ResourceNames: []string{"argocd-image-resolver-refresher"},
		Verbs:         []string{"get", "update"},
	}}
	if role.Namespace != argoCDNamespace || !reflect.DeepEqual(role.Rules, want) {
		t.Errorf("Role %s/%s rules = %+v, want exactly %+v in %s", role.Namespace, role.Name, role.Rules, want, argoCDNamespace)
	}
	rb := as[rbacv1.RoleBinding](t, find(t, objs, "RoleBinding", "argocd-image-resolver"))
	if rb.Namespace != argoCDNamespace {
		t.Errorf("RoleBinding namespace = %q, want %q", rb.Namespace, argoCDNamespace)
	}
	if rb.RoleRef != (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name}) {
		t.Errorf("RoleBinding roleRef = %+v, want the Role %q", rb.RoleRef, role.Name)
	}
	if len(rb.Subjects) != 1 {
		t.Fatalf("RoleBinding subjects = %+v, want only the repo-server ServiceAccount", rb.Subjects)
	}
	s := rb.Subjects[0]
	if s.Kind != rbacv1.ServiceAccountKind || s.Name != repoServer || (s.Namespace != "" && s.Namespace != argoCDNamespace) {
		t.Errorf("RoleBinding subject = %+v, want ServiceAccount %s in %s", s, repoServer, argoCDNamespace)
	}
	find(t, objs, "ServiceAccount", repoServer)
	for _, o := range objs {
		if strings.HasPrefix(o.GetName(), "argocd-image-resolver") && strings.HasPrefix(o.GetKind(), "Cluster") {
			t.Errorf("component adds cluster-wide %s %s", o.GetKind(), o.GetName())
		}
	}
}

func TestServiceAndNetworkPolicy(t *testing.T) {
	objs := render(t, withComponent, nil)
	dep := repoServerDeployment(t, objs)
	pod := dep.Spec.Template
	c := container(t, &pod.Spec, sidecarName)

	svc := as[corev1.Service](t, find(t, objs, "Service", "argocd-image-resolver"))
	if svc.Namespace != argoCDNamespace {
		t.Errorf("Service namespace = %q", svc.Namespace)
	}
	if len(svc.Spec.Selector) == 0 {
		t.Fatal("Service has no selector")
	}
	for k, v := range svc.Spec.Selector {
		if pod.Labels[k] != v {
			t.Errorf("Service selector %s=%s does not match the repo-server pod labels %v", k, v, pod.Labels)
		}
	}
	if len(svc.Spec.Ports) != 1 {
		t.Fatalf("Service ports = %+v, want one", svc.Spec.Ports)
	}
	sp := svc.Spec.Ports[0]
	if sp.Port != httpPort || resolvePort(t, c, sp.TargetPort) != httpPort {
		t.Errorf("Service port %d -> %s, want %d -> the sidecar's %d", sp.Port, sp.TargetPort.String(), httpPort, httpPort)
	}

	np := as[networkingv1.NetworkPolicy](t, find(t, objs, "NetworkPolicy", "argocd-image-resolver"))
	for k, v := range np.Spec.PodSelector.MatchLabels {
		if pod.Labels[k] != v {
			t.Errorf("NetworkPolicy selects %s=%s, not the repo-server pod", k, v)
		}
	}
	open := false
	for _, rule := range np.Spec.Ingress {
		for _, p := range rule.Ports {
			if p.Port != nil && resolvePort(t, c, *p.Port) == httpPort {
				open = true
			}
		}
	}
	if !open {
		t.Errorf("NetworkPolicy does not admit port %d", httpPort)
	}
}

// TestUserOverridesRegistriesConf: the documented way to replace
// registries.conf (a patch of the ConfigMap in the user's kustomization)
// reaches the pod under a new hashed name, so the pod restarts.
func TestUserOverridesRegistriesConf(t *testing.T) {
	const conf = "registries:\n  - name: Internal\n    prefix: registry.example.com\n    api_url: https://registry.example.com\n"
	k := withComponent + `patches:
  - path: registries-patch.yaml
`
	patch := `apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-image-resolver-config
data:
  registries.conf: |
` + indent(conf, "    ")
	def := findPrefix(t, render(t, withComponent, nil), "ConfigMap", configMapName)
	objs := render(t, k, map[string]string{"registries-patch.yaml": patch})
	cm := as[corev1.ConfigMap](t, findPrefix(t, objs, "ConfigMap", configMapName))
	if cm.Data["registries.conf"] != conf {
		t.Errorf("registries.conf = %q, want the user's", cm.Data["registries.conf"])
	}
	if cm.Data["plugin.yaml"] == "" {
		t.Error("patch dropped plugin.yaml")
	}
	if cm.Name == def.GetName() {
		t.Error("ConfigMap name hash did not change with its content; the pod would not restart")
	}
	pod := repoServerDeployment(t, objs).Spec.Template.Spec
	if v := volume(t, &pod, "image-resolver-config"); v.ConfigMap.Name != cm.Name {
		t.Errorf("pod mounts ConfigMap %q, want %q", v.ConfigMap.Name, cm.Name)
	}
}

func indent(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "")
}

func envValue(c *corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func mountNamed(c *corev1.Container, name string) *corev1.VolumeMount {
	for i := range c.VolumeMounts {
		if c.VolumeMounts[i].Name == name {
			return &c.VolumeMounts[i]
		}
	}
	return nil
}

func containerPort(t *testing.T, c *corev1.Container, name string) int32 {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("container %q has no port named %q", c.Name, name)
	return 0
}

// resolvePort turns a numeric or named port of c into its number.
func resolvePort(t *testing.T, c *corev1.Container, p intstr.IntOrString) int32 {
	t.Helper()
	if p.Type == intstr.Int {
		return p.IntVal
	}
	return containerPort(t, c, p.StrVal)
}

// TestServiceMonitorExampleScrapesService: the example selects the
// component's Service and names its metrics port.
func TestServiceMonitorExampleScrapesService(t *testing.T) {
	data, err := os.ReadFile("examples/servicemonitor.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var sm struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Namespace string `json:"namespace"`
		} `json:"metadata"`
		Spec struct {
			NamespaceSelector struct {
				MatchNames []string `json:"matchNames"`
			} `json:"namespaceSelector"`
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			Endpoints []struct {
				Port string `json:"port"`
				Path string `json:"path"`
			} `json:"endpoints"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &sm); err != nil {
		t.Fatal(err)
	}
	if sm.APIVersion != "monitoring.coreos.com/v1" || sm.Kind != "ServiceMonitor" {
		t.Fatalf("example is %s %s, want a monitoring.coreos.com/v1 ServiceMonitor", sm.APIVersion, sm.Kind)
	}
	svc := as[corev1.Service](t, find(t, render(t, withComponent, nil), "Service", "argocd-image-resolver"))
	if len(sm.Spec.Selector.MatchLabels) == 0 {
		t.Fatal("ServiceMonitor selects no labels")
	}
	for k, v := range sm.Spec.Selector.MatchLabels {
		if svc.Labels[k] != v {
			t.Errorf("ServiceMonitor selects %s=%s; the Service has labels %v", k, v, svc.Labels)
		}
	}
	if !slices.Equal(sm.Spec.NamespaceSelector.MatchNames, []string{svc.Namespace}) {
		t.Errorf("namespaceSelector %v, want [%s]", sm.Spec.NamespaceSelector.MatchNames, svc.Namespace)
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Path != "/metrics" ||
		!slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == sm.Spec.Endpoints[0].Port }) {
		t.Errorf("endpoints %+v must scrape /metrics on a named port of the Service %+v", sm.Spec.Endpoints, svc.Spec.Ports)
	}
}

// TestSidecarArgPathsAreMounted: every file a flag names is in a volume the
// sidecar mounts, and files from the ConfigMap are keys of it; also with the
// documented patch that turns the webhook receiver on.
func TestSidecarArgPathsAreMounted(t *testing.T) {
	t.Run("default", func(t *testing.T) {
		checkArgPaths(t, render(t, withComponent, nil), 3)
	})
	t.Run("webhook enabled", func(t *testing.T) {
		objs := render(t, withComponent+webhookPatch, nil)
		pod := repoServerDeployment(t, objs).Spec.Template.Spec
		c := container(t, &pod, sidecarName)
		if !slices.Contains(c.Args, "--webhook-secret-file=/var/run/secrets/argocd-image-resolver/webhook/secret") {
			t.Errorf("documented patch did not add --webhook-secret-file to the sidecar: %q", c.Args)
		}
		checkArgPaths(t, objs, 4)
	})
}

// webhookPatch is the patch kustomization.yaml documents for turning the
// webhook receiver on.
const webhookPatch = `patches:
  - target:
      kind: Deployment
      name: argocd-repo-server
    patch: |-
      - op: test
        path: /spec/template/spec/containers/1/name
        value: image-resolver
      - op: add
        path: /spec/template/spec/containers/1/args/-
        value: --webhook-secret-file=/var/run/secrets/argocd-image-resolver/webhook/secret
`

func checkArgPaths(t *testing.T, objs []*unstructured.Unstructured, want int) {
	t.Helper()
	pod := repoServerDeployment(t, objs).Spec.Template.Spec
	c := container(t, &pod, sidecarName)
	checked := 0
	for _, arg := range c.Args {
		name, value, ok := strings.Cut(arg, "=")
		if !ok || !strings.HasPrefix(value, "/") {
			continue
		}
		var m *corev1.VolumeMount
		for i := range c.VolumeMounts {
			mp := c.VolumeMounts[i].MountPath
			if value == mp || strings.HasPrefix(value, strings.TrimSuffix(mp, "/")+"/") {
				m = &c.VolumeMounts[i]
			}
		}
		if m == nil {
			t.Errorf("%s=%s is on the read-only root file system, in no mounted volume", name, value)
			continue
		}
		checked++
		v := volume(t, &pod, m.Name)
		rel := strings.TrimPrefix(strings.TrimPrefix(value, m.MountPath), "/")
		switch {
		case v.ConfigMap != nil:
			cm := as[corev1.ConfigMap](t, find(t, objs, "ConfigMap", v.ConfigMap.Name))
			if _, ok := cm.Data[rel]; !ok {
				t.Errorf("%s=%s: ConfigMap %s has no key %q", name, value, cm.Name, rel)
			}
		case v.Secret != nil && rel == "":
			t.Errorf("%s=%s names the Secret mount itself, not a key in it", name, value)
		}
	}
	if checked != want {
		t.Errorf("%d file flags found in %q, want %d", checked, c.Args, want)
	}
}

// TestComponentOverArgoCDInstallVariants: the component applies to each of
// Argo CD's install manifests, HA and namespace-scoped included, of every
// release the plugin is tested with.
func TestComponentOverArgoCDInstallVariants(t *testing.T) {
	forEachRelease(t, func(t *testing.T, r argoCDRelease) {
		for _, install := range []string{
			"manifests/install.yaml",
			"manifests/namespace-install.yaml",
			"manifests/ha/install.yaml",
			"manifests/ha/namespace-install.yaml",
		} {
			t.Run(install, func(t *testing.T) {
				objs := render(t, withComponent, withInstall(t, r, install))
				pod := repoServerDeployment(t, objs).Spec.Template.Spec
				c := container(t, &pod, sidecarName)
				if m := mountAt(c, tokenPath); m == nil {
					t.Error("sidecar has no service-account token")
				}
				if m := mountAt(c, pluginsPath); m == nil || m.Name != "plugins" {
					t.Errorf("sidecar does not mount the plugins volume: %+v", c.VolumeMounts)
				}
				if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
					t.Error("pod automounts the token")
				}
				find(t, objs, "RoleBinding", "argocd-image-resolver")
			})
		}
	})
}

// TestMemoryLimitHoldsTheRenderWorkers: the container's memory limit holds
// --parallelism render workers at --render-memory-limit plus the server's
// own GOMEMLIMIT, so a render at its cap is stopped by serve, not by the
// kernel's OOM killer taking the whole sidecar.
func TestMemoryLimitHoldsTheRenderWorkers(t *testing.T) {
	objs := render(t, withComponent, nil)
	pod := repoServerDeployment(t, objs).Spec.Template.Spec
	c := container(t, &pod, sidecarName)
	flags := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	flags.ParseErrorsAllowlist.UnknownFlags = true
	parallelism := flags.Int("parallelism", 4, "")
	workers := flags.Int("render-workers", 0, "")
	perWorker := flags.Int64("render-memory-limit", plugin.DefaultRenderMemoryLimit, "")
	if err := flags.Parse(c.Args); err != nil {
		t.Fatal(err)
	}
	n := *workers
	if n == 0 {
		n = *parallelism
	}
	server, err := resource.ParseQuantity(strings.TrimSuffix(envValue(c, "GOMEMLIMIT"), "B"))
	if err != nil {
		t.Fatalf("GOMEMLIMIT %q: %v", envValue(c, "GOMEMLIMIT"), err)
	}
	limit := c.Resources.Limits[corev1.ResourceMemory]
	need := int64(n)*(*perWorker) + server.Value()
	if limit.Value() < need {
		t.Errorf("memory limit %s < %d workers × %d MiB + GOMEMLIMIT %s", limit.String(), n, *perWorker>>20, server.String())
	}
}
