package plugin

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v3/cmpserver/apiclient"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"

	testharness "github.com/argocd-image-resolver/argocd-image-resolver/test/harness"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/redistest"
)

// redisOptions parses Redis flags as serve does, with env set first.
func redisOptions(t *testing.T, env map[string]string, args ...string) *RedisOptions {
	t.Helper()
	for _, k := range []string{"REDIS_SERVER", "REDISDB", "REDIS_SENTINEL_HOSTS", "REDIS_SENTINEL_MASTER", "REDIS_USERNAME", "REDIS_PASSWORD"} {
		t.Setenv(k, env[k])
	}
	var o RedisOptions
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	o.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return &o
}

func TestRedisOptionsFollowArgoCD(t *testing.T) {
	cases := []struct {
		name     string
		env      map[string]string
		args     []string
		enabled  bool
		describe string
		failover bool
	}{
		{name: "nothing set: memory only", enabled: false},
		{name: "REDIS_SERVER", env: map[string]string{"REDIS_SERVER": "argocd-redis:6379"}, enabled: true, describe: "argocd-redis:6379"},
		{name: "--redis wins over REDIS_SERVER", env: map[string]string{"REDIS_SERVER": "a:6379"}, args: []string{"--redis", "b:6379"}, enabled: true, describe: "b:6379"},
		{name: "--redis-default when nothing else", args: []string{"--redis-default=argocd-redis:6379"}, enabled: true, describe: "argocd-redis:6379"},
		{name: "REDIS_SERVER wins over --redis-default", env: map[string]string{"REDIS_SERVER": "argocd-redis-ha-haproxy:6379"}, args: []string{"--redis-default=argocd-redis:6379"}, enabled: true, describe: "argocd-redis-ha-haproxy:6379"},
		{name: "sentinels from the environment", env: map[string]string{"REDIS_SENTINEL_HOSTS": "s1:26379,s2:26379", "REDIS_SENTINEL_MASTER": "argocd"}, enabled: true, describe: "sentinel argocd at s1:26379,s2:26379", failover: true},
		{name: "sentinel flags", args: []string{"--sentinel", "s1:26379", "--sentinel", "s2:26379"}, enabled: true, describe: "sentinel master at s1:26379,s2:26379", failover: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := redisOptions(t, tc.env, tc.args...)
			if o.Enabled() != tc.enabled {
				t.Fatalf("Enabled() = %v", o.Enabled())
			}
			client, err := NewRedisClient(o)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.enabled {
				if client != nil {
					t.Fatal("a client without Redis configured")
				}
				return
			}
			defer client.Close()
			if got := o.Describe(); got != tc.describe {
				t.Errorf("Describe() = %q, want %q", got, tc.describe)
			}
			// go-redis names a Sentinel-backed client's address so.
			c, ok := client.(*redis.Client)
			if !ok || (c.Options().Addr == "FailoverClient") != tc.failover {
				t.Errorf("client %T, want failover=%v", client, tc.failover)
			}
		})
	}
}

func TestRedisTLSSettingsFailClearly(t *testing.T) {
	o := redisOptions(t, map[string]string{"REDIS_SERVER": "r:6379"}, "--redis-use-tls", "--redis-ca-certificate", filepath.Join(t.TempDir(), "missing.pem"))
	if _, err := NewRedisClient(o); err == nil || !strings.Contains(err.Error(), "--redis-ca-certificate") {
		t.Fatalf("missing CA file: %v", err)
	}
	o = redisOptions(t, map[string]string{"REDIS_SERVER": "r:6379"}, "--redis-use-tls", "--redis-client-key", "/k.pem")
	if _, err := NewRedisClient(o); err == nil || !strings.Contains(err.Error(), "--redis-client-certificate") {
		t.Fatalf("key without certificate: %v", err)
	}
}

// startServe runs `serve` in process with extra flags until the test ends
// and waits until /readyz answers 200; it returns the socket and the logs.
func startServe(t *testing.T, extra ...string) (string, *testharness.SyncBuffer) {
	t.Helper()
	sockDir, err := os.MkdirTemp("", "srv")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(sockDir) })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpAddr := l.Addr().String()
	_ = l.Close()
	logs := &testharness.SyncBuffer{}
	cmd := NewRootCommand()
	cmd.SetErr(logs)
	cmd.SetArgs(append([]string{"serve", "--socket-dir", sockDir, "--work-dir", t.TempDir(), "--log-format", "text",
		"--http-addr", httpAddr, "--debug-addr", "127.0.0.1:0", "--refresh-backend", "none"}, extra...))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready within 30s: %v\n%s", err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return filepath.Join(sockDir, "image-resolver.sock"), logs
}

func checkPlugin(t *testing.T, socket string) {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := apiclient.NewConfigManagementPluginServiceClient(conn).CheckPluginConfiguration(context.Background(), &emptypb.Empty{}); err != nil {
		t.Fatalf("CheckPluginConfiguration: %v", err)
	}
}

// TestServeStartsWithRedisDown: a Redis that does not answer at start is
// logged, and serve is ready anyway.
func TestServeStartsWithRedisDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	_ = l.Close()
	socket, logs := startServe(t, "--redis", dead)
	checkPlugin(t, socket)
	if !strings.Contains(logs.String(), "Redis not reachable at start") {
		t.Errorf("no warning about the unreachable Redis:\n%s", logs.String())
	}
}

// TestServeWithRedisPasswordNeverLogsIt: the password from REDIS_PASSWORD
// authenticates, and neither a right nor a wrong one reaches the logs.
func TestServeWithRedisPasswordNeverLogsIt(t *testing.T) {
	const password = "redis-pa55-0123456789"
	srv := redistest.Start(t, "--requirepass", password)
	for _, tc := range []struct {
		password, want string
	}{
		{password, "sharing the cache and the tracker in Redis"},
		{"wrong-" + password, "Redis not reachable at start"},
	} {
		t.Run(fmt.Sprintf("want %q", tc.want), func(t *testing.T) {
			t.Setenv("REDIS_PASSWORD", tc.password)
			socket, logs := startServe(t, "--redis", srv.Addr(), "--log-level", "debug")
			checkPlugin(t, socket)
			out := logs.String()
			if !strings.Contains(out, tc.want) {
				t.Errorf("logs lack %q:\n%s", tc.want, out)
			}
			if strings.Contains(out, password) {
				t.Errorf("logs hold the Redis password:\n%s", out)
			}
		})
	}
}
