package docs

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
)

const securityPage = "docs/security.md"

// TestREADMELinksTheSecurityPage: the README's security section points at
// docs/security.md, which exists.
func TestREADMELinksTheSecurityPage(t *testing.T) {
	text := readme(t)
	i := strings.Index(text, "\n## Security in a shared Argo CD\n")
	if i < 0 {
		t.Fatal("README has no section \"Security in a shared Argo CD\"")
	}
	section, _, _ := strings.Cut(text[i+1:], "\n## ")
	if !strings.Contains(section, "("+securityPage+")") {
		t.Errorf("the README's security section does not link %s", securityPage)
	}
	readFile(t, securityPage)
}

// TestSecurityPageExamples feeds every example of docs/security.md to the
// code or configuration it is about: registries.conf to its parser, the
// Application to the parameter checks (its pull-secret to an entry of the
// page's registries.conf that holds the image), the NetworkPolicy patch to
// kustomize over the component's NetworkPolicy, the Argo CD ConfigMaps to
// the account and policy they must define, and commands to the command
// tree.
func TestSecurityPageExamples(t *testing.T) {
	page := readFile(t, securityPage)
	p := loadPluginYAML(t)
	root := repoRoot(t)
	var (
		confs    []*resolve.RegistriesConfig
		apps     []any
		account  string
		policies []string
	)
	for _, f := range fences(page) {
		switch f.lang {
		case "sh":
			for _, line := range shellLines(f.body) {
				words, err := splitWords(line)
				if err != nil || len(words) == 0 {
					t.Errorf("%s line %d: %q: %v", securityPage, f.line, line, err)
					continue
				}
				switch words[0] {
				case "argocd-image-resolver":
					checkCommandTree(t, words[1:])
				case "argocd":
					// Argo CD's CLI, against a running Argo CD.
				default:
					t.Errorf("%s line %d: %q: no rule checks this command", securityPage, f.line, line)
				}
			}
			continue
		case "yaml":
		default:
			t.Errorf("%s line %d: a %q block; teach this test to check it", securityPage, f.line, f.lang)
			continue
		}
		var doc any
		if err := yaml.Unmarshal([]byte(f.body), &doc); err != nil {
			t.Fatalf("%s line %d: not valid YAML: %v", securityPage, f.line, err)
		}
		m, _ := doc.(map[string]any)
		switch {
		case hasKey(doc, "registries") || hasKey(doc, "allowed") || hasKey(doc, "projects"):
			conf, err := resolve.ParseRegistriesConfig([]byte(f.body))
			if err != nil {
				t.Errorf("%s line %d: registries.conf: %v", securityPage, f.line, err)
				continue
			}
			confs = append(confs, conf)
		case isKind(doc, "Application"):
			checkApplication(t, p, doc)
			apps = append(apps, doc)
		case isKind(doc, "Kustomization"):
			checkKustomization(t, root, doc)
			checkNetworkPolicyPatch(t, root, m)
		case isKind(doc, "ConfigMap"):
			meta, _ := m["metadata"].(map[string]any)
			data, _ := m["data"].(map[string]any)
			switch meta["name"] {
			case "argocd-cm":
				for k, v := range data {
					if name, ok := strings.CutPrefix(k, "accounts."); ok && strings.Contains(scalar(v), "apiKey") {
						account = name
					}
				}
			case "argocd-rbac-cm":
				for _, line := range strings.Split(scalar(data["policy.csv"]), "\n") {
					if strings.TrimSpace(line) != "" {
						policies = append(policies, line)
					}
				}
			default:
				t.Errorf("%s line %d: ConfigMap %v; teach this test to check it", securityPage, f.line, meta["name"])
			}
		default:
			t.Errorf("%s line %d: YAML block of unknown purpose; teach this test to check it", securityPage, f.line)
		}
	}

	if len(confs) < 2 {
		t.Fatalf("want a registries.conf with credentials and one with rules, found %d", len(confs))
	}
	for _, app := range apps {
		checkPullSecretsNameEntries(t, app, confs)
	}

	// The account has an API key, and its only permission is
	// `applications, get`.
	if account == "" {
		t.Fatal("no argocd-cm account with apiKey")
	}
	if len(policies) == 0 {
		t.Fatal("no policy.csv line in argocd-rbac-cm")
	}
	for _, line := range policies {
		fields := strings.Split(line, ",")
		for i := range fields {
			fields[i] = strings.TrimSpace(fields[i])
		}
		if len(fields) != 6 || fields[0] != "p" || fields[1] != account || fields[2] != "applications" || fields[3] != "get" || fields[5] != "allow" {
			t.Errorf("policy line %q: want p, %s, applications, get, <project>/<app>, allow", line, account)
		}
	}
}

