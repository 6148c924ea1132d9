package resolve

import (
	"context"
	"sort"
	"testing"
	"time"
)

func TestEntriesStreamsInKeyOrderWithFilterAndStop(t *testing.T) {
	reg := newTestRegistry(t)
	for _, repo := range []string{"acme/web", "acme/api"} {
		pushTags(t, reg.host, repo, time.Now(), nil, "1.0.0", "1.1.0")
	}
	r := newTestResolver(t)
	for _, image := range []string{"web=" + reg.host + "/acme/web:^1", "api=" + reg.host + "/acme/api:^1"} {
		if _, err := r.ResolveOne(context.Background(), specFor(t, image, nil)); err != nil {
			t.Fatal(err)
		}
	}
	all := r.Snapshot()

	for _, tc := range []struct {
		name       string
		repository string
		stopAfter  int // 0: never
		want       int
		only       string // every entry's repository, when set
	}{
		{name: "everything", want: len(all)},
		{name: "one repository", repository: reg.host + "/acme/api", want: len(all) / 2, only: reg.host + "/acme/api"},
		{name: "one repository with a tag", repository: reg.host + "/acme/api:1.0.0", want: len(all) / 2, only: reg.host + "/acme/api"},
		{name: "unknown repository", repository: reg.host + "/acme/none"},
		{name: "stopped", stopAfter: 2, want: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []Entry
			err := r.Entries(context.Background(), tc.repository, func(e Entry) bool {
				got = append(got, e)
				return tc.stopAfter == 0 || len(got) < tc.stopAfter
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.want {
				t.Fatalf("%d entries, want %d: %+v", len(got), tc.want, got)
			}
			if !sort.SliceIsSorted(got, func(i, j int) bool { return got[i].Repository < got[j].Repository }) {
				t.Errorf("not in repository order: %+v", got)
			}
			for _, e := range got {
				if tc.only != "" && e.Repository != tc.only {
					t.Errorf("entry of %s listed for %s", e.Repository, tc.repository)
				}
			}
		})
	}
}
