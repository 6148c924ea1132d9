package resolve

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	registry string
	expire   time.Duration
	timeout  time.Duration
	now      func() time.Time
	secrets  *secretSet

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
		return nil, err
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

// keychains builds and keeps the authenticators of one Resolver.
type keychains struct {
	conf    *RegistriesConfig
	base    authn.Keychain
	now     func() time.Time
	timeout time.Duration
	secrets *secretSet

	mu    sync.Mutex
	auths map[string]*credAuthenticator
	cloud map[string]authn.Keychain
}

// forSpec returns the keychain for one spec: its pull-secret first, then
// registries.conf credentials, the cloud helper for the host, and the base
// keychain (docker config by default).
func (k *keychains) forSpec(pullSecret string) (authn.Keychain, error) {
	kc := &specKeychain{k: k}
	if pullSecret != "" {
		ref, err := parseCredentialRef(pullSecret)
		if err != nil {
			return nil, fmt.Errorf("pull-secret: %w", err)
		}
		kc.pullSecret = &ref
	}
	return kc, nil
}

func (k *keychains) authenticator(ref credentialRef, registry string, expire time.Duration) *credAuthenticator {
	key := ref.String() + "\x00" + registry
	k.mu.Lock()
	defer k.mu.Unlock()
	if a, ok := k.auths[key]; ok {
		return a
	}
	if k.auths == nil {
		k.auths = map[string]*credAuthenticator{}
	}
	a := &credAuthenticator{ref: ref, registry: registry, expire: expire, timeout: k.timeout, now: k.now, secrets: k.secrets}
	k.auths[key] = a
	return a
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

type specKeychain struct {
	k          *keychains
	pullSecret *credentialRef
}

func (s *specKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	return s.ResolveContext(context.Background(), target)
}

func (s *specKeychain) ResolveContext(ctx context.Context, target authn.Resource) (authn.Authenticator, error) {
	host := target.RegistryStr()
	reg := s.k.conf.forAPIHost(host)
	var expire time.Duration
	if reg != nil {
		expire = reg.CredsExpire
	}
	if s.pullSecret != nil {
		return s.k.authenticator(*s.pullSecret, host, expire), nil
	}
	if reg != nil && reg.Credentials != "" {
		ref, err := parseCredentialRef(reg.Credentials)
		if err != nil {
			return nil, fmt.Errorf("registry %s credentials: %w", reg.label(), err)
		}
		return s.k.authenticator(ref, host, expire), nil
	}
	if kind := cloudKind(host); kind != "" {
		auth, err := authn.Resolve(ctx, s.k.cloudKeychain(kind), target)
		if err == nil && auth != authn.Anonymous {
			return auth, nil
		}
	}
	if s.k.base == nil {
		return authn.Anonymous, nil
	}
	return authn.Resolve(ctx, s.k.base, target)
}
