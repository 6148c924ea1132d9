package refresh

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
)

// Git no longer records which version of an image an Application ran
// when, so the tracker does: every change of an alias's resolution, and
// every newer candidate a gate refused, becomes a HistoryEntry of that
// Application, kept in the store beside its record, so that every replica
// sees it (Tracker.ImageHistory, /debug/apps?history=true).
//
// Changes are found in Tracker.Record by comparing a render with the
// previous record of the Application read from the store. Several
// replicas may render one Application at once and find the same change
// against the same previous record; an entry is written only by the one
// whose set-if-absent of the entry's change key (the Application, the
// previous record's render time, the alias and the change) succeeds, so
// each change is written, and announced as a Kubernetes Event
// (events.go), once. A replica that read a newer record finds no change.

// History entry kinds.
const (
	// HistoryResolved: the alias renders another version (or its first).
	HistoryResolved = "resolved"
	// HistoryHeldBack: a gate refused a newer candidate that the previous
	// render did not hold back.
	HistoryHeldBack = "held-back"
)

// Store layout of the per-Application history (under the store's own
// prefix).
const (
	keyAppHistory = "ahist|" // ahist|<namespace>/<name> -> capped list of HistoryEntry
	keyChangeSeen = "hseen|" // hseen|<hash of a change>: written by the replica that records it
	// appHistoryTTL outlives the record (recordTTL): a list's lifetime is
	// renewed only when an entry is added, and an Application that has
	// run one version for weeks still shows when it got it.
	appHistoryTTL     = 30 * 24 * time.Hour
	appHistoryVersion = 1
	// changeSeenTTL covers the time between reading the previous record
	// and writing the new one, with a wide margin.
	changeSeenTTL = 10 * time.Minute
	// DefaultAppHistorySize is how many entries one Application keeps.
	DefaultAppHistorySize = 50
	// maxReasonLen bounds a held-back reason in entries and Events.
	maxReasonLen = 512
)

