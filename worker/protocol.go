package worker

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"

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
)

// Frame size limits. A request holds a render request (inline values and
// parameters included); an answer's limit is set by the pool from the
// output cap.
const maxRequestFrame = 64 << 20

// request is one message from the pool to a worker.
type request struct {
	Op      string          `json:"op"`
	Request *render.Request `json:"request,omitempty"`
	Images  []render.Image  `json:"images,omitempty"`
	// Memory: the repository is in memory; Files are those of its files
	// the render needs (the chart's are left out when the worker holds
	// Request.ChartKey in its chart cache).
	Memory bool              `json:"memory,omitempty"`
	Files  map[string][]byte `json:"files,omitempty"`
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
}

// writeFrame writes v as one frame: its JSON length as 4 big-endian bytes,
// then the JSON.
func writeFrame(w io.Writer, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if uint64(len(body)) > uint64(^uint32(0)) {
		return fmt.Errorf("frame of %d bytes is too large", len(body))
	}
	buf := make([]byte, 4, 4+len(body))
	binary.BigEndian.PutUint32(buf, uint32(len(body)))
	_, err = w.Write(append(buf, body...))
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