// checkPullSecretsNameEntries: each pull-secret of the Application names an
// entry of one of the page's registries.conf examples whose prefix holds
// the image.
func checkPullSecretsNameEntries(t *testing.T, app any, confs []*resolve.RegistriesConfig) {
	t.Helper()
	spec, _ := app.(map[string]any)["spec"].(map[string]any)
	source, _ := spec["source"].(map[string]any)
	plugin, _ := source["plugin"].(map[string]any)
	params, _ := plugin["parameters"].([]any)
	var images []string
	options := map[string]string{}
	for _, raw := range params {
		param, _ := raw.(map[string]any)
		switch param["name"] {
		case "images":
			for _, img := range param["array"].([]any) {
				images = append(images, img.(string))
			}
		case "image-options":
			for k, v := range param["map"].(map[string]any) {
				options[k] = scalar(v)
			}
		}
	}
	specs, err := resolve.ParseSpecs(images, options)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range specs {
		if s.Options.PullSecret == "" {
			continue
		}
		found := false
		for _, c := range confs {
			for _, reg := range c.Registries {
				if reg.Name == s.Options.PullSecret && (s.Image == reg.Prefix || strings.HasPrefix(s.Image, strings.TrimSuffix(reg.Prefix, "/")+"/")) {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("alias %s: pull-secret %q names no entry of the page whose prefix holds %s", s.Alias, s.Options.PullSecret, s.Image)
		}
	}
}

// checkNetworkPolicyPatch applies the example's patches to the component's
// NetworkPolicy with kustomize and checks that only the listed namespaces
// are admitted, on the webhook port.
func checkNetworkPolicyPatch(t *testing.T, root string, kust map[string]any) {
	t.Helper()
	patches, _ := kust["patches"].([]any)
	if len(patches) == 0 {
		t.Fatal("the kustomization example has no patches")
	}
	dir := t.TempDir()
	np, err := os.ReadFile(filepath.Join(root, "manifests", "sidecar", "networkpolicy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "networkpolicy.yaml"), np, 0o644); err != nil {
		t.Fatal(err)
	}
	k, err := yaml.Marshal(map[string]any{
		"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
		"resources": []string{"networkpolicy.yaml"}, "patches": patches,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), k, 0o644); err != nil {
		t.Fatal(err)
	}
	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize with the example's patches: %v", err)
	}
	out, err := rm.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	var policy struct {
		Spec struct {
			Ingress []struct {
				From []struct {
					NamespaceSelector *struct {
						MatchLabels      map[string]string `yaml:"matchLabels"`
						MatchExpressions []struct {
							Key      string   `yaml:"key"`
							Operator string   `yaml:"operator"`
							Values   []string `yaml:"values"`
						} `yaml:"matchExpressions"`
					} `yaml:"namespaceSelector"`
				} `yaml:"from"`
				Ports []struct {
					Port int `yaml:"port"`
				} `yaml:"ports"`
			} `yaml:"ingress"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(out, &policy); err != nil {
		t.Fatal(err)
	}
	for _, rule := range policy.Spec.Ingress {
		for _, from := range rule.From {
			sel := from.NamespaceSelector
			if sel == nil || len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
				t.Errorf("after the patch, a rule still admits every namespace:\n%s", out)
				continue
			}
			for _, e := range sel.MatchExpressions {
				if e.Key != "kubernetes.io/metadata.name" || e.Operator != "In" || len(e.Values) == 0 {
					t.Errorf("selector %+v does not list namespaces by name", e)
				}
			}
		}
		for _, port := range rule.Ports {
			if !slices.Contains([]int{8080}, port.Port) {
				t.Errorf("the patch opens port %s, not the webhook/metrics port 8080", strconv.Itoa(port.Port))
			}
		}
	}
	if len(policy.Spec.Ingress) == 0 {
		t.Errorf("the patched NetworkPolicy admits nothing:\n%s", out)
	}
}
