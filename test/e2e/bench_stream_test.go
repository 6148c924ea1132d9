package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/argoproj/argo-cd/v3/util/io/files"

	"github.com/argocd-image-resolver/argocd-image-resolver/examples"
	"github.com/argocd-image-resolver/argocd-image-resolver/untar"
)

// BenchmarkRepositoryStream splits the cost of the repository stream that
// BenchmarkRepoServerPluginVsHelm measures as a whole: the repo-server's
// side (Argo CD's own files.Tgz, which its CMP client runs on every render
// of a plugin source) and the sidecar's side (untar.ExtractMemory, what
// serve does with the stream), for the example chart with 0, 300 and 3000
// other files beside it.
//
//	go test ./test/e2e/ -run '^$' -bench RepositoryStream
func BenchmarkRepositoryStream(b *testing.B) {
	for _, others := range []int{0, 300, 3000} {
		root := b.TempDir()
		if _, err := examples.WriteChart(filepath.Join(root, "examples")); err != nil {
			b.Fatal(err)
		}
		for i := range others {
			p := filepath.Join(root, "apps", fmt.Sprintf("app-%03d", i/10), fmt.Sprintf("file-%d.yaml", i))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(p, fmt.Appendf(nil, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d\n", i), 0o644); err != nil {
				b.Fatal(err)
			}
		}
		var tgz bytes.Buffer
		if _, err := files.Tgz(root, nil, nil, &tgz); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("files=%d/repo-server-tgz", others), func(b *testing.B) {
			for b.Loop() {
				if _, err := files.Tgz(root, nil, nil, &bytes.Buffer{}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("files=%d/sidecar-extract", others), func(b *testing.B) {
			for b.Loop() {
				if _, err := untar.ExtractMemory(bytes.NewReader(tgz.Bytes()), untar.Limits{MaxFiles: 100000, MaxBytes: 1 << 30}, 64<<20); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
