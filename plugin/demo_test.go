package plugin

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestDemoShowsTheNewTagAfterInvalidation(t *testing.T) {
	// The demo removes everything it creates under the temp folder.
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	root := NewRootCommand()
	root.SetArgs([]string{"demo"})
	root.SetOut(&out)
	root.SetErr(&errOut)
	if err := root.ExecuteContext(ctx); err != nil {
		t.Fatalf("demo: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}
	got := out.String()

	for _, want := range []string{
		"kind: Deployment",
		"kind: Service",
		"web: 1.6.3 → 1.6.4",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("demo output lacks %q:\n%s", want, got)
		}
	}
	// The first render shows the highest ~1.6 tag from the loopback
	// registry, with the repository written into image.repository.
	if !regexp.MustCompile(`rules +registries\.conf allowed: \[127\.0\.0\.1:\d+/acme/\*\]`).MatchString(got) {
		t.Errorf("the demo does not run with rules naming its loopback registry:\n%s", got)
	}
	if !regexp.MustCompile(`image: "?127\.0\.0\.1:\d+/acme/web:1\.6\.3"?`).MatchString(got) {
		t.Errorf("no rendered image 127.0.0.1:<port>/acme/web:1.6.3 in:\n%s", got)
	}
	if !regexp.MustCompile(`image: 127\.0\.0\.1:\d+/acme/web:1\.6\.3 → 127\.0\.0\.1:\d+/acme/web:1\.6\.4`).MatchString(got) {
		t.Errorf("no image change line in:\n%s", got)
	}
	// Sources: registry, then the cache before invalidation, then the
	// registry again.
	rows := regexp.MustCompile(`(?m)^web\s+\S+\s+~1\.6\s+(\S+)\s+sha256:[0-9a-f]{12}\s+(\S+)$`).FindAllStringSubmatch(got, -1)
	if len(rows) != 3 {
		t.Fatalf("want 3 resolution rows, got %d:\n%s", len(rows), got)
	}
	wantRows := [][2]string{{"1.6.3", "registry"}, {"1.6.3", "cache"}, {"1.6.4", "registry"}}
	for i, w := range wantRows {
		if rows[i][1] != w[0] || rows[i][2] != w[1] {
			t.Errorf("resolution %d: tag %s source %s, want tag %s source %s", i+1, rows[i][1], rows[i][2], w[0], w[1])
		}
	}
	entries, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("demo left %s behind", filepath.Join(tmp, e.Name()))
	}
}

func TestDemoQuietPrintsNoManifests(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	var out bytes.Buffer
	root := NewRootCommand()
	root.SetArgs([]string{"demo", "--quiet", "--constraint", "^1", "--push", "1.8.0"})
	root.SetOut(&out)
	root.SetErr(&bytes.Buffer{})
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	got := out.String()
	if strings.Contains(got, "kind: Deployment") {
		t.Errorf("--quiet printed manifests:\n%s", got)
	}
	if !strings.Contains(got, "web: 1.7.0 → 1.8.0") {
		t.Errorf("want web: 1.7.0 → 1.8.0 in:\n%s", got)
	}
}
