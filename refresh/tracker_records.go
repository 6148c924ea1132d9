package refresh

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
	"github.com/argocd-image-resolver/argocd-image-resolver/store"
)

// Store layout of the values records share (under the store's own
// prefix). Many Applications render the same specs (one chart deployed to
// many clusters, a sidecar every chart has) and so the same versions: a
// record names them by the hash of their content, and each is kept once.
const (
	keySpec     = "spec|" // spec|<hash> -> resolve.Spec
	keyRendered = "rend|" // rend|<hash> -> renderedImage
	// recordVersion 2 names specs and rendered images by hash; version 1
	// held them inline and is still read (legacyRecord), so that an
	// upgrade forgets no Application until it renders again.
	recordVersion       = 2
	legacyRecordVersion = 1
	sharedValueVersion  = 1
	// recordChunk is how many records one store call reads.
	recordChunk = 256
)

// record is what the store keeps per Application: the specs of its last
// render and what they resolved to, as keys of shared values, and per
// alias what is the Application's own (since when it renders its digest,
// which candidates a gate held back). Written by whichever replica
// rendered.
type record struct {
	App        App       `json:"app"`
	Specs      []string  `json:"specs"`
	Rendered   []string  `json:"rendered"`
	RenderedAt time.Time `json:"renderedAt"`
	// Images is the per-alias state; ImagesKept says the writer keeps it
	// (a record of an older sidecar has neither, and its successor
	// records no change against it: history.go).
	Images     map[string]imageState `json:"images,omitempty"`
	ImagesKept bool                  `json:"imagesKept,omitempty"`
}

// imageState is what a record keeps of one alias for the history and the
// follow source: the version rendered, since when the Application renders
// its digest, what it rendered before that, and the candidates a gate held
// back ("<gate> <tag>@<digest>", see heldKey).
type imageState struct {
	Tag    string      `json:"tag,omitempty"`
	Digest string      `json:"digest,omitempty"`
	Since  time.Time   `json:"since,omitzero"`
	Prev   *priorImage `json:"prev,omitempty"`
	Held   []string    `json:"held,omitempty"`
}

// priorImage is the version an alias rendered before its current digest,
// and since when it rendered that one.
type priorImage struct {
	Tag    string    `json:"tag,omitempty"`
	Digest string    `json:"digest,omitempty"`
	Since  time.Time `json:"since,omitzero"`
}

// legacyRecord is a record of version 1, written by older sidecars.
type legacyRecord struct {
	App        App              `json:"app"`
	Specs      []resolve.Spec   `json:"specs"`
	Rendered   []resolve.Result `json:"rendered"`
	RenderedAt time.Time        `json:"renderedAt"`
}

// renderedImage is what the tracker keeps of a result: what Diff compares
// and /debug/apps shows. Where the answer came from and when are left
// out, so that every Application that rendered the same version of a spec
// shares one value, and a re-resolution that changed nothing writes
// nothing new.
type renderedImage struct {
	Alias    string `json:"alias"`
	Image    string `json:"image"`
	Strategy string `json:"strategy,omitempty"`
	Tag      string `json:"tag,omitempty"`
	Digest   string `json:"digest,omitempty"`
	Pinned   bool   `json:"pinned,omitempty"`
	Paused   bool   `json:"paused,omitempty"`
}

func renderedOf(r resolve.Result) renderedImage {
	return renderedImage{Alias: r.Alias, Image: r.Image, Strategy: r.Strategy, Tag: r.Tag, Digest: r.Digest, Pinned: r.Pinned, Paused: r.Paused}
}

func (i renderedImage) result() resolve.Result {
	return resolve.Result{Alias: i.Alias, Image: i.Image, Strategy: i.Strategy, Tag: i.Tag, Digest: i.Digest, Pinned: i.Pinned, Paused: i.Paused}
}

// tracked is one Application's record with its shared values read.
type tracked struct {
	app        App
	specs      []resolve.Spec
	rendered   []resolve.Result
	renderedAt time.Time
	// images is the per-alias state (nil in records of older sidecars).
	images map[string]imageState
}

// recordCodecs are the typed views of the tracker's records and shared
// values.
type recordCodecs struct {
	records  store.Typed[record]
	legacy   store.Typed[legacyRecord]
	specs    store.Typed[resolve.Spec]
	rendered store.Typed[renderedImage]
}

