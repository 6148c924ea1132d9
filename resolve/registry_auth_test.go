package resolve

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sirupsen/logrus"
	"golang.org/x/crypto/bcrypt"

	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"
	_ "github.com/distribution/distribution/v3/registry/auth/token"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
)

const authUser = "robot"

// distributionRegistry runs github.com/distribution/distribution/v3 in
// process on loopback with the given auth section, behind the counting
// wrapper.
func distributionRegistry(t *testing.T, auth configuration.Auth) *testRegistry {
	t.Helper()
	logrus.SetOutput(io.Discard)
	config := &configuration.Configuration{
		Storage: configuration.Storage{
			"inmemory":    configuration.Parameters{},
			"maintenance": configuration.Parameters{"uploadpurging": map[any]any{"enabled": false}},
		},
		Auth: auth,
	}
	config.HTTP.Secret = "test-http-secret"
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c := newCountingHandler(handlers.NewApp(ctx, config))
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return &testRegistry{host: strings.TrimPrefix(srv.URL, "http://"), url: srv.URL, counter: c}
}

func htpasswdRegistry(t *testing.T, password string) *testRegistry {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(path, []byte(authUser+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return distributionRegistry(t, configuration.Auth{"htpasswd": configuration.Parameters{"realm": "test", "path": path}})
}

// tokenRegistry runs distribution with token auth and a /token endpoint
// that checks basic auth and signs RS256 tokens with a key published in a
// JWKS file. The realm uses "localhost": go-containerregistry refuses a
// token realm on a loopback IP.
func tokenRegistry(t *testing.T, password string) (reg *testRegistry, tokens *countingHandler, realmHost string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	const kid, issuer, service = "test-key", "test-issuer", "test-registry"
	b64 := base64.RawURLEncoding.EncodeToString
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
		"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
	}}})
	jwksPath := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(jwksPath, jwks, 0o600); err != nil {
		t.Fatal(err)
	}

	tokens = newCountingHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || user != authUser || pass != password {
			http.Error(w, "bad credentials", http.StatusUnauthorized)
			return
		}
		var access []map[string]any
		for _, scope := range r.URL.Query()["scope"] {
			parts := strings.Split(scope, ":")
			if len(parts) == 3 {
				access = append(access, map[string]any{"type": parts[0], "name": parts[1], "actions": strings.Split(parts[2], ",")})
			}
		}
		now := time.Now()
		header, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": kid})
		claims, _ := json.Marshal(map[string]any{
			"iss": issuer, "sub": user, "aud": service, "jti": fmt.Sprint(now.UnixNano()),
			"iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix(),
			"access": access,
		})
		signing := b64(header) + "." + b64(claims)
		sum := sha256.Sum256([]byte(signing))
		sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		token := signing + "." + b64(sig)
		_ = json.NewEncoder(w).Encode(map[string]any{"token": token, "access_token": token, "expires_in": 3600})
	}))
	tokenSrv := httptest.NewServer(tokens)
	t.Cleanup(tokenSrv.Close)
	realmHost = "localhost:" + tokenSrv.URL[strings.LastIndex(tokenSrv.URL, ":")+1:]
	realm := "http://" + realmHost + "/token"
	reg = distributionRegistry(t, configuration.Auth{"token": configuration.Parameters{
		"realm": realm, "service": service, "issuer": issuer, "jwks": jwksPath,
	}})
	return reg, tokens, realmHost
}

