package resolve

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func TestPullerCacheKeepsTheMostRecentlyUsed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		max    int
		asks   []string // repositories, in order
		builds int      // Pullers made
		kept   int
	}{
		{name: "one repository asked again", max: 2, asks: []string{"a", "a", "a"}, builds: 1, kept: 1},
		{name: "within the bound", max: 2, asks: []string{"a", "b", "a", "b"}, builds: 2, kept: 2},
		{name: "past the bound the least recently used goes", max: 2, asks: []string{"a", "b", "a", "c", "a", "b"}, builds: 4, kept: 2},
		{name: "every repository once", max: 3, asks: []string{"a", "b", "c", "d", "e", "f"}, builds: 6, kept: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newPullerCache(tc.max)
			builds := 0
			for _, repo := range tc.asks {
				_, err := c.get(pullerKey{cred: "-", repository: repo}, func() (*remote.Puller, error) {
					builds++
					return remote.NewPuller()
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			if builds != tc.builds || c.len() != tc.kept {
				t.Fatalf("built %d, kept %d; want %d and %d", builds, c.len(), tc.builds, tc.kept)
			}
		})
	}
}
