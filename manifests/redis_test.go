package manifests

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/argocd-image-resolver/argocd-image-resolver/plugin"
)

// haExample is manifests/examples/ha/kustomization.yaml with its remote
// references pointed at the local copies render lays out.
func renderHAExample(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile("examples/ha/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	k := string(data)
	for remote, local := range map[string]string{
		"https://raw.githubusercontent.com/argoproj/argo-cd/v3.6.1/manifests/ha/install.yaml":          "install.yaml",
		"https://github.com/argocd-image-resolver/argocd-image-resolver//manifests/sidecar?ref=v0.1.0": "../argocd-image-resolver/manifests/sidecar",
	} {
		if !strings.Contains(k, remote) {
			t.Fatalf("the HA example no longer names %s", remote)
		}
		k = strings.ReplaceAll(k, remote, local)
	}
	return render(t, k, map[string]string{"install.yaml": string(argoCDFile(t, "manifests/ha/install.yaml"))})
}

// effectiveRedis is the Redis the sidecar of objs talks to: its
// environment resolved against the rendered ConfigMaps the way the kubelet
// does, then read by serve's own flag code.
func effectiveRedis(t *testing.T, objs []*unstructured.Unstructured) string {
	t.Helper()
	pod := repoServerDeployment(t, objs).Spec.Template.Spec
	c := container(t, &pod, sidecarName)
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			var cm *corev1.ConfigMap
			for _, o := range objs {
				if o.GetKind() == "ConfigMap" && o.GetName() == ref.Name {
					cm = as[corev1.ConfigMap](t, o)
				}
			}
			if cm != nil && cm.Data[ref.Key] != "" {
				env[e.Name] = cm.Data[ref.Key]
			} else if ref.Optional == nil || !*ref.Optional {
				t.Fatalf("env %s needs ConfigMap %s key %s, which the install lacks", e.Name, ref.Name, ref.Key)
			}
		}
	}
	for _, name := range []string{"REDIS_SERVER", "REDISDB", "REDIS_SENTINEL_HOSTS", "REDIS_SENTINEL_MASTER"} {
		t.Setenv(name, env[name])
		if _, ok := env[name]; !ok {
			if err := os.Unsetenv(name); err != nil {
				t.Fatal(err)
			}
		}
	}
	var o plugin.RedisOptions
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	o.AddFlags(fs)
	var args []string
	for _, a := range c.Args {
		if strings.HasPrefix(a, "--redis") || strings.HasPrefix(a, "--sentinel") {
			args = append(args, a)
		}
	}
	if err := fs.Parse(args); err != nil {
		t.Fatalf("sidecar Redis args %q: %v", args, err)
	}
	if !o.Enabled() {
		t.Fatal("the installed sidecar does not use Redis")
	}
	return o.Describe()
}

// TestSidecarUsesArgoCDsRedis: the install points the sidecar at Argo CD's
// Redis, the way Argo CD's components find it, over the plain and the HA
// install and with the override operators already use
// (argocd-cmd-params-cm redis.server); the password comes from Argo CD's
// Secret, optionally.
func TestSidecarUsesArgoCDsRedis(t *testing.T) {
	override := withComponent + `patches:
  - patch: |-
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: argocd-cmd-params-cm
      data:
        redis.server: redis.example.com:6380
`
	type redisCase struct {
		name string
		objs func(t *testing.T) []*unstructured.Unstructured
		want string
	}
	cases := []redisCase{
		{"ha example", renderHAExample, "argocd-redis-ha-haproxy:6379"},
		{"redis.server override", func(t *testing.T) []*unstructured.Unstructured { return render(t, override, nil) }, "redis.example.com:6380"},
	}
	for _, r := range argoCDReleases {
		for install, want := range map[string]string{
			"manifests/install.yaml":    "argocd-redis:6379",
			"manifests/ha/install.yaml": "argocd-redis-ha-haproxy:6379",
		} {
			cases = append(cases, redisCase{r.version(t) + " " + install, func(t *testing.T) []*unstructured.Unstructured {
				return render(t, withComponent, withInstall(t, r, install))
			}, want})
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs := tc.objs(t)
			if got := effectiveRedis(t, objs); got != tc.want {
				t.Errorf("sidecar Redis = %q, want %q", got, tc.want)
			}
			pod := repoServerDeployment(t, objs).Spec.Template.Spec
			c := container(t, &pod, sidecarName)
			var pw *corev1.EnvVar
			for i := range c.Env {
				if c.Env[i].Name == "REDIS_PASSWORD" {
					pw = &c.Env[i]
				}
			}
			if pw == nil || pw.ValueFrom == nil || pw.ValueFrom.SecretKeyRef == nil ||
				pw.ValueFrom.SecretKeyRef.Name != "argocd-redis" || pw.ValueFrom.SecretKeyRef.Key != "auth" ||
				pw.ValueFrom.SecretKeyRef.Optional == nil || !*pw.ValueFrom.SecretKeyRef.Optional {
				t.Errorf("REDIS_PASSWORD = %+v, want Secret argocd-redis key auth, optional", pw)
			}
		})
	}
}

