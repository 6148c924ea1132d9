package resolve

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	ecr "github.com/awslabs/amazon-ecr-credential-helper/ecr-login"
	acr "github.com/chrismellard/docker-credential-acr-env/pkg/credhelper"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/google"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// DefaultCredentialScriptTimeout bounds an `ext:` credential script.
const DefaultCredentialScriptTimeout = 10 * time.Second

// maxCredentialBytes bounds what is read from a credential file or script.
const maxCredentialBytes = 1 << 20

// Credential reference kinds.
const (
	credEnv  = "env"
	credExt  = "ext"
	credFile = "file"
)

// credentialRef is a parsed credential reference: where a secret lives, not
// the secret.
type credentialRef struct {
	kind  string
	value string
}

func (c credentialRef) String() string { return c.kind + ":" + c.value }

// parseCredentialRef parses `env:VAR`, `ext:/path/script` or `file:/path`.
func parseCredentialRef(s string) (credentialRef, error) {
	kind, value, ok := strings.Cut(strings.TrimSpace(s), ":")
	value = strings.TrimSpace(value)
	if !ok || value == "" {
		return credentialRef{}, errors.New("write a reference env:VAR, ext:/path/to/script or file:/path/to/secret (never the secret itself)")
	}
	switch kind {
	case credEnv:
		if strings.ContainsAny(value, "= \t") {
			return credentialRef{}, fmt.Errorf("env:%s is not an environment variable name", value)
		}
	case credExt, credFile:
		if !filepath.IsAbs(value) {
			return credentialRef{}, fmt.Errorf("%s:%s must be an absolute path", kind, value)
		}
	case "secret", "pullsecret":
		return credentialRef{}, fmt.Errorf("%s: references need the Kubernetes API; mount the Secret into the plugin container and use file:/path/to/the/mounted/key", kind)
	default:
		return credentialRef{}, fmt.Errorf("unknown credential form %q; write env:VAR, ext:/path/to/script or file:/path/to/secret", kind+":")
	}
	return credentialRef{kind: kind, value: value}, nil
}

// read fetches the credential for registry (a host such as "ghcr.io").
// Errors never contain the secret.
func (c credentialRef) read(ctx context.Context, registry string, scriptTimeout time.Duration) (authn.AuthConfig, error) {
	switch c.kind {
	case credEnv:
		v, ok := os.LookupEnv(c.value)
		if !ok || v == "" {
			return authn.AuthConfig{}, fmt.Errorf("credentials %s: the environment variable is unset or empty", c)
		}
		return splitUserPass(v, c)
	case credExt:
		return c.runScript(ctx, scriptTimeout)
	case credFile:
		return c.readFile(registry)
	}
	return authn.AuthConfig{}, fmt.Errorf("credentials %s: unknown form", c)
}

func splitUserPass(v string, c credentialRef) (authn.AuthConfig, error) {
	line := strings.TrimSpace(strings.SplitN(strings.TrimSpace(v), "\n", 2)[0])
	user, pass, ok := strings.Cut(line, ":")
	if !ok || user == "" || pass == "" {
		return authn.AuthConfig{}, fmt.Errorf("credentials %s: expected one line user:password", c)
	}
	return authn.AuthConfig{Username: user, Password: pass}, nil
}

func (c credentialRef) runScript(ctx context.Context, timeout time.Duration) (authn.AuthConfig, error) {
	if timeout <= 0 {
		timeout = DefaultCredentialScriptTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.value)
	var out bytes.Buffer
	cmd.Stdout = &limitedWriter{w: &out, n: maxCredentialBytes}
	cmd.Stderr = io.Discard
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return authn.AuthConfig{}, fmt.Errorf("credentials %s: the script did not finish within %s", c, timeout)
		}
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return authn.AuthConfig{}, fmt.Errorf("credentials %s: the script failed with exit code %d", c, exit.ExitCode())
		}
		return authn.AuthConfig{}, fmt.Errorf("credentials %s: cannot run the script: %v", c, err)
	}
	return splitUserPass(out.String(), c)
}

