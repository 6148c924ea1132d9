package plugin

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/argocd-image-resolver/argocd-image-resolver/cmp"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
)

// generateOptions are the flags of `generate`.
type generateOptions struct {
	images         []string
	options        []string
	valueFiles     []string
	set            []string
	setString      []string
	releaseName    string
	namespace      string
	kubeVersion    string
	apiVersions    []string
	registriesConf string
	logFormat      string
	logLevel       string
}

func newGenerateCommand() *cobra.Command {
	o := &generateOptions{}
	cmd := &cobra.Command{
		Use:   "generate [PATH]",
		Short: "Render a Helm chart with resolved images and print the manifests (helm template with resolution)",
		Long: `generate renders the chart in PATH (default ".") the way the sidecar does and
prints the manifests as a YAML stream.

Configuration comes from the environment Argo CD sets for a plugin
(ARGOCD_APP_PARAMETERS, ARGOCD_ENV_IMAGE_LIST, ARGOCD_APP_NAME,
ARGOCD_APP_NAMESPACE, KUBE_VERSION, KUBE_API_VERSIONS) and from
.argocd-image-resolver.yaml in PATH, so it works as the generate command of
Argo CD's standard argocd-cmp-server. Flags override both, for use on a
laptop.`,
		Example: `  # Under argocd-cmp-server (plugin.yaml):  generate: {command: [argocd-image-resolver, generate]}

  # On a laptop:
  argocd-image-resolver generate ./charts/web \
    --image web=ghcr.io/acme/web:~1.6 \
    --option web.helm.image-tag=image.tag \
    -f values-prod.yaml --set replicas=3 --release-name web --namespace prod`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			return runGenerate(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), os.Environ(), dir, o)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.images, "image", nil, "image spec [alias=]image[:constraint-or-tag] (repeatable; replaces the configured images)")
	f.StringArrayVar(&o.options, "option", nil, "image option <alias>.<option>=<value> (repeatable), e.g. web.update-strategy=newest-build")
	f.StringArrayVarP(&o.valueFiles, "values", "f", nil, "Helm value file, added after the configured ones (repeatable)")
	f.StringArrayVar(&o.set, "set", nil, "Helm value path=value with --set semantics (repeatable)")
	f.StringArrayVar(&o.setString, "set-string", nil, "Helm value path=value as a string (repeatable)")
	f.StringVar(&o.releaseName, "release-name", "", "Helm release name (default: the Application name, else the chart directory name)")
	f.StringVar(&o.namespace, "namespace", "", "release namespace (default $ARGOCD_APP_NAMESPACE)")
	f.StringVar(&o.kubeVersion, "kube-version", "", "Kubernetes version for .Capabilities (default $KUBE_VERSION)")
	f.StringArrayVar(&o.apiVersions, "api-versions", nil, "API version for .Capabilities, e.g. monitoring.coreos.com/v1 (repeatable; default $KUBE_API_VERSIONS)")
	f.StringVar(&o.registriesConf, "registries-conf", "", "registries config file (argocd-image-updater's registries.conf keys)")
	addLogFlags(f, &o.logFormat, &o.logLevel)
	return cmd
}

func runGenerate(ctx context.Context, out, errOut io.Writer, environ []string, dir string, o *generateOptions) error {
	logger, err := newLogger(errOut, o.logFormat, o.logLevel)
	if err != nil {
		return err
	}
	appDir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(appDir); err != nil || !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	env := cmp.EnvFromList(environ)
	repoRoot := repositoryRoot(appDir, env[cmp.EnvAppSourcePath])
	cfg, err := cmp.LoadConfig(env, repoRoot, appDir)
	if err != nil {
		return err
	}
	if err := o.apply(cfg, appDir); err != nil {
		return err
	}
	if env[cmp.EnvAppSourcePath] == "" {
		// On a laptop, value files named with -f may live anywhere: widen
		// the root to hold them. Files Argo CD names stay bounded.
		for _, f := range o.valueFiles {
			abs, err := filepath.Abs(f)
			if err != nil {
				return err
			}
			repoRoot = commonAncestor(repoRoot, filepath.Dir(abs))
		}
	}

	ropts, err := resolverOptions(logger, o.registriesConf, resolve.DefaultCacheTTL, resolve.DefaultStaleTTL)
	if err != nil {
		return err
	}
	resolver, err := resolve.New(ropts...)
	if err != nil {
		return err
	}
	start := time.Now()
	p := cmp.Pipeline{Resolver: resolver, Renderer: cmp.HelmRenderer{}}
	gen, err := p.Generate(ctx, cfg, repoRoot, appDir)
	if err != nil {
		return err
	}
	for _, r := range gen.Results {
		logger.Info("image", "alias", r.Alias, "image", r.Image, "tag", r.Tag, "digest", r.Digest, "pinned", r.Pinned, "paused", r.Paused, "source", r.Source)
	}
	logger.Info("rendered", "app", cfg.App.String(), "duration", time.Since(start).Round(time.Millisecond), "manifests", len(gen.Output.Manifests))
	return writeYAMLStream(out, gen.Output.Manifests)
}

