package cmp

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/argocd-image-resolver/argocd-image-resolver/test/tartest"
)

func errorsAs(err error, target any) bool { return errors.As(err, target) }

// TestExtract checks the wiring to package untar (which holds the rules
// and their tests): a good tree lands, a hostile one is ErrUnsafeArchive.
func TestExtract(t *testing.T) {
	dir := t.TempDir()
	if err := Extract(bytes.NewReader(tartest.Tgz(t, chartEntries()...)), dir, Limits{MaxFiles: 10, MaxBytes: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "apps", "web", "Chart.yaml")); err != nil {
		t.Fatal(err)
	}
	err := Extract(bytes.NewReader(tartest.Tgz(t, tartest.Entry{Hdr: fifoHeader("p")})), t.TempDir(), Limits{})
	if !errors.Is(err, ErrUnsafeArchive) {
		t.Fatalf("fifo: %v, want ErrUnsafeArchive", err)
	}
}
