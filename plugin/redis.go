package plugin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/pflag"

	"github.com/argocd-image-resolver/argocd-image-resolver/store"
)

// RedisOptions are the Redis settings of `serve`, read the way Argo CD's own
// components read theirs: the variables REDIS_SERVER, REDISDB,
// REDIS_SENTINEL_HOSTS, REDIS_SENTINEL_MASTER as flag defaults, and
// REDIS_USERNAME, REDIS_PASSWORD, REDIS_SENTINEL_USERNAME,
// REDIS_SENTINEL_PASSWORD from the environment only (secrets never go on a
// command line). Without an address or sentinels, no Redis is used.
type RedisOptions struct {
	// Addr is host:port (--redis, default $REDIS_SERVER).
	Addr string
	// DefaultAddr is used when Addr is empty (--redis-default); the
	// install sets Argo CD's own fallback, argocd-redis:6379, so that an
	// operator's argocd-cmd-params-cm redis.server (which it maps to
	// REDIS_SERVER) wins over it.
	DefaultAddr    string
	DB             int
	Sentinels      []string
	SentinelMaster string
	UseTLS         bool
	CACertificate  string
	ClientCert     string
	ClientKey      string
	InsecureTLS    bool
	// Timeout bounds each call (--redis-timeout).
	Timeout time.Duration

	username, password                 string
	sentinelUsername, sentinelPassword string
}

// AddFlags declares the flags on f, with defaults from the environment.
func (o *RedisOptions) AddFlags(f *pflag.FlagSet) {
	db, _ := strconv.Atoi(os.Getenv("REDISDB"))
	master := os.Getenv("REDIS_SENTINEL_MASTER")
	if master == "" {
		master = "master"
	}
	var sentinels []string
	if v := os.Getenv("REDIS_SENTINEL_HOSTS"); v != "" {
		sentinels = strings.Split(v, ",")
	}
	f.StringVar(&o.Addr, "redis", os.Getenv("REDIS_SERVER"), "Redis host:port to share the cache and tracker with the other repo-server replicas, e.g. argocd-redis:6379 (default $REDIS_SERVER; none: memory only)")
	f.StringVar(&o.DefaultAddr, "redis-default", "", "Redis host:port used when neither --redis nor $REDIS_SERVER names one (the install sets Argo CD's own argocd-redis:6379)")
	f.IntVar(&o.DB, "redisdb", db, "Redis database (default $REDISDB or 0)")
	f.StringArrayVar(&o.Sentinels, "sentinel", sentinels, "Redis sentinel host:port, repeatable (default $REDIS_SENTINEL_HOSTS, comma-separated)")
	f.StringVar(&o.SentinelMaster, "sentinelmaster", master, "Redis sentinel master group name (default $REDIS_SENTINEL_MASTER or master)")
	f.BoolVar(&o.UseTLS, "redis-use-tls", false, "use TLS to Redis")
	f.StringVar(&o.CACertificate, "redis-ca-certificate", "", "PEM file of the CA that signed Redis' certificate (default: the system's CAs)")
	f.StringVar(&o.ClientCert, "redis-client-certificate", "", "PEM client certificate for Redis")
	f.StringVar(&o.ClientKey, "redis-client-key", "", "PEM key of --redis-client-certificate")
	f.BoolVar(&o.InsecureTLS, "redis-insecure-skip-tls-verify", false, "do not verify Redis' certificate")
	f.DurationVar(&o.Timeout, "redis-timeout", store.DefaultTimeout, "bound of one Redis call; a slower or failing Redis is bypassed, renders go on from memory and the registries")
	o.username, o.password = os.Getenv("REDIS_USERNAME"), os.Getenv("REDIS_PASSWORD")
	o.sentinelUsername, o.sentinelPassword = os.Getenv("REDIS_SENTINEL_USERNAME"), os.Getenv("REDIS_SENTINEL_PASSWORD")
}

// address is the server to use, "" for none.
func (o *RedisOptions) address() string {
	if o.Addr != "" {
		return o.Addr
	}
	return o.DefaultAddr
}

// Enabled reports whether Redis is configured.
func (o *RedisOptions) Enabled() bool { return o.address() != "" || len(o.Sentinels) > 0 }

// Describe names the Redis in use for logs: the address or the sentinel
// group, never a credential.
func (o *RedisOptions) Describe() string {
	if len(o.Sentinels) > 0 {
		return "sentinel " + o.SentinelMaster + " at " + strings.Join(o.Sentinels, ",")
	}
	return o.address()
}

func (o *RedisOptions) tlsConfig() (*tls.Config, error) {
	if !o.UseTLS {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.ClientCert != "" {
		cert, err := tls.LoadX509KeyPair(o.ClientCert, o.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("--redis-client-certificate/--redis-client-key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	switch {
	case o.InsecureTLS:
		cfg.InsecureSkipVerify = true //nolint:gosec // --redis-insecure-skip-tls-verify asks for this
	case o.CACertificate != "":
		pem, err := os.ReadFile(o.CACertificate)
		if err != nil {
			return nil, fmt.Errorf("--redis-ca-certificate: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--redis-ca-certificate %s: no PEM certificate in it", o.CACertificate)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// NewRedisClient builds the go-redis client of the options: a failover
// client when sentinels are given, a plain one otherwise; nil when Redis is
// not configured. The caller closes it. It does not dial: a Redis that is
// down at start is retried by the store.
func NewRedisClient(o *RedisOptions) (redis.UniversalClient, error) {
	if !o.Enabled() {
		return nil, nil
	}
	if o.ClientKey != "" && o.ClientCert == "" {
		return nil, errors.New("--redis-client-key needs --redis-client-certificate")
	}
	tlsCfg, err := o.tlsConfig()
	if err != nil {
		return nil, err
	}
	opts := &redis.UniversalOptions{
		Addrs:                 []string{o.address()},
		DB:                    o.DB,
		Username:              o.username,
		Password:              o.password,
		TLSConfig:             tlsCfg,
		ContextTimeoutEnabled: true,
	}
	if len(o.Sentinels) > 0 {
		opts.Addrs = o.Sentinels
		opts.MasterName = o.SentinelMaster
		opts.SentinelUsername = o.sentinelUsername
		opts.SentinelPassword = o.sentinelPassword
	}
	return redis.NewUniversalClient(opts), nil
}

// redisLogger routes go-redis' own messages (reconnects, discarded
// connections) to debug level: the store logs Redis' state changes once
// each, at warn and info.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}