// apply lays the command-line flags over the configuration.
func (o *generateOptions) apply(cfg *cmp.Config, appDir string) error {
	if len(o.images) > 0 {
		cfg.Images = o.images
	}
	if len(o.options) > 0 {
		opts, err := keyValues("--option", o.options)
		if err != nil {
			return err
		}
		cfg.ImageOptions = merged(cfg.ImageOptions, opts)
	}
	for _, f := range o.valueFiles {
		abs, err := filepath.Abs(f)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(appDir, abs)
		if err != nil {
			return fmt.Errorf("-f %s: %w", f, err)
		}
		cfg.ValueFiles = append(cfg.ValueFiles, rel)
	}
	set, err := keyValues("--set", o.set)
	if err != nil {
		return err
	}
	cfg.HelmParameters = merged(cfg.HelmParameters, set)
	setString, err := keyValues("--set-string", o.setString)
	if err != nil {
		return err
	}
	cfg.HelmStringParameters = merged(cfg.HelmStringParameters, setString)
	if o.releaseName != "" {
		cfg.ReleaseName = o.releaseName
	}
	if cfg.ReleaseName == "" {
		cfg.ReleaseName = filepath.Base(appDir)
	}
	if o.namespace != "" {
		cfg.Namespace = o.namespace
	}
	if o.kubeVersion != "" {
		cfg.KubeVersion = o.kubeVersion
	}
	if len(o.apiVersions) > 0 {
		cfg.APIVersions = o.apiVersions
	}
	return nil
}

func keyValues(flag string, list []string) (map[string]string, error) {
	out := make(map[string]string, len(list))
	for _, kv := range list {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%s %q: want key=value", flag, kv)
		}
		out[k] = v
	}
	return out, nil
}

func merged(base, over map[string]string) map[string]string {
	if len(over) == 0 {
		return base
	}
	out := make(map[string]string, len(base)+len(over))
	maps.Copy(out, base)
	maps.Copy(out, over)
	return out
}

// repositoryRoot finds the root value files may not leave: under
// argocd-cmp-server the app directory ends with ARGOCD_APP_SOURCE_PATH
// inside the extracted repository; on a laptop the enclosing git work
// tree; else the app directory itself.
func repositoryRoot(appDir, sourcePath string) string {
	if sp := filepath.Clean(filepath.FromSlash(sourcePath)); sourcePath != "" && filepath.IsLocal(sp) {
		if root, ok := strings.CutSuffix(appDir, string(filepath.Separator)+sp); ok {
			return root
		}
		if sp == "." {
			return appDir
		}
	}
	for d := appDir; ; {
		if _, err := os.Stat(filepath.Join(d, ".git")); err == nil {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			return appDir
		}
		d = parent
	}
}

// commonAncestor is the deepest directory holding both absolute paths.
func commonAncestor(a, b string) string {
	for {
		if rel, err := filepath.Rel(a, b); err == nil && (rel == "." || filepath.IsLocal(rel)) {
			return a
		}
		parent := filepath.Dir(a)
		if parent == a {
			return a
		}
		a = parent
	}
}

// writeYAMLStream prints documents separated by `---`.
func writeYAMLStream(w io.Writer, docs []string) error {
	var b strings.Builder
	for _, d := range docs {
		b.WriteString("---\n")
		b.WriteString(d)
		if !strings.HasSuffix(d, "\n") {
			b.WriteString("\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
