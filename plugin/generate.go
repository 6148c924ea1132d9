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
	"github.com/spf13/pflag"

	"github.com/argocd-image-resolver/argocd-image-resolver/cmp"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
)

// generateOptions are the flags of `generate`.
type generateOptions struct {
	app            string
	imageFields    string
	inlineValues   string
	skipCRDs       bool
	ignoreMissing  bool
	flags          *pflag.FlagSet
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
	strictSemver   bool
	renderMemory   int64
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
laptop.

With --app it reads an Application manifest instead and renders what the
plugin answers the repo-server for it: the current directory is the
repository root, the source's path the chart, and the environment is the
one the repo-server builds (ARGOCD_APP_NAME as <namespace>_<name> outside
$ARGOCD_NAMESPACE, default argocd; the plugin env as ARGOCD_ENV_*; the
parameters as ARGOCD_APP_PARAMETERS). KUBE_VERSION and KUBE_API_VERSIONS
are taken from the environment, or from the flags.`,
		Example: `  # Under argocd-cmp-server (plugin.yaml):  generate: {command: [argocd-image-resolver, generate]}

  # On a laptop:
  argocd-image-resolver generate ./charts/web \
    --image web=ghcr.io/acme/web:~1.6 \
    --option web.helm.image-tag=image.tag \
    -f values-prod.yaml --set replicas=3 --release-name web --namespace prod

  # What Argo CD renders for an Application, from the repository root:
  argocd-image-resolver generate --app examples/applications/web.yaml`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.app != "" {
				if len(args) == 1 {
					return fmt.Errorf("--app renders the Application's own path (spec.source.path); leave out %s", args[0])
				}
				dir, environ, err := appEnvironment(o.app, os.Environ())
				if err != nil {
					return err
				}
				return runGenerate(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), environ, dir, o)
			}
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			return runGenerate(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), os.Environ(), dir, o)
		},
	}
	f := cmd.Flags()
	o.flags = f
	f.StringVar(&o.app, "app", "", "render this Application manifest the way Argo CD would, with the current directory as the repository root")
	f.StringVar(&o.inlineValues, "inline-values", "", "inline Helm values (YAML), as the values parameter; replaces the configured ones")
	f.BoolVar(&o.skipCRDs, "skip-crds", false, "leave out the chart's crds/ folder, as the skip-crds parameter")
	f.BoolVar(&o.ignoreMissing, "ignore-missing-value-files", false, "skip value files that do not exist, as the ignore-missing-value-files parameter")
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
	f.StringVar(&o.imageFields, "image-fields", "", "file of extra image fields of custom resources the resolved images are written into (rewrite, plain manifests, kustomizations), as serve --image-fields")
	f.Int64Var(&o.renderMemory, "render-memory-limit", DefaultRenderMemoryLimit, "most resident memory the worker process that builds a kustomization may use, in bytes: a build over it is stopped and fails (0: no limit)")
	addStrictSemverFlag(f, &o.strictSemver)
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
	app, err := filepath.Rel(repoRoot, appDir)
	if err != nil {
		return err
	}
	cfg, err := cmp.LoadConfig(env, cmp.DiskRepo(repoRoot), filepath.ToSlash(app))
	if err != nil {
		return err
	}
	if err := o.apply(cfg, appDir); err != nil {
		return err
	}
	if cfg.ReleaseName == "" {
		cfg.ReleaseName = filepath.Base(appDir)
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

	imageFields, err := loadImageFields(o.imageFields)
	if err != nil {
		return err
	}
	resolver, conf, err := newResolver(resolverConfig{logger: logger, registriesConf: o.registriesConf})
	if err != nil {
		return err
	}
	start := time.Now()
	kustomizer := &workerKustomizer{memoryLimit: o.renderMemory, logFormat: o.logFormat, logLevel: o.logLevel, logger: logger}
	defer kustomizer.Close()
	p := cmp.Pipeline{Resolver: resolver, Renderer: cmp.HelmRenderer{}, Rules: conf, ImageFields: imageFields, Kustomizer: kustomizer,
		SpecOptions: []resolve.SpecOption{resolve.StrictSemverByDefault(o.strictSemver)}}
	app, err = filepath.Rel(repoRoot, appDir)
	if err != nil {
		return err
	}
	gen, err := p.Generate(ctx, cfg, cmp.DiskRepo(repoRoot), filepath.ToSlash(app))
	if err != nil {
		return err
	}
	for _, r := range gen.Results {
		logger.Info("image", "alias", r.Alias, "image", r.Image, "tag", r.Tag, "digest", r.Digest, "pinned", r.Pinned, "paused", r.Paused, "source", r.Source)
	}
	logger.Info("rendered", "app", cfg.App.String(), "duration", time.Since(start).Round(time.Millisecond), "manifests", len(gen.Output.Manifests))
	return writeYAMLStream(out, gen.Output.Manifests)
}

// appEnvironment is the chart directory and environment of `generate
// --app`: the Application's source under the current directory, Argo CD's
// env for it, and KUBE_VERSION / KUBE_API_VERSIONS from the process.
func appEnvironment(appFile string, processEnv []string) (string, []string, error) {
	plugin, err := cmp.LoadPluginConfig("")
	if err != nil {
		return "", nil, err
	}
	names := []string{plugin.Metadata.Name}
	if v := plugin.Spec.Version; v != "" {
		names = append(names, plugin.Metadata.Name+"-"+v)
	}
	process := cmp.EnvFromList(processEnv)
	controlPlane := process["ARGOCD_NAMESPACE"]
	if controlPlane == "" {
		controlPlane = "argocd"
	}
	path, environ, err := applicationEnv(appFile, controlPlane, names)
	if err != nil {
		return "", nil, err
	}
	for _, k := range []string{cmp.EnvKubeVersion, cmp.EnvKubeAPIVersions} {
		if v := process[k]; v != "" {
			environ = append(environ, k+"="+v)
		}
	}
	cwd, err := os.Getwd()
	if err != nil {
		return "", nil, err
	}
	return filepath.Join(cwd, filepath.FromSlash(path)), environ, nil
}

// apply lays the command-line flags over the configuration.
func (o *generateOptions) apply(cfg *cmp.Config, appDir string) error {
	if o.changed("inline-values") {
		cfg.Values = o.inlineValues
	}
	if o.changed("skip-crds") {
		cfg.SkipCRDs = o.skipCRDs
	}
	if o.changed("ignore-missing-value-files") {
		cfg.IgnoreMissingValueFiles = o.ignoreMissing
	}
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

func (o *generateOptions) changed(flag string) bool {
	return o.flags != nil && o.flags.Changed(flag)
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
