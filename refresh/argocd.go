package refresh

import (
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
)

// ArgoCDAPI triggers hard refreshes through argocd-server's REST API
// (GET /api/v1/applications/<name>?refresh=hard). Its token needs only
// `applications, get` (and list access for the start-up pass).
type ArgoCDAPI struct {
	base      *url.URL
	tokenFile string
	client    *http.Client
}

// ArgoCDOption configures the Argo CD API backend.
type ArgoCDOption func(*ArgoCDAPI)

// WithHTTPClient replaces the HTTP client (TLS settings, timeouts). The
// default has a 60 s timeout: argocd-server answers a refresh request once
// the refresh is under way.
func WithHTTPClient(c *http.Client) ArgoCDOption {
	return func(a *ArgoCDAPI) { a.client = c }
}

// NewArgoCDAPI returns the backend for the server at serverURL (for example
// https://argocd-server.argocd.svc) with a bearer token read from tokenFile
// at every call, so a rotated token is picked up.
func NewArgoCDAPI(serverURL, tokenFile string, opts ...ArgoCDOption) (*ArgoCDAPI, error) {
	u, err := url.Parse(serverURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("argo CD server URL %q: want http(s)://host[:port]", serverURL)
	}
	if u.User != nil {
		return nil, errors.New("argo CD server URL must not carry credentials: put the token in the token file")
	}
	if tokenFile == "" {
		return nil, errors.New("argo CD API backend needs a token file (--argocd-token-file)")
	}
	a := &ArgoCDAPI{base: u, tokenFile: tokenFile, client: &http.Client{Timeout: 60 * time.Second}}
	for _, o := range opts {
		o(a)
	}
	return a, nil
}

// Name implements Backend.
func (a *ArgoCDAPI) Name() string { return "argocd-api" }

func (a *ArgoCDAPI) token() (string, error) {
	b, err := os.ReadFile(a.tokenFile)
	if err != nil {
		return "", fmt.Errorf("read Argo CD token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("argo CD token file %s is empty", a.tokenFile)
	}
	return tok, nil
}

func (a *ArgoCDAPI) get(ctx context.Context, path string, q url.Values, into any) (int, error) {
	tok, err := a.token()
	if err != nil {
		return 0, err
	}
	u := *a.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawPath = ""
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("argo CD API %s: %w", a.base.Host, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("argo CD API %s: read response: %w", a.base.Host, err)
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("argo CD API %s answered %s: %s", a.base.Host, resp.Status, apiMessage(body))
	}
	if into != nil {
		if err := json.Unmarshal(body, into); err != nil {
			return resp.StatusCode, fmt.Errorf("argo CD API %s: decode response: %w", a.base.Host, err)
		}
	}
	return resp.StatusCode, nil
}

// apiMessage extracts argocd-server's error message ({"error":..,"message":..}).
func apiMessage(body []byte) string {
	var e struct {
		Message string `json:"message"`
		Error   string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil {
		if e.Message != "" {
			return e.Message
		}
		if e.Error != "" {
			return e.Error
		}
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// Refresh reads the Application, skips it while a refresh annotation is
// present, and otherwise asks for a hard refresh.
func (a *ArgoCDAPI) Refresh(ctx context.Context, app App) error {
	path := "/api/v1/applications/" + url.PathEscape(app.Name)
	q := url.Values{}
	if app.Namespace != "" {
		q.Set("appNamespace", app.Namespace)
	}
	var obj map[string]any
	if code, err := a.get(ctx, path, q, &obj); err != nil {
		return a.wrap(app, code, err)
	}
	if hasRefreshAnnotation(obj) {
		return fmt.Errorf("application %s: %w", app.Key(), ErrRefreshPending)
	}
	q.Set("refresh", "hard")
	if code, err := a.get(ctx, path, q, nil); err != nil {
		return a.wrap(app, code, err)
	}
	return nil
}

func (a *ArgoCDAPI) wrap(app App, code int, err error) error {
	switch code {
	case http.StatusNotFound:
		return fmt.Errorf("application %s: %w", app.Key(), ErrAppNotFound)
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("hard-refresh application %s: %w (check the token in %s and that its role allows `applications, get` on project %q)", app.Key(), err, a.tokenFile, app.Project)
	default:
		return fmt.Errorf("hard-refresh application %s: %w", app.Key(), err)
	}
}

// ListApps implements Lister.
func (a *ArgoCDAPI) ListApps(ctx context.Context, pluginNames []string) ([]App, error) {
	var list struct {
		Items []map[string]any `json:"items"`
	}
	if _, err := a.get(ctx, "/api/v1/applications", url.Values{}, &list); err != nil {
		return nil, fmt.Errorf("list applications: %w", err)
	}
	var out []App
	for _, item := range list.Items {
		if usesPlugin(item, pluginNames) {
			out = append(out, appFromObject(item))
		}
	}
	return out, nil
}