func TestHtpasswdRegistryWithRegistriesConfCredentials(t *testing.T) {
	reg := htpasswdRegistry(t, knownSecret)
	pushTags(t, reg.host, "acme/web", time.Now(), []remote.Option{remote.WithAuth(&authn.Basic{Username: authUser, Password: knownSecret})}, webTags...)
	t.Setenv("REG_CREDS", authUser+":"+knownSecret)
	conf, err := ParseRegistriesConfig([]byte("registries:\n- prefix: " + reg.host + "\n  credentials: env:REG_CREDS\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := newTestResolver(t, WithRegistriesConfig(conf))
	res, err := r.ResolveOne(context.Background(), specFor(t, "web="+reg.host+"/acme/web:~1.6", nil))
	if err != nil || res.Tag != "1.6.3" || res.Digest == "" {
		t.Fatalf("got %+v %v", res, err)
	}
	assertNoSecret(t, r, nil)

	// Anonymous access is refused, and the error says so without a secret.
	anon := newTestResolver(t)
	_, err = anon.ResolveOne(context.Background(), specFor(t, "web="+reg.host+"/acme/web:~1.6", nil))
	if err == nil || !strings.Contains(err.Error(), "check the credentials for "+reg.host) {
		t.Fatalf("anonymous: %v", err)
	}
}

func TestHtpasswdWrongPasswordNeverLeaks(t *testing.T) {
	reg := htpasswdRegistry(t, "the-right-one")
	t.Setenv("REG_CREDS", authUser+":"+knownSecret)
	conf, err := ParseRegistriesConfig([]byte("registries:\n- prefix: " + reg.host + "\n  credentials: env:REG_CREDS\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := newTestResolver(t, WithRegistriesConfig(conf))
	_, err = r.ResolveOne(context.Background(), specFor(t, "web="+reg.host+"/acme/web:~1.6", nil))
	if err == nil {
		t.Fatal("resolved with a wrong password")
	}
	for _, want := range []string{"resolve web", reg.host, "401", "check the credentials"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	assertNoSecret(t, r, err)
}

// namedEntry is a registries.conf with one entry called name for prefix,
// whose credentials are the docker config file secretFile.
func namedEntry(t *testing.T, name, prefix, secretFile string) *RegistriesConfig {
	t.Helper()
	conf, err := ParseRegistriesConfig([]byte("registries:\n- name: " + name + "\n  prefix: " + prefix + "\n  credentials: file:" + secretFile + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	return conf
}

func TestTokenAuthRegistryWithNamedPullSecret(t *testing.T) {
	reg, tokens, _ := tokenRegistry(t, knownSecret)
	pushTags(t, reg.host, "acme/web", time.Now(), []remote.Option{remote.WithAuth(&authn.Basic{Username: authUser, Password: knownSecret})}, webTags...)
	dockerConfig := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, reg.host, base64.StdEncoding.EncodeToString([]byte(authUser+":"+knownSecret)))
	secretFile := writeFile(t, t.TempDir(), "config.json", dockerConfig, 0o600)

	r := newTestResolver(t, WithRegistriesConfig(namedEntry(t, "acme", reg.host+"/acme", secretFile)))
	spec := specFor(t, "web="+reg.host+"/acme/web:~1.6", map[string]string{"web.pull-secret": "acme"})
	tokens.Reset()
	res, err := r.ResolveOne(context.Background(), spec)
	if err != nil || res.Tag != "1.6.3" || res.Digest == "" {
		t.Fatalf("got %+v %v", res, err)
	}
	if tokens.Count("") == 0 {
		t.Fatal("the token endpoint was never asked")
	}
	assertNoSecret(t, r, nil)

	wrong := writeFile(t, t.TempDir(), "config.json", fmt.Sprintf(`{"auths":{%q:{"username":"robot","password":"wrong-`+knownSecret+`"}}}`, reg.host), 0o600)
	r2 := newTestResolver(t, WithRegistriesConfig(namedEntry(t, "acme", reg.host+"/acme", wrong)))
	_, err = r2.ResolveOne(context.Background(), specFor(t, "web="+reg.host+"/acme/web:~1.6", map[string]string{"web.pull-secret": "acme"}))
	if err == nil {
		t.Fatal("resolved with a wrong token password")
	}
	assertNoSecret(t, r2, err)
}

func TestDockerConfigKeychain(t *testing.T) {
	reg := htpasswdRegistry(t, knownSecret)
	pushTags(t, reg.host, "acme/web", time.Now(), []remote.Option{remote.WithAuth(&authn.Basic{Username: authUser, Password: knownSecret})}, "1.0.0")
	dir := t.TempDir()
	writeFile(t, dir, "config.json", fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, reg.host, base64.StdEncoding.EncodeToString([]byte(authUser+":"+knownSecret))), 0o600)
	t.Setenv("DOCKER_CONFIG", dir)
	r, err := New(WithKeychain(authn.DefaultKeychain), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.ResolveOne(context.Background(), specFor(t, "web="+reg.host+"/acme/web", nil))
	if err != nil || res.Tag != "1.0.0" {
		t.Fatalf("got %+v %v", res, err)
	}
}

// assertNoSecret checks the error, the logs and the snapshot for the known
// secret (and its base64 form).
func assertNoSecret(t *testing.T, r *testResolver, err error) {
	t.Helper()
	forms := []string{knownSecret, base64.StdEncoding.EncodeToString([]byte(authUser + ":" + knownSecret))}
	snap, _ := json.Marshal(r.Snapshot())
	places := map[string]string{"logs": r.logs.String(), "snapshot": string(snap)}
	if err != nil {
		places["error"] = err.Error()
	}
	for where, text := range places {
		for _, f := range forms {
			if strings.Contains(text, f) {
				t.Errorf("%s contains the secret: %s", where, text)
			}
		}
	}
}