type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n <= 0 {
		return len(p), nil
	}
	q := p
	if len(q) > l.n {
		q = q[:l.n]
	}
	l.n -= len(q)
	if _, err := l.w.Write(q); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c credentialRef) readFile(registry string) (authn.AuthConfig, error) {
	f, err := os.Open(c.value)
	if err != nil {
		return authn.AuthConfig{}, fmt.Errorf("credentials %s: %v", c, unwrapPathError(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCredentialBytes))
	if err != nil {
		return authn.AuthConfig{}, fmt.Errorf("credentials %s: %v", c, unwrapPathError(err))
	}
	trimmed := bytes.TrimSpace(data)
	if bytes.HasPrefix(trimmed, []byte("{")) {
		return c.fromDockerConfig(trimmed, registry)
	}
	return splitUserPass(string(trimmed), c)
}

// unwrapPathError keeps the cause of a file error (e.g. "permission denied")
// without repeating the path.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

type dockerAuthEntry struct {
	Auth          string `json:"auth"`
	Username      string `json:"username"`
	Password      string `json:"password"`
	IdentityToken string `json:"identitytoken"`
}

// fromDockerConfig picks the entry for registry from a dockerconfigjson
// ({"auths": {...}}) or a legacy dockercfg ({host: {...}}).
func (c credentialRef) fromDockerConfig(data []byte, registry string) (authn.AuthConfig, error) {
	var wrapped struct {
		Auths map[string]dockerAuthEntry `json:"auths"`
	}
	if err := json.Unmarshal(data, &wrapped); err != nil {
		return authn.AuthConfig{}, fmt.Errorf("credentials %s: not a valid docker config JSON", c)
	}
	auths := wrapped.Auths
	if auths == nil {
		if err := json.Unmarshal(data, &auths); err != nil {
			return authn.AuthConfig{}, fmt.Errorf("credentials %s: not a valid docker config JSON", c)
		}
	}
	want := canonicalAuthKey(registry)
	hosts := make([]string, 0, len(auths))
	for key, entry := range auths {
		hosts = append(hosts, canonicalAuthKey(key))
		if canonicalAuthKey(key) != want {
			continue
		}
		switch {
		case entry.IdentityToken != "":
			return authn.AuthConfig{Username: entry.Username, IdentityToken: entry.IdentityToken}, nil
		case entry.Username != "" && entry.Password != "":
			return authn.AuthConfig{Username: entry.Username, Password: entry.Password}, nil
		case entry.Auth != "":
			raw, err := base64.StdEncoding.DecodeString(entry.Auth)
			if err != nil {
				return authn.AuthConfig{}, fmt.Errorf("credentials %s: the auth field for %s is not base64", c, key)
			}
			return splitUserPass(string(raw), c)
		default:
			return authn.AuthConfig{}, fmt.Errorf("credentials %s: the entry for %s has no auth, username/password or identitytoken", c, key)
		}
	}
	return authn.AuthConfig{}, fmt.Errorf("credentials %s: no entry for registry %s (entries: %s)", c, registry, strings.Join(hosts, ", "))
}

// canonicalAuthKey reduces a docker config key ("https://index.docker.io/v1/",
// "docker.io", "ghcr.io") to a registry host as ggcr names it.
func canonicalAuthKey(key string) string {
	k := strings.TrimPrefix(strings.TrimPrefix(key, "https://"), "http://")
	k, _, _ = strings.Cut(k, "/")
	switch k {
	case "docker.io", "registry-1.docker.io", name.DefaultRegistry:
		return name.DefaultRegistry
	}
	return k
}

// credAuthenticator reads a credential reference on demand and reuses it
// for expire (zero: until the process ends). It implements
// authn.Authenticator.
type credAuthenticator struct {
	ref      credentialRef
	entry    string // the registries.conf entry, for messages
	registry string
	expire   time.Duration
	timeout  time.Duration
	now      func() time.Time
	secrets  *secretSet
	log      *slog.Logger

	mu     sync.Mutex
	cached *authn.AuthConfig
	readAt time.Time
}

func (a *credAuthenticator) Authorization() (*authn.AuthConfig, error) {
	return a.AuthorizationContext(context.Background())
}

func (a *credAuthenticator) AuthorizationContext(ctx context.Context) (*authn.AuthConfig, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cached != nil && (a.expire == 0 || a.now().Sub(a.readAt) < a.expire) {
		cfg := *a.cached
		return &cfg, nil
	}
	cfg, err := a.ref.read(ctx, a.registry, a.timeout)
	if err != nil {
		if a.log != nil {
			a.log.Warn("reading registry credentials failed", "entry", a.entry, "error", err)
		}
		return nil, &CredentialError{Entry: a.entry, Err: err}
	}
	a.secrets.add(cfg.Password, cfg.IdentityToken, cfg.Auth, cfg.RegistryToken)
	a.cached, a.readAt = &cfg, a.now()
	out := cfg
	return &out, nil
}

// secretSet remembers every secret value read so that error messages and
// logs can be scrubbed before anyone sees them.
type secretSet struct {
	mu     sync.RWMutex
	values map[string]struct{}
}

func (s *secretSet) add(values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.values == nil {
		s.values = map[string]struct{}{}
	}
	for _, v := range values {
		if len(v) >= 4 {
			s.values[v] = struct{}{}
			s.values[base64.StdEncoding.EncodeToString([]byte(v))] = struct{}{}
		}
	}
}

// scrub replaces every known secret in msg.
func (s *secretSet) scrub(msg string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for v := range s.values {
		msg = strings.ReplaceAll(msg, v, "[redacted]")
	}
	return msg
}

var (
	ecrHost = regexp.MustCompile(`^\d{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$`)
	gcrHost = regexp.MustCompile(`^([a-z0-9-]+\.)?gcr\.io$|^[a-z0-9-]+-docker\.pkg\.dev$`)
	acrHost = regexp.MustCompile(`^[a-z0-9-]+\.azurecr\.(io|cn|us)$`)
)

// cloudKind names the workload-identity keychain for a registry host, or "".
func cloudKind(host string) string {
	switch {
	case ecrHost.MatchString(host):
		return "ecr"
	case gcrHost.MatchString(host):
		return "gcr"
	case acrHost.MatchString(host):
		return "acr"
	}
	return ""
}

// ErrPullSecret marks a pull-secret option that names no usable
// registries.conf entry: the Application has to change it.
var ErrPullSecret = errors.New("pull-secret")

// credential is what one spec authenticates with: the credentials of a
// registries.conf entry, or (entry nil) the default chain, which is the
// cloud workload-identity helper for the host and then the docker config.
type credential struct{ entry *RegistryConfig }

// Name identifies the credential without revealing it (for cache keys,
// pullers and logs): the entry's name, or its prefix when it has none; ""
// for the default chain.
func (c credential) Name() string {
	if c.entry == nil {
		return ""
	}
	return c.entry.label()
}

// key is unique per credential (prefixes are unique).
func (c credential) key() string {
	if c.entry == nil {
		return ""
	}
	return c.entry.Host() + "/" + c.entry.Path()
}

// credentialFor picks the credential of one spec's repository. A
// pull-secret names a registries.conf entry, whose credentials are used
// only for repositories under its prefix; without one, the entry with the
// longest prefix holding the repository applies, then the default chain.
// Credentials are never chosen by host alone.
func (c *RegistriesConfig) credentialFor(pullSecret string, t target) (credential, error) {
	if pullSecret == "" {
		if t.entry != nil && t.entry.Credentials != "" {
			return credential{entry: t.entry}, nil
		}
		return credential{}, nil
	}
	reg := c.byName(pullSecret)
	if reg == nil {
		names := c.names()
		list := "none have a name"
		if len(names) > 0 {
			list = "the names are " + strings.Join(names, ", ")
		}
		return credential{}, fmt.Errorf("%w: no registries.conf entry has the name given (%s); pull-secret takes the name of an entry the Argo CD admins defined", ErrPullSecret, list)
	}
	if !reg.covers(t.host, t.path) {
		return credential{}, fmt.Errorf("%w %q: that entry's credentials are for repositories under %s, and %s/%s is not one; use the entry for this repository's prefix", ErrPullSecret, pullSecret, reg.Prefix, t.host, t.path)
	}
	if reg.Credentials == "" {
		return credential{}, fmt.Errorf("%w %q: that registries.conf entry has no credentials", ErrPullSecret, pullSecret)
	}
	return credential{entry: reg}, nil
}

// CredentialError is a registries.conf credential that could not be read:
// the plugin's configuration is at fault, not the registry. Its message
// names the entry only: the reference (a file, variable or program of the
// sidecar) and the cause go to the sidecar log.
type CredentialError struct {
	Entry string
	Err   error
}

func (e *CredentialError) Error() string {
	return fmt.Sprintf("the credentials of registries.conf entry %q could not be read; the sidecar log says why", e.Entry)
}

func (e *CredentialError) Unwrap() error { return e.Err }

// keychains builds and keeps the authenticators of one Resolver.
type keychains struct {
	base    authn.Keychain
	now     func() time.Time
	timeout time.Duration
	secrets *secretSet
	log     *slog.Logger

	mu    sync.Mutex
	auths map[string]*credAuthenticator
	cloud map[string]authn.Keychain
}

// option is the remote option that authenticates with c.
func (k *keychains) option(c credential) (remote.Option, error) {
	if c.entry == nil {
		return remote.WithAuthFromKeychain(defaultChain{k}), nil
	}
	a, err := k.authenticator(c)
	if err != nil {
		return nil, err
	}
	return remote.WithAuth(a), nil
}

// authenticator is the one reader of an entry's credentials, reused by
// every spec that uses the entry.
func (k *keychains) authenticator(c credential) (*credAuthenticator, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if a, ok := k.auths[c.key()]; ok {
		return a, nil
	}
	ref, err := parseCredentialRef(c.entry.Credentials)
	if err != nil {
		return nil, fmt.Errorf("registries.conf entry %q credentials: %w", c.Name(), err)
	}
	if k.auths == nil {
		k.auths = map[string]*credAuthenticator{}
	}
	a := &credAuthenticator{
		ref: ref, entry: c.Name(), registry: c.entry.APIHost(), expire: c.entry.CredsExpire,
		timeout: k.timeout, now: k.now, secrets: k.secrets, log: k.log,
	}
	k.auths[c.key()] = a
	return a, nil
}

func (k *keychains) cloudKeychain(kind string) authn.Keychain {
	k.mu.Lock()
	defer k.mu.Unlock()
	if kc, ok := k.cloud[kind]; ok {
		return kc
	}
	if k.cloud == nil {
		k.cloud = map[string]authn.Keychain{}
	}
	var kc authn.Keychain
	switch kind {
	case "ecr":
		kc = authn.NewKeychainFromHelper(ecr.NewECRHelper())
	case "gcr":
		kc = google.Keychain
	case "acr":
		kc = authn.NewKeychainFromHelper(acr.NewACRCredentialsHelper())
	default:
		return nil
	}
	k.cloud[kind] = kc
	return kc
}

// defaultChain is the keychain of repositories without registries.conf
// credentials: the cloud workload-identity helper chosen by host, then the
// base keychain (the docker config). Both are admin configuration of the
// sidecar; their helpers reach instance metadata with their own clients.
type defaultChain struct{ k *keychains }

func (d defaultChain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	return d.ResolveContext(context.Background(), target)
}

func (d defaultChain) ResolveContext(ctx context.Context, target authn.Resource) (authn.Authenticator, error) {
	host := target.RegistryStr()
	if kind := cloudKind(host); kind != "" {
		auth, err := authn.Resolve(ctx, d.k.cloudKeychain(kind), target)
		if err == nil && auth != authn.Anonymous {
			return auth, nil
		}
	}
	if d.k.base == nil {
		return authn.Anonymous, nil
	}
	return authn.Resolve(ctx, d.k.base, target)
}
