package plugin

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/argocd-image-resolver/argocd-image-resolver/rewrite"
)

func TestLoadImageFields(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "fields.yaml")
	if err := os.WriteFile(good, []byte("images:\n- path: spec/template/spec/containers[]/image\n  kind: Rollout\n  group: argoproj.io\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fields, err := loadImageFields(good)
	if err != nil || len(fields) != 1 || fields[0].Kind != "Rollout" {
		t.Fatalf("loadImageFields = %+v, %v", fields, err)
	}
	if fields, err := loadImageFields(""); err != nil || fields != nil {
		t.Errorf("no file: %v, %v", fields, err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("images:\n- path: spec/image\n  knd: Foo\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = loadImageFields(bad)
	var ie *ImageFieldsError
	var fe *rewrite.FieldsError
	if !errors.As(err, &ie) || !errors.As(err, &fe) || fe.Line != 3 || !strings.Contains(err.Error(), bad) {
		t.Errorf("err = %v, want an ImageFieldsError naming the file and line 3", err)
	}
	if _, err := loadImageFields(filepath.Join(dir, "missing.yaml")); !errors.As(err, &ie) {
		t.Errorf("missing file: err = %v", err)
	}
}
