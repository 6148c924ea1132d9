package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	cmpclient "github.com/argoproj/argo-cd/v3/cmpserver/apiclient"
	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	argocmp "github.com/argoproj/argo-cd/v3/util/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/argocd-image-resolver/argocd-image-resolver/cmp"
	"github.com/argocd-image-resolver/argocd-image-resolver/examples"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
)

// demoRepository is the example image's repository inside the demo
// registry, and demoTags the tags it starts with.
const demoRepository = "acme/web"

var demoTags = []string{"1.5.0", "1.6.0", "1.6.3", "1.7.0", "2.0.0-rc.1", "latest"}

// demoOptions are the knobs of the demo command.
type demoOptions struct {
	constraint string
	newTag     string
	quiet      bool
}

func newDemoCommand() *cobra.Command {
	opts := demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run one render end to end on this machine: a registry, the plugin socket and Argo CD's own CMP client",
		Long: `demo shows what happens when Argo CD renders an Application through the
plugin, without a cluster and without network access beyond loopback:

  1. an in-memory registry starts on 127.0.0.1, holding the example image
     acme/web with the tags ` + strings.Join(demoTags, ", ") + `;
  2. the plugin's gRPC server listens on a unix socket in a temporary folder,
     with registries.conf rules that allow that registry only (rules name
     loopback addresses explicitly);
  3. the bundled example chart (examples/web) is sent to the socket with
     Argo CD's CMP client, packed and described exactly as argocd-repo-server
     does it (tarball, checksum, ARGOCD_APP_* env and ARGOCD_APP_PARAMETERS);
  4. the rendered manifests and the resolution are printed;
  5. a newer tag is pushed, as a CI pipeline would; the next render still
     answers from the cache, and after the cache of that repository is
     invalidated (what a registry webhook does) the render picks the new tag.

Everything is removed when the command ends.`,
		Example: `  # the README's first command
  argocd-image-resolver demo

  # follow another range, push another tag, skip the manifests
  argocd-image-resolver demo --constraint '^1' --push 1.8.0 --quiet`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.constraint, "constraint", "~1.6", "semver range the example Application follows")
	cmd.Flags().StringVar(&opts.newTag, "push", "1.6.4", "tag pushed between the renders")
	cmd.Flags().BoolVar(&opts.quiet, "quiet", false, "print the resolution only, not the rendered manifests")
	return cmd
}

// recordingResolver remembers what the last render resolved, so that the
// demo can show the source (registry or cache) of each result.
type recordingResolver struct {
	inner cmp.Resolver
	mu    sync.Mutex
	last  []resolve.Result
}

func (r *recordingResolver) Resolve(ctx context.Context, specs []resolve.Spec) ([]resolve.Result, error) {
	res, err := r.inner.Resolve(ctx, specs)
	if err == nil {
		r.mu.Lock()
		r.last = res
		r.mu.Unlock()
	}
	return res, err
}

func (r *recordingResolver) lastResults() []resolve.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]resolve.Result(nil), r.last...)
}

// demoRun holds the pieces of one demo.
type demoRun struct {
	out      io.Writer
	opts     demoOptions
	host     string
	image    string
	rule     string
	socket   string
	repoRoot string
	appPath  string
	resolver *resolve.Resolver
	recorder *recordingResolver
	env      []string
}

