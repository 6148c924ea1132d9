package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
)

type notifyOptions struct {
	url        string
	repository string
	tag        string
	digest     string
	secretFile string
	timeout    time.Duration
}

func newNotifyCommand() *cobra.Command {
	o := &notifyOptions{}
	cmd := &cobra.Command{
		Use:   "notify --url URL --repository REPO [--tag TAG] --secret-file FILE",
		Short: "Tell the plugin that an image was pushed (for CI pipelines)",
		Long: `notify sends a signed "generic" webhook event to the plugin's /webhook
endpoint: the plugin drops its cached tags for the repository and checks at
once the Applications using it, hard-refreshing those whose image changed.

The body is signed with HMAC-SHA256 using the webhook secret (header
X-Signature-256: sha256=<hex>); the secret itself is never sent.`,
		Example: `  # at the end of a CI pipeline that pushed ghcr.io/acme/web:1.7.0
  argocd-image-resolver notify \
    --url http://argocd-image-resolver.argocd.svc:8080 \
    --repository ghcr.io/acme/web --tag 1.7.0 \
    --secret-file /run/secrets/image-resolver-webhook`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runNotify(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.url, "url", "", "plugin service URL, or its full /webhook URL")
	f.StringVar(&o.repository, "repository", "", "repository that was pushed, e.g. ghcr.io/acme/web")
	f.StringVar(&o.tag, "tag", "", "tag that was pushed (informational)")
	f.StringVar(&o.digest, "digest", "", "digest that was pushed (informational)")
	f.StringVar(&o.secretFile, "secret-file", "", "file holding the webhook secret")
	f.DurationVar(&o.timeout, "timeout", 30*time.Second, "request timeout")
	for _, name := range []string{"url", "repository", "secret-file"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

// webhookURL turns the service URL into its generic webhook URL, keeping a
// path and query the user gave.
func webhookURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("--url %q: want http(s)://host[:port][/webhook]", raw)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/webhook"
	}
	q := u.Query()
	if q.Get("type") == "" {
		q.Set("type", resolve.WebhookGeneric)
	}
	if q.Get("type") != resolve.WebhookGeneric {
		return "", fmt.Errorf("--url has type=%s: notify sends generic events only", q.Get("type"))
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func readSecretFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read secret file: %w", err)
	}
	s := bytes.TrimSpace(b)
	if len(s) == 0 {
		return nil, fmt.Errorf("secret file %s is empty", path)
	}
	return s, nil
}

func runNotify(ctx context.Context, out io.Writer, o *notifyOptions) error {
	target, err := webhookURL(o.url)
	if err != nil {
		return err
	}
	if strings.TrimSpace(o.repository) == "" {
		return errors.New("--repository is empty")
	}
	secret, err := readSecretFile(o.secretFile)
	if err != nil {
		return err
	}
	body, err := json.Marshal(resolve.GenericEvent{Repository: o.repository, Tag: o.tag, Digest: o.digest})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(resolve.SignatureHeader, resolve.SignWebhook(secret, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("notify %s: %w", target, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("notify %s: %s: %s", target, resp.Status, strings.TrimSpace(string(answer)))
	}
	_, err = out.Write(answer)
	return err
}
