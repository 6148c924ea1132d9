package worker

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/argocd-image-resolver/argocd-image-resolver/cmp"
	"github.com/argocd-image-resolver/argocd-image-resolver/render"
)

// Operations a worker performs.
const (
	// opPrepare loads a chart and merges its values; the answer holds
	// the pins. The worker keeps the loaded chart for opRender.
	opPrepare = "prepare"
	// opRender renders the chart opPrepare loaded, once.
	opRender = "render"
	// opRelease drops the loaded chart; it has no answer.
	opRelease = "release"
	// opKustomize runs one Kustomize build over the repository sent
	// along (or on disk); the answer holds the built documents.
	opKustomize = "kustomize"
)

// Frame size limits. A request frame holds a render request (inline
// values and parameters included) and the names and sizes of the files
// that follow it; an answer's limit is set by the pool from the output
// cap.
const maxRequestFrame = 64 << 20

// maxAttached bounds the files that follow one request. The pool sends at
// most a repository held in memory (the server's in-memory budget,
// cmp.DefaultMaxMemoryRepo by default); this only catches a corrupt
// stream: a worker's memory limit is what stops a repository too large
// for it.
const maxAttached int64 = 4 << 30

// request is one message from the pool to a worker.
type request struct {
	Op      string          `json:"op"`
	Request *render.Request `json:"request,omitempty"`
	Images  []render.Image  `json:"images,omitempty"`
	// Memory: the repository is in memory; Files are those of its files
	// the render needs (the chart's are left out when the worker holds
	// Request.ChartKey in its chart cache), all of them for a Kustomize
	// build. They follow the frame as they are, in the order Attached
	// lists them, rather than in its JSON: base64 would make them 4/3 as
	// large, and both sides would hold them twice.
	Memory   bool              `json:"memory,omitempty"`
	Files    map[string][]byte `json:"-"`
	Attached []attachment      `json:"attached,omitempty"`
	// Kustomize is the build of opKustomize, over the files (Memory) or
	// the repository on disk at Root.
	Kustomize *cmp.KustomizeBuild `json:"kustomize,omitempty"`
	Root      string              `json:"root,omitempty"`
}

// attachment is a file that follows a request frame: its name and size.
type attachment struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// encodeRequest is the frame of req, which lists its files, and the files'
// contents in that order.
func encodeRequest(req request) (body []byte, files [][]byte, err error) {
	names := slices.Sorted(maps.Keys(req.Files))
	req.Attached = nil
	files = make([][]byte, 0, len(names))
	for _, name := range names {
		req.Attached = append(req.Attached, attachment{Name: name, Size: int64(len(req.Files[name]))})
		files = append(files, req.Files[name])
	}
	body, err = json.Marshal(req)
	return body, files, err
}

// writeRequest writes an encoded request: its frame, then its files.
func writeRequest(w io.Writer, body []byte, files [][]byte) error {
	if err := writeBody(w, body); err != nil {
		return err
	}
	for _, f := range files {
		if _, err := w.Write(f); err != nil {
			return err
		}
	}
	return nil
}

// readRequest reads a request and the files that follow it. A clean end of
// input before a request is io.EOF.
func readRequest(r io.Reader, req *request) error {
	if err := readFrame(r, maxRequestFrame, req); err != nil {
		return err
	}
	if len(req.Attached) == 0 {
		return nil
	}
	req.Files = make(map[string][]byte, len(req.Attached))
	var total int64
	for _, a := range req.Attached {
		if a.Size < 0 || a.Size > maxAttached-total {
			return fmt.Errorf("the files of a request pass %d bytes (%q: %d)", maxAttached, a.Name, a.Size)
		}
		total += a.Size
		data := make([]byte, a.Size)
		if _, err := io.ReadFull(r, data); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("reading %q: %w", a.Name, err)
		}
		req.Files[a.Name] = data
	}
	req.Attached = nil
	return nil
}

// response is a worker's answer to opPrepare or opRender.
type response struct {
	Pins    map[string]string `json:"pins,omitempty"`
	PinsErr *wireError        `json:"pinsErr,omitempty"`
	Output  *render.Output    `json:"output,omitempty"`
	Err     *wireError        `json:"err,omitempty"`
	// ChartLoaded: the prepare loaded the chart (its cache did not hold
	// it).
	ChartLoaded bool `json:"chartLoaded,omitempty"`
	// Documents are what opKustomize built.
	Documents []string `json:"documents,omitempty"`
}

// writeFrame writes v as one frame: its JSON length as 4 big-endian bytes,
// then the JSON.
func writeFrame(w io.Writer, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return writeBody(w, body)
}

// writeBody writes the JSON body as one frame.
func writeBody(w io.Writer, body []byte) error {
	if uint64(len(body)) > uint64(^uint32(0)) {
		return fmt.Errorf("frame of %d bytes is too large", len(body))
	}
	var head [4]byte
	binary.BigEndian.PutUint32(head[:], uint32(len(body)))
	if _, err := w.Write(head[:]); err != nil {
		return err
	}
	_, err := w.Write(body)
	return err
}

// FrameTooLargeError is a frame over the reader's limit.
type FrameTooLargeError struct{ Size, Limit int64 }

func (e *FrameTooLargeError) Error() string {
	return fmt.Sprintf("a frame of %d bytes is over the %d-byte limit", e.Size, e.Limit)
}

// readFrame reads one frame of at most limit bytes into v. A clean end of
// input before a frame is io.EOF.
func readFrame(r io.Reader, limit int64, v any) error {
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return err
	}
	size := int64(binary.BigEndian.Uint32(head[:]))
	if size > limit {
		return &FrameTooLargeError{Size: size, Limit: limit}
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	return json.Unmarshal(body, v)
}
