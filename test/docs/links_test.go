package docs

import (
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

var (
	markdownLink = regexp.MustCompile(`\[[^\]]*\]\(([^)\s]+)\)`)
	heading      = regexp.MustCompile(`(?m)^#{1,6} +(.+?) *$`)
)

// anchors returns the heading anchors GitHub generates for a page:
// lowercased, punctuation dropped, spaces as hyphens, repeats numbered.
func anchors(text string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	for _, m := range heading.FindAllStringSubmatch(stripFences(text), -1) {
		var b strings.Builder
		for _, r := range strings.ToLower(m[1]) {
			switch {
			case unicode.IsLetter(r), unicode.IsDigit(r), r == '-', r == '_':
				b.WriteRune(r)
			case r == ' ':
				b.WriteByte('-')
			}
		}
		slug := b.String()
		if n := seen[slug]; n > 0 {
			out[slug+"-"+strconv.Itoa(n)] = true
		} else {
			out[slug] = true
		}
		seen[slug]++
	}
	return out
}

// stripFences blanks fenced code blocks, whose lines are not headings or
// links.
func stripFences(text string) string {
	lines := strings.Split(text, "\n")
	in := false
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimLeft(l, " "), "```") {
			in = !in
			lines[i] = ""
			continue
		}
		if in {
			lines[i] = ""
		}
	}
	return strings.Join(lines, "\n")
}

// TestLinksResolve: every relative link of every page points at a file or
// folder of the repository, and every #anchor at a heading of its page.
func TestLinksResolve(t *testing.T) {
	root := repoRoot(t)
	byPage := map[string]map[string]bool{}
	all := pages(t)
	for _, pg := range all {
		byPage[pg.rel] = anchors(pg.text)
	}
	links := 0
	for _, pg := range all {
		for _, m := range markdownLink.FindAllStringSubmatch(stripFences(pg.text), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			links++
			file, anchor, _ := strings.Cut(target, "#")
			rel := pg.rel
			if file != "" {
				rel = path.Clean(path.Join(path.Dir(pg.rel), file))
				if strings.HasPrefix(rel, "../") {
					t.Errorf("%s: link %s leaves the repository", pg.rel, target)
					continue
				}
				if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(rel))); err != nil {
					t.Errorf("%s: link %s: %v", pg.rel, target, err)
					continue
				}
			}
			if anchor == "" {
				continue
			}
			heads, ok := byPage[rel]
			if !ok {
				if !strings.HasSuffix(rel, ".md") {
					t.Errorf("%s: link %s: an anchor into a file that is not Markdown", pg.rel, target)
					continue
				}
				heads = anchors(readFile(t, rel))
				byPage[rel] = heads
			}
			if !heads[anchor] {
				t.Errorf("%s: link %s: %s has no heading with anchor #%s", pg.rel, target, rel, anchor)
			}
		}
	}
	if links < 20 {
		t.Errorf("found only %d relative links", links)
	}
}

// TestAnchors pins down the slug rule the link test relies on.
func TestAnchors(t *testing.T) {
	got := anchors("# Pins and rollback\n## Webhooks and `notify` for CI\n## registries.conf\n## Why did (or didn't) it pick this tag?\n## A\n## A\n```\n# not a heading\n```\n")
	for _, want := range []string{"pins-and-rollback", "webhooks-and-notify-for-ci", "registriesconf", "why-did-or-didnt-it-pick-this-tag", "a", "a-1"} {
		if !got[want] {
			t.Errorf("no anchor %q in %v", want, got)
		}
	}
	if got["not-a-heading"] {
		t.Error("a line in a code block counted as a heading")
	}
}
