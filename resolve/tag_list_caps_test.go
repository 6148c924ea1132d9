package resolve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
)

// pagedTags answers tag lists of repositories under "acme/paged" in pages
// of size tags with a Link header to the next, as large registries do
// (go-containerregistry's registry honours n and last but sends no Link).
type pagedTags struct {
	next http.Handler
	size int
}

func (p pagedTags) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if operation(r) != "list" || !strings.Contains(r.URL.Path, "/acme/paged/") {
		p.next.ServeHTTP(w, r)
		return
	}
	q := r.URL.Query()
	q.Set("n", strconv.Itoa(p.size))
	r = r.Clone(r.Context())
	r.URL.RawQuery = q.Encode()
	rec := httptest.NewRecorder()
	p.next.ServeHTTP(rec, r)
	var page struct {
		Tags []string `json:"tags"`
	}
	if rec.Code == http.StatusOK && json.Unmarshal(rec.Body.Bytes(), &page) == nil && len(page.Tags) == p.size {
		next := url.Values{"n": {strconv.Itoa(p.size)}, "last": {page.Tags[len(page.Tags)-1]}}
		w.Header().Set("Link", "<"+r.URL.Path+"?"+next.Encode()+`>; rel="next"`)
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// tagPage is a tag list answer as the registry writes it.
func tagPage(t *testing.T, repo string, tags ...string) int {
	t.Helper()
	b, err := json.Marshal(struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{repo, tags})
	if err != nil {
		t.Fatal(err)
	}
	return len(b)
}

// TestTagListCaps: a tag list past --max-tags or --max-tag-list-bytes (all
// pages together) fails with an error naming the repository, the cap and
// the flag; paging stops at the cap; the error is cached briefly, like any
// registry error, and the registry is asked again after it expires.
func TestTagListCaps(t *testing.T) {
	var counter *countingHandler
	reg := registrytest.New(t, registrytest.WithHandler(func(h http.Handler) http.Handler {
		counter = newCountingHandler(pagedTags{next: h, size: 2})
		return counter
	}))
	host := reg.Host()
	tags := []string{"1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0"}
	pushTags(t, host, "acme/paged", time.Now(), nil, tags...)
	pushTags(t, host, "acme/whole", time.Now(), nil, tags...)
	page := tagPage(t, "acme/paged", tags[:2]...)
	pagedTotal := 2*page + tagPage(t, "acme/paged", tags[4:]...)
	whole := tagPage(t, "acme/whole", tags...)

	cases := []struct {
		name     string
		repo     string
		maxTags  int
		maxBytes int64
		unit     string // "" for success
		lists    int    // tag list requests made
	}{
		{name: "within the caps, paged", repo: "acme/paged", maxTags: 5, maxBytes: int64(pagedTotal), lists: 3},
		{name: "within the caps, one answer", repo: "acme/whole", maxTags: 5, maxBytes: int64(whole), lists: 1},
		{name: "more tags than the cap in one answer", repo: "acme/whole", maxTags: 4, maxBytes: DefaultMaxTagListBytes, unit: "tags", lists: 1},
		{name: "more tags than the cap over pages stops paging", repo: "acme/paged", maxTags: 3, maxBytes: DefaultMaxTagListBytes, unit: "tags", lists: 2},
		{name: "one answer larger than the byte cap", repo: "acme/whole", maxTags: 5, maxBytes: int64(whole) - 1, unit: "bytes", lists: 1},
		{name: "pages larger than the byte cap together", repo: "acme/paged", maxTags: 5, maxBytes: int64(2*page + 1), unit: "bytes", lists: 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newTestResolver(t, WithMaxTags(tc.maxTags), WithMaxTagListBytes(tc.maxBytes))
			spec := specFor(t, "web="+host+"/"+tc.repo, nil)
			counter.Reset()
			res, err := r.ResolveOne(context.Background(), spec)
			if got := counter.Count("list"); got != tc.lists {
				t.Errorf("%d tag list requests, want %d", got, tc.lists)
			}
			if tc.unit == "" {
				if err != nil || res.Tag != "1.4.0" {
					t.Fatalf("got %+v %v", res, err)
				}
				return
			}
			var tle *TagListError
			if !errors.As(err, &tle) || tle.Unit != tc.unit || tle.Repository != host+"/"+tc.repo {
				t.Fatalf("err = %v, want a *TagListError in %s for %s/%s", err, tc.unit, host, tc.repo)
			}
			flag := map[string]string{"tags": "--max-tags", "bytes": "--max-tag-list-bytes"}[tc.unit]
			limit := strconv.FormatInt(tle.Limit, 10)
			for _, want := range []string{host + "/" + tc.repo, flag, limit, "cap"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %s", err, want)
				}
			}
			// Cached briefly, like other registry errors...
			counter.Reset()
			if _, err := r.ResolveOne(context.Background(), spec); !errors.As(err, &tle) || counter.Count("list") != 0 {
				t.Fatalf("within the negative TTL: %v after %d list requests", err, counter.Count("list"))
			}
			// ...and asked again once that passes.
			r.clock.Advance(DefaultNegativeTTL + time.Second)
			if _, err := r.ResolveOne(context.Background(), spec); !errors.As(err, &tle) || counter.Count("list") == 0 {
				t.Fatalf("after the negative TTL: %v after %d list requests", err, counter.Count("list"))
			}
		})
	}
}

// TestListBodyCapWithoutBudget: a tag list answer read outside listTags
// is still capped by limitTransport.
func TestListBodyCapWithoutBudget(t *testing.T) {
	body := countListBody(context.Background(), io.NopCloser(strings.NewReader(strings.Repeat("x", 10))), 4)
	var buf bytes.Buffer
	_, err := buf.ReadFrom(body)
	var exceeded *listBytesExceeded
	if !errors.As(err, &exceeded) || buf.Len() > 4 {
		t.Fatalf("read %d bytes, err %v; want at most the cap and *listBytesExceeded", buf.Len(), err)
	}
	body = countListBody(context.Background(), io.NopCloser(strings.NewReader("abcd")), 4)
	buf.Reset()
	if _, err := buf.ReadFrom(body); err != nil || buf.String() != "abcd" {
		t.Fatalf("an answer of exactly the cap: %q %v", buf.String(), err)
	}
}