// TestRedisNetworkPolicyAdmitsTheSidecar: Argo CD's NetworkPolicy in front
// of its Redis (plain and HA) lets the repo-server pod, where the sidecar
// runs, reach the port the sidecar dials.
func TestRedisNetworkPolicyAdmitsTheSidecar(t *testing.T) {
	installs := map[string]func(t *testing.T) []*unstructured.Unstructured{"ha example": renderHAExample}
	for _, r := range argoCDReleases {
		for _, install := range []string{"manifests/install.yaml", "manifests/ha/install.yaml"} {
			installs[r.version(t)+" "+install] = func(t *testing.T) []*unstructured.Unstructured {
				return render(t, withComponent, withInstall(t, r, install))
			}
		}
	}
	for name, objs := range installs {
		t.Run(name, func(t *testing.T) {
			all := objs(t)
			host, port, _ := strings.Cut(effectiveRedis(t, all), ":")
			svc := as[corev1.Service](t, find(t, all, "Service", host))
			if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Port == atoi(t, port) }) {
				t.Fatalf("Service %s has no port %s: %+v", host, port, svc.Spec.Ports)
			}
			podLabels := labels.Set(repoServerDeployment(t, all).Spec.Template.Labels)
			redisPods := labels.Set(svc.Spec.Selector)
			governed, admitted := false, false
			for _, o := range all {
				if o.GetKind() != "NetworkPolicy" {
					continue
				}
				np := as[networkingv1.NetworkPolicy](t, o)
				sel := labels.SelectorFromSet(np.Spec.PodSelector.MatchLabels)
				if !sel.Matches(redisPods) || !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
					continue
				}
				governed = true
				for _, rule := range np.Spec.Ingress {
					from := false
					for _, peer := range rule.From {
						if peer.PodSelector != nil && peer.NamespaceSelector == nil &&
							labels.SelectorFromSet(peer.PodSelector.MatchLabels).Matches(podLabels) {
							from = true
						}
					}
					for _, p := range rule.Ports {
						if from && p.Port != nil && p.Port.IntValue() == int(atoi(t, port)) {
							admitted = true
						}
					}
				}
			}
			if !governed {
				t.Fatalf("no NetworkPolicy governs the Redis pods %v; the install changed shape", redisPods)
			}
			if !admitted {
				t.Errorf("the NetworkPolicies in front of %s do not admit the repo-server pod on port %s", host, port)
			}
		})
	}
}

// TestHAExampleIsThePlainInstallPlusReplicas: the HA example carries the
// same sidecar as the plain install, on a repo-server with several
// replicas.
func TestHAExampleIsThePlainInstallPlusReplicas(t *testing.T) {
	ha := renderHAExample(t)
	dep := repoServerDeployment(t, ha)
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas < 2 {
		t.Fatalf("HA repo-server replicas = %v, want at least 2", dep.Spec.Replicas)
	}
	plainPod := repoServerDeployment(t, render(t, withComponent, nil)).Spec.Template.Spec
	haPod := dep.Spec.Template.Spec
	plain, got := container(t, &plainPod, sidecarName), container(t, &haPod, sidecarName)
	if plain.Image != got.Image || !slices.Equal(plain.Args, got.Args) || len(plain.Env) != len(got.Env) {
		t.Errorf("the HA sidecar differs from the plain install's:\nHA:    %+v\nplain: %+v", got, plain)
	}
	checkArgPaths(t, ha, 3)
	for _, kind := range []string{"Role", "RoleBinding", "Service", "NetworkPolicy"} {
		find(t, ha, kind, "argocd-image-resolver")
	}
}

func atoi(t *testing.T, s string) int32 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		t.Fatalf("port %q: %v", s, err)
	}
	return int32(n)
}