// HistoryEntry is one change of an Application's images: an alias that
// renders another version (Kind HistoryResolved), or a newer candidate a
// gate refused (Kind HistoryHeldBack). It holds names, versions and
// reasons, never a credential.
type HistoryEntry struct {
	Time  time.Time `json:"time"`
	Kind  string    `json:"kind"`
	Alias string    `json:"alias"`
	Image string    `json:"image"`
	// FromTag and FromDigest are the version rendered before (resolved
	// entries); both empty for the first resolution.
	FromTag    string `json:"fromTag,omitempty"`
	FromDigest string `json:"fromDigest,omitempty"`
	// Tag and Digest are the new version (resolved) or the refused
	// candidate (held back).
	Tag    string `json:"tag,omitempty"`
	Digest string `json:"digest,omitempty"`
	// Rule is what decided the tag and Gates the gates that accepted it
	// (resolved entries).
	Rule  string   `json:"rule,omitempty"`
	Gates []string `json:"gates,omitempty"`
	// Gate refused the candidate, for Reason; a min-age gate accepts it
	// at EligibleAt (held-back entries).
	Gate       string    `json:"gate,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	EligibleAt time.Time `json:"eligibleAt,omitzero"`
}

// First reports whether a resolved entry is the alias's first resolution.
func (e HistoryEntry) First() bool {
	return e.Kind == HistoryResolved && e.FromTag == "" && e.FromDigest == ""
}

// Message says the entry for people, as the Kubernetes Event does:
//
//	web: 1.2.3 → 1.3.0 (semver "^1.2"; verify ci-key)
//	web: 1.3.0, first resolution (semver "^1.2")
//	web: 1.4.0 held back: first seen 2h ago; min-age 24h
func (e HistoryEntry) Message() string {
	msg := e.Alias + ": " + e.Change()
	why := e.Why()
	switch {
	case why == "":
	case e.Kind == HistoryHeldBack:
		msg += ": " + why
	default:
		msg += " (" + why + ")"
	}
	return msg
}

// Change is what happened to the alias: "1.2.3 → 1.3.0", "1.3.0, first
// resolution", "1.4.0 held back" (by its gate, when there is no reason).
func (e HistoryEntry) Change() string {
	switch {
	case e.Kind == HistoryHeldBack:
		held := entryVersion(e.Tag, e.Digest, false) + " held back"
		if e.Reason == "" && e.Gate != "" {
			held += " by " + e.Gate
		}
		return held
	case e.First():
		return entryVersion(e.Tag, e.Digest, false) + ", first resolution"
	}
	// Equal tags (a moved tag followed by digest) show the digests, which
	// are what changed.
	digests := e.FromTag == e.Tag || e.Tag == ""
	return entryVersion(e.FromTag, e.FromDigest, digests) + " → " + entryVersion(e.Tag, e.Digest, digests)
}

// Why is the rule and gates of a resolved entry ("semver \"^1.2\"; verify
// ci-key"), the reason of a held-back one.
func (e HistoryEntry) Why() string {
	if e.Kind == HistoryHeldBack {
		return e.Reason
	}
	parts := make([]string, 0, 1+len(e.Gates))
	if e.Rule != "" {
		parts = append(parts, e.Rule)
	}
	parts = append(parts, e.Gates...)
	return strings.Join(parts, "; ")
}

// entryVersion prints tag (or the short digest when there is no tag), with the
// short digest when withDigest is set.
func entryVersion(tag, digest string, withDigest bool) string {
	switch {
	case tag == "" && digest == "":
		return "(none)"
	case tag == "":
		return shortDigest(digest)
	case withDigest && digest != "":
		return tag + "@" + shortDigest(digest)
	}
	return tag
}

func shortDigest(d string) string {
	if algo, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
		return algo + ":" + hex[:12]
	}
	return d
}

// heldKey names a held-back candidate in a record: the gate and the
// version, not the reason (whose "first seen 2h ago" moves).
func heldKey(h resolve.Held) string { return h.Gate + " " + h.Tag + "@" + h.Digest }

// sameDigest reports whether two versions are the same image: their
// digests when both are known, otherwise tag and digest.
func sameDigest(a imageState, tag, digest string) bool {
	if a.Digest != "" && digest != "" {
		return a.Digest == digest
	}
	return a.Tag == tag && a.Digest == digest
}

// imageChanges compares a render's results with the previous record of
// the Application and returns the new per-alias state and the history
// entries. prev is nil when the Application has no record (its first
// render: first resolutions); a record of an older sidecar (!ImagesKept)
// is a baseline that yields no entries. Paused results keep the previous
// state of their alias.
func imageChanges(prev *record, results []resolve.Result, now time.Time) (map[string]imageState, []HistoryEntry) {
	states := make(map[string]imageState, len(results))
	var entries []HistoryEntry
	compare := prev == nil || prev.ImagesKept
	for _, r := range results {
		old, had := imageState{}, false
		if prev != nil {
			old, had = prev.Images[r.Alias]
		}
		if r.Paused || (r.Tag == "" && r.Digest == "") {
			if had {
				states[r.Alias] = old
			}
			continue
		}
		st := imageState{Tag: r.Tag, Digest: r.Digest, Since: now}
		switch {
		case had && sameDigest(old, r.Tag, r.Digest):
			st.Prev = old.Prev
			if !old.Since.IsZero() {
				st.Since = old.Since
			}
		case had:
			st.Prev = &priorImage{Tag: old.Tag, Digest: old.Digest, Since: old.Since}
		}
		for _, h := range r.HeldBack {
			st.Held = append(st.Held, heldKey(h))
		}
		states[r.Alias] = st
		if !compare {
			continue
		}
		if !had || old.Tag != r.Tag || old.Digest != r.Digest {
			entries = append(entries, HistoryEntry{
				Time: now, Kind: HistoryResolved, Alias: r.Alias, Image: r.Image,
				FromTag: old.Tag, FromDigest: old.Digest, Tag: r.Tag, Digest: r.Digest,
				Rule: r.Rule, Gates: slices.Clone(r.Gates),
			})
		}
		for _, h := range r.HeldBack {
			if had && slices.Contains(old.Held, heldKey(h)) {
				continue
			}
			entries = append(entries, HistoryEntry{
				Time: now, Kind: HistoryHeldBack, Alias: r.Alias, Image: r.Image,
				Tag: h.Tag, Digest: h.Digest, Gate: h.Gate, Reason: cleanReason(h.Reason), EligibleAt: h.EligibleAt,
			})
		}
	}
	return states, entries
}

// userInfo matches the user info of a URL ("https://user:token@host").
var userInfo = regexp.MustCompile(`(?i)([a-z][a-z0-9+.-]*://)[^/@\s]+@`)

// cleanReason bounds a reason and drops any user info of a URL in it: the
// resolver's reasons carry none, and entries and Events must not either.
func cleanReason(s string) string {
	return truncate(userInfo.ReplaceAllString(s, "$1"), maxReasonLen)
}

// changeKey is the set-if-absent key of one entry found against the
// previous record rendered at prevAt (zero: none): replicas that find the
// same change against the same record compute the same key.
func changeKey(app string, prevAt time.Time, e HistoryEntry) string {
	h := sha256.New()
	for _, part := range []string{app, strconv.FormatInt(prevAt.UnixNano(), 10), e.Kind, e.Alias,
		e.FromTag, e.FromDigest, e.Tag, e.Digest, e.Gate} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return keyChangeSeen + hex.EncodeToString(h.Sum(nil)[:16])
}

// recordHistory writes the entries found against the previous record
// rendered at prevAt that no other replica has written, and returns them.
func (t *Tracker) recordHistory(ctx context.Context, app App, prevAt time.Time, entries []HistoryEntry) []HistoryEntry {
	var won []HistoryEntry
	for _, e := range entries {
		first, err := t.store.SetNX(ctx, changeKey(app.Key(), prevAt, e), []byte("1"), changeSeenTTL)
		if err != nil {
			t.failed("history", err)
			continue
		}
		if !first {
			continue
		}
		b, err := t.appHistory.Encode(e)
		if err != nil {
			t.failed("history", err)
			continue
		}
		if err := t.store.Append(ctx, keyAppHistory+app.Key(), b, t.maxAppHistory, appHistoryTTL); err != nil {
			t.failed("history", err)
			continue
		}
		won = append(won, e)
	}
	return won
}

// ImageHistory returns the history of the Application with key
// ("<namespace>/<name>"), newest first: at most the last
// WithAppHistorySize entries, for 30 days after the last one. Entries of
// one render (which replicas may have appended in either order) are
// listed by alias, a version change before the candidates held back.
func (t *Tracker) ImageHistory(ctx context.Context, key string) ([]HistoryEntry, error) {
	raw, err := t.store.Range(ctx, keyAppHistory+key)
	if err != nil {
		return nil, err
	}
	out := make([]HistoryEntry, 0, len(raw))
	for i := len(raw) - 1; i >= 0; i-- {
		if e, ok := t.appHistory.Decode(raw[i]); ok {
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(a, b HistoryEntry) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		if c := strings.Compare(a.Alias, b.Alias); c != 0 {
			return c
		}
		return kindOrder(a.Kind) - kindOrder(b.Kind)
	})
	return out, nil
}

func kindOrder(kind string) int {
	if kind == HistoryResolved {
		return 0
	}
	return 1
}