func newRecordCodecs(s store.Store) recordCodecs {
	return recordCodecs{
		records:  store.NewTyped[record](s, keyApp, recordVersion),
		legacy:   store.NewTyped[legacyRecord](s, keyApp, legacyRecordVersion),
		specs:    store.NewTyped[resolve.Spec](s, keySpec, sharedValueVersion),
		rendered: store.NewTyped[renderedImage](s, keyRendered, sharedValueVersion),
	}
}

// shared is one value to write under its content hash.
type shared struct {
	key   string // full store key
	value []byte
}

// intern returns the hash v is kept under and adds it to writes (once).
func intern[T any](typed store.Typed[T], v T, writes map[string]shared) (string, error) {
	b, err := typed.Encode(v)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	hash := hex.EncodeToString(sum[:12])
	if k := typed.Key(hash); writes[k].key == "" {
		writes[k] = shared{key: k, value: b}
	}
	return hash, nil
}

// exists reports whether b is a record of either version.
func (c recordCodecs) exists(b []byte) bool {
	if _, ok := c.records.Decode(b); ok {
		return true
	}
	_, ok := c.legacy.Decode(b)
	return ok
}

// read reads the records of keys (found ones only) with the values they
// share: two store calls per chunk of records, each shared value decoded
// once and shared by the Applications read together. A record whose
// shared values are gone (a store that evicts) reads as absent until the
// Application renders again.
func (c recordCodecs) read(ctx context.Context, s store.Store, keys []string) (map[string]tracked, error) {
	out := make(map[string]tracked, len(keys))
	for start := 0; start < len(keys); start += recordChunk {
		part := keys[start:min(start+recordChunk, len(keys))]
		full := make([]string, len(part))
		for i, k := range part {
			full[i] = c.records.Key(k)
		}
		vals, err := s.Get(ctx, full...)
		if err != nil {
			return out, err
		}
		if err := c.expand(ctx, s, part, vals, out); err != nil {
			return out, err
		}
	}
	return out, nil
}

// expand decodes raw records (vals[i] is the record of keys[i]) into out,
// reading the values they share in one store call.
func (c recordCodecs) expand(ctx context.Context, s store.Store, keys []string, vals [][]byte, out map[string]tracked) error {
	recs := make(map[string]record, len(keys))
	need := map[string]bool{}
	for i, b := range vals {
		if rec, ok := c.records.Decode(b); ok {
			recs[keys[i]] = rec
			for _, h := range rec.Specs {
				need[c.specs.Key(h)] = true
			}
			for _, h := range rec.Rendered {
				need[c.rendered.Key(h)] = true
			}
			continue
		}
		if old, ok := c.legacy.Decode(b); ok {
			out[keys[i]] = tracked{app: old.App, specs: old.Specs, rendered: old.Rendered, renderedAt: old.RenderedAt}
		}
	}
	if len(recs) == 0 {
		return nil
	}
	sharedKeys := make([]string, 0, len(need))
	for k := range need {
		sharedKeys = append(sharedKeys, k)
	}
	raw, err := s.Get(ctx, sharedKeys...)
	if err != nil {
		return err
	}
	specs := map[string]resolve.Spec{}
	images := map[string]resolve.Result{}
	for i, k := range sharedKeys {
		if strings.HasPrefix(k, keySpec) {
			if v, ok := c.specs.Decode(raw[i]); ok {
				specs[k] = v
			}
		} else if v, ok := c.rendered.Decode(raw[i]); ok {
			images[k] = v.result()
		}
	}
	for key, rec := range recs {
		tr := tracked{app: rec.App, renderedAt: rec.RenderedAt, images: rec.Images,
			specs: make([]resolve.Spec, 0, len(rec.Specs)), rendered: make([]resolve.Result, 0, len(rec.Rendered))}
		complete := true
		for _, h := range rec.Specs {
			v, ok := specs[c.specs.Key(h)]
			complete = complete && ok
			tr.specs = append(tr.specs, v)
		}
		for _, h := range rec.Rendered {
			v, ok := images[c.rendered.Key(h)]
			complete = complete && ok
			tr.rendered = append(tr.rendered, v)
		}
		if complete {
			out[key] = tr
		}
	}
	return nil
}
