package worker

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/argocd-image-resolver/argocd-image-resolver/cmp"
)

// TestRequestFilesFollowTheFrame: the files of a request cross as they
// are (binary, empty, any number), after a frame that lists them, and a
// request cut short in its files is an error, not a request.
func TestRequestFilesFollowTheFrame(t *testing.T) {
	files := map[string][]byte{"a/bin": {0xff, 0x00, 0xfe}, "a/empty": {}, "b.yaml": []byte("x: 1\n"), "big": bytes.Repeat([]byte("z"), 1<<20)}
	var buf bytes.Buffer
	for _, req := range []request{
		{Op: opKustomize, Kustomize: &cmp.KustomizeBuild{Path: "a"}, Memory: true, Files: files},
		{Op: opRelease},
	} {
		body, data, err := encodeRequest(req)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(body, []byte("zzzz")) {
			t.Fatal("the files are in the frame")
		}
		if err := writeRequest(&buf, body, data); err != nil {
			t.Fatal(err)
		}
	}
	wire := buf.Len()
	var got request
	if err := readRequest(&buf, &got); err != nil {
		t.Fatal(err)
	}
	if got.Op != opKustomize || got.Kustomize.Path != "a" || len(got.Files) != len(files) || got.Attached != nil {
		t.Fatalf("got %+v", got)
	}
	for name, want := range files {
		if !bytes.Equal(got.Files[name], want) {
			t.Fatalf("%s: %q, want %q", name, got.Files[name], want)
		}
	}
	var release request
	if err := readRequest(&buf, &release); err != nil || release.Op != opRelease || release.Files != nil {
		t.Fatalf("the next request: %+v %v", release, err)
	}
	if err := readRequest(&buf, &release); !errors.Is(err, io.EOF) {
		t.Fatalf("at the end: %v, want io.EOF", err)
	}

	body, data, _ := encodeRequest(request{Op: opKustomize, Memory: true, Files: files})
	buf.Reset()
	if err := writeRequest(&buf, body, data); err != nil {
		t.Fatal(err)
	}
	cut := bytes.NewReader(buf.Bytes()[:buf.Len()-1])
	if err := readRequest(cut, &got); !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), "big") {
		t.Fatalf("a request cut short: %v (of %d bytes)", err, wire)
	}
}