func runDemo(ctx context.Context, out, errOut io.Writer, opts demoOptions) (err error) {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// Short temporary path: unix socket paths are limited to ~108 bytes.
	tmp, err := os.MkdirTemp("", "air-demo-")
	if err != nil {
		return fmt.Errorf("demo: temporary folder: %w", err)
	}
	defer func() {
		if rmErr := os.RemoveAll(tmp); rmErr != nil && err == nil {
			err = fmt.Errorf("demo: removing %s: %w", tmp, rmErr)
		}
	}()

	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()

	logger := slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: slog.LevelWarn}))
	d := &demoRun{
		out:   out,
		opts:  opts,
		host:  strings.TrimPrefix(reg.URL, "http://"),
		image: strings.TrimPrefix(reg.URL, "http://") + "/" + demoRepository,
	}
	for _, tag := range demoTags {
		if err := d.push(ctx, tag); err != nil {
			return err
		}
	}

	// Rules on, as in a shared Argo CD: the registry is on loopback, so
	// the rule names it explicitly.
	d.rule = d.host + "/" + path.Dir(demoRepository) + "/*"
	conf, err := resolve.ParseRegistriesConfig([]byte("allowed:\n  - " + d.rule + "\n"))
	if err != nil {
		return fmt.Errorf("demo: registries.conf: %w", err)
	}
	d.resolver, _, err = newResolver(resolverConfig{logger: logger, conf: conf})
	if err != nil {
		return fmt.Errorf("demo: resolver: %w", err)
	}
	d.recorder = &recordingResolver{inner: d.resolver}
	srv, err := cmp.New(d.recorder,
		cmp.WithSocketDir(filepath.Join(tmp, "s")),
		cmp.WithWorkDir(filepath.Join(tmp, "w")),
		cmp.WithRules(conf),
		cmp.WithLogger(logger),
	)
	if err != nil {
		return fmt.Errorf("demo: plugin server: %w", err)
	}
	if err := srv.Listen(); err != nil {
		return fmt.Errorf("demo: plugin server: %w", err)
	}
	d.socket = srv.SocketPath()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ctx) }()
	defer func() {
		cancel()
		if sErr := <-serveErr; sErr != nil && err == nil {
			err = fmt.Errorf("demo: plugin server: %w", sErr)
		}
	}()

	d.repoRoot = filepath.Join(tmp, "repo")
	if _, err := examples.WriteChart(filepath.Join(d.repoRoot, "examples")); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	d.appPath = filepath.Join(d.repoRoot, "examples", examples.ChartDir)
	if d.env, err = d.appEnv(); err != nil {
		return err
	}
	return d.run(ctx)
}

// run renders, pushes a newer tag, renders from the cache, invalidates and
// renders again, printing each step.
func (d *demoRun) run(ctx context.Context) error {
	spec := "web=" + d.image + ":" + d.opts.constraint
	d.printf("argocd-image-resolver demo: a registry, the plugin and Argo CD's CMP client, all on loopback.\n\n")
	d.printf("registry  %s (in memory), tags: %s\n", d.image, strings.Join(demoTags, " "))
	d.printf("rules     registries.conf allowed: [%s] (loopback named explicitly)\n", d.rule)
	d.printf("plugin    %s\n", d.socket)
	d.printf("app       examples/web with parameter images=[%q]\n", spec)

	d.printf("\n== 1. Argo CD asks the plugin for the manifests ==\n")
	before, err := d.render(ctx)
	if err != nil {
		return err
	}
	if !d.opts.quiet {
		d.printf("\n%s", strings.Join(before.manifests, "---\n"))
	}
	d.table(before.results)

	d.printf("\n== 2. CI pushes %s:%s ==\n", d.image, d.opts.newTag)
	if err := d.push(ctx, d.opts.newTag); err != nil {
		return err
	}
	cached, err := d.render(ctx)
	if err != nil {
		return err
	}
	d.printf("The next render answers from the cache (tag lists are kept for the cache TTL):\n")
	d.table(cached.results)

	d.printf("\n== 3. The registry webhook invalidates %s ==\n", d.image)
	d.printf("Expired %d cache entries.\n", d.resolver.Invalidate(d.image))
	after, err := d.render(ctx)
	if err != nil {
		return err
	}
	d.table(after.results)

	d.printf("\n== Result ==\n")
	for _, b := range before.results {
		a, ok := findResult(after.results, b.Alias)
		if !ok {
			return fmt.Errorf("demo: alias %q missing from the second resolution", b.Alias)
		}
		d.printf("%s: %s → %s\n", b.Alias, b.Tag, a.Tag)
	}
	beforeImages, afterImages := imageLines(before.manifests), imageLines(after.manifests)
	for i := range beforeImages {
		if i < len(afterImages) {
			d.printf("  image: %s → %s\n", beforeImages[i], afterImages[i])
		}
	}
	d.printf("\nNothing was committed to git: Argo CD sees the new version in the live manifests.\n")
	return nil
}

func (d *demoRun) printf(format string, args ...any) {
	fmt.Fprintf(d.out, format, args...)
}

// push uploads a fresh random image under tag.
func (d *demoRun) push(ctx context.Context, tag string) error {
	ref, err := name.NewTag(d.image + ":" + tag)
	if err != nil {
		return fmt.Errorf("demo: tag %q: %w", tag, err)
	}
	img, err := random.Image(512, 1)
	if err != nil {
		return fmt.Errorf("demo: image for %s: %w", ref, err)
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("demo: pushing %s to the loopback registry: %w", ref, err)
	}
	return nil
}

