package rewrite

import "testing"

func FuzzRewrite(f *testing.F) {
	f.Add(workloadDoc("batch/v1", "CronJob"), "ghcr.io/acme/web", "ghcr.io/acme/web:1.0", "spec/x[]/image")
	f.Add("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: nginx\n", "nginx", "nginx:1.27@sha256:00", "")
	f.Add("kind: Foo\nspec: {image: [a, b]}\n", "a", "b", "spec/image[]")
	f.Add("{", "", "", "[]")
	f.Fuzz(func(t *testing.T, doc, repo, ref, path string) {
		var extra []FieldSpec
		if path != "" {
			extra = []FieldSpec{{Path: path}}
		}
		imgs := []Image{{Repository: repo, Reference: ref}}
		first, err := Rewrite([]string{doc}, imgs, extra)
		if err != nil {
			return
		}
		second, err := Rewrite([]string{doc}, imgs, extra)
		if err != nil {
			t.Fatalf("second rewrite failed: %v", err)
		}
		if first.Documents[0] != second.Documents[0] || first.Written[0] != second.Written[0] {
			t.Fatalf("two rewrites of one input differ")
		}
		if first.Written[0] == 0 && first.Documents[0] != doc {
			t.Fatalf("nothing was written but the document changed:\n%q\n%q", doc, first.Documents[0])
		}
	})
}
