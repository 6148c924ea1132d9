package resolve

import (
	"context"
	"slices"
	"testing"
	"time"

	gocache "github.com/patrickmn/go-cache"
)

// TestBoundedCacheEvictsLeastRecentlyUsed: reads and writes both count as
// use; past the bound the entry used longest ago goes.
func TestBoundedCacheEvictsLeastRecentlyUsed(t *testing.T) {
	type op struct{ kind, key string } // kind: set, get, del
	cases := []struct {
		name string
		max  int
		ops  []op
		want []string // keys present at the end
	}{
		{"insertion order without reads", 2, []op{{"set", "a"}, {"set", "b"}, {"set", "c"}}, []string{"b", "c"}},
		{"a read keeps an entry", 2, []op{{"set", "a"}, {"set", "b"}, {"get", "a"}, {"set", "c"}}, []string{"a", "c"}},
		{"a rewrite keeps an entry", 2, []op{{"set", "a"}, {"set", "b"}, {"set", "a"}, {"set", "c"}}, []string{"a", "c"}},
		{"a deleted entry frees its place", 2, []op{{"set", "a"}, {"set", "b"}, {"del", "a"}, {"set", "c"}}, []string{"b", "c"}},
		{"a miss changes nothing", 2, []op{{"set", "a"}, {"set", "b"}, {"get", "z"}, {"set", "c"}}, []string{"b", "c"}},
		{"unbounded", 0, []op{{"set", "a"}, {"set", "b"}, {"set", "c"}}, []string{"a", "b", "c"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newBoundedCache(gocache.NoExpiration, 0, tc.max)
			for _, o := range tc.ops {
				switch o.kind {
				case "set":
					c.SetDefault(o.key, o.key)
				case "get":
					c.Get(o.key)
				case "del":
					c.Delete(o.key)
				}
			}
			var got []string
			for k := range c.Items() {
				got = append(got, k)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("kept %v, want %v", got, tc.want)
			}
		})
	}
}

// TestTagLayerBounded: with room for one tag list, resolving another
// repository evicts the first one's list (in the front and the in-process
// store), so a new spec of the first repository lists its tags again; with
// the default bound it does not.
func TestTagLayerBounded(t *testing.T) {
	reg := newTestRegistry(t)
	pushTags(t, reg.host, "acme/web", time.Now(), nil, "1.5.0", "1.6.0")
	pushTags(t, reg.host, "acme/api", time.Now(), nil, "2.0.0")
	cases := []struct {
		name     string
		opts     []Option
		webLists int
	}{
		{"one entry", []Option{WithCacheEntries(1)}, 2},
		{"default", nil, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newTestResolver(t, tc.opts...)
			reg.counter.Reset()
			for _, s := range []string{"web=" + reg.host + "/acme/web:~1.6", "api=" + reg.host + "/acme/api", "web=" + reg.host + "/acme/web:~1.5"} {
				if _, err := r.ResolveOne(context.Background(), specFor(t, s, nil)); err != nil {
					t.Fatal(err)
				}
			}
			if got := reg.counter.Count("list"); got != tc.webLists+1 {
				t.Fatalf("%d tag lists, want %d for web and 1 for api", got, tc.webLists)
			}
		})
	}
}