// appEnv builds the environment argocd-repo-server sends with a render of
// the example Application: the ARGOCD_APP_* entries, the Kubernetes version
// and API versions, and the plugin parameters as ARGOCD_APP_PARAMETERS and
// PARAM_* (produced by Argo CD's own code).
func (d *demoRun) appEnv() ([]string, error) {
	params := v1alpha1.ApplicationSourcePluginParameters{
		{Name: "images", OptionalArray: &v1alpha1.OptionalArray{Array: []string{"web=" + d.image + ":" + d.opts.constraint}}},
		{Name: "image-options", OptionalMap: &v1alpha1.OptionalMap{Map: map[string]string{
			"web.update-strategy": resolve.StrategySemver,
			"web.helm.image-name": "image.repository",
		}}},
	}
	appEnv := v1alpha1.Env{
		{Name: "ARGOCD_APP_NAME", Value: "web"},
		{Name: "ARGOCD_APP_NAMESPACE", Value: "web"},
		{Name: "ARGOCD_APP_PROJECT_NAME", Value: "default"},
		{Name: "ARGOCD_APP_REVISION", Value: "0000000000000000000000000000000000000000"},
		{Name: "ARGOCD_APP_REVISION_SHORT", Value: "0000000"},
		{Name: "ARGOCD_APP_REVISION_SHORT_8", Value: "00000000"},
		{Name: "ARGOCD_APP_SOURCE_REPO_URL", Value: "https://github.com/argocd-image-resolver/argocd-image-resolver.git"},
		{Name: "ARGOCD_APP_SOURCE_PATH", Value: "examples/web"},
		{Name: "ARGOCD_APP_SOURCE_TARGET_REVISION", Value: "main"},
	}
	env := append(appEnv.Environ(),
		"KUBE_VERSION=1.31.0",
		"KUBE_API_VERSIONS="+strings.Join([]string{"v1", "apps/v1", "networking.k8s.io/v1"}, ","),
	)
	paramEnv, err := params.Environ()
	if err != nil {
		return nil, fmt.Errorf("demo: plugin parameters: %w", err)
	}
	return append(env, paramEnv...), nil
}

type demoRender struct {
	manifests []string
	results   []resolve.Result
}

// render sends the example chart through Argo CD's CMP client, the way
// argocd-repo-server does: check the plugin configuration, then stream the
// metadata and the tarball and wait for the manifests.
func (d *demoRun) render(ctx context.Context) (*demoRender, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	conn, client, err := cmpclient.NewConfigManagementPluginClientSet(d.socket).NewConfigManagementPluginClient()
	if err != nil {
		return nil, fmt.Errorf("demo: connecting to the plugin socket %s: %w", d.socket, err)
	}
	defer func() { _ = conn.Close() }()
	if _, err := client.CheckPluginConfiguration(ctx, &emptypb.Empty{}); err != nil {
		return nil, fmt.Errorf("demo: checking the plugin configuration: %w", err)
	}
	stream, err := client.GenerateManifest(ctx)
	if err != nil {
		return nil, fmt.Errorf("demo: opening the manifest stream: %w", err)
	}
	if err := argocmp.SendRepoStream(ctx, d.appPath, d.repoRoot, stream, d.env, nil); err != nil {
		return nil, fmt.Errorf("demo: sending the example chart: %w", err)
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return nil, fmt.Errorf("demo: render failed: %w", err)
	}
	results := d.recorder.lastResults()
	if len(results) == 0 {
		return nil, errors.New("demo: the plugin rendered without resolving the example image")
	}
	return &demoRender{manifests: resp.GetManifests(), results: results}, nil
}

// table prints the resolution of one render.
func (d *demoRun) table(results []resolve.Result) {
	d.printf("\n")
	w := tabwriter.NewWriter(d.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "ALIAS\tIMAGE\tCONSTRAINT\tTAG\tDIGEST\tSOURCE")
	for _, r := range results {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Alias, r.Image, r.Constraint, r.Tag, shortDigest(r.Digest), r.Source)
	}
	_ = w.Flush()
}

func shortDigest(d string) string {
	algo, hex, ok := strings.Cut(d, ":")
	if !ok || len(hex) <= 12 {
		return d
	}
	return algo + ":" + hex[:12]
}

func findResult(results []resolve.Result, alias string) (resolve.Result, bool) {
	for _, r := range results {
		if r.Alias == alias {
			return r, true
		}
	}
	return resolve.Result{}, false
}

// imageLines returns the container images in rendered YAML manifests.
func imageLines(manifests []string) []string {
	var images []string
	for _, m := range manifests {
		for _, line := range strings.Split(m, "\n") {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "image:"); ok {
				images = append(images, strings.Trim(strings.TrimSpace(rest), `"`))
			}
		}
	}
	return images
}
