package resolve

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
)

// tags is the repository's tag list (tags layer).
func (m *repoMetadata) tags() ([]string, error) {
	repo := m.repo
	l, err := m.r.cache.get(m.ctx, m.slot(LayerTags, repo.Name()), func(ctx context.Context) (any, string, error) {
		start := time.Now()
		tags, err := m.r.client.listTags(ctx, repo, m.access)
		if err != nil {
			return nil, "", m.r.registryFailure("list tags", repo, err)
		}
		m.r.log.Debug("listed tags", "repository", repo.Name(), "tags", len(tags), "duration", time.Since(start))
		return tags, fmt.Sprintf("%d tags", len(tags)), nil
	})
	if err != nil {
		return nil, err
	}
	m.trace.record(l)
	return append([]string(nil), l.value.([]string)...), nil
}

// repoMetadata implements Metadata for one spec's repository through the
// cache layers.
type repoMetadata struct {
	ctx    context.Context
	r      *Resolver
	repo   name.Repository
	spec   Spec
	access access
	trace  *trace
	cred   string
	gen    generation
}

func (m *repoMetadata) slot(layerName, key string) slot {
	return m.r.cache.slot(layerName, key, m.repo.Name(), m.cred, m.gen)
}

// Digest is the manifest digest of tag (a HEAD request, tag -> digest layer).
func (m *repoMetadata) Digest(tag string) (string, error) {
	ref := m.repo.Tag(tag)
	l, err := m.r.cache.get(m.ctx, m.slot(LayerDigest, ref.Name()), func(ctx context.Context) (any, string, error) {
		d, err := m.r.client.headDigest(ctx, ref, m.access)
		if err != nil {
			return nil, "", m.r.registryFailure("get digest of tag "+tag, m.repo, err)
		}
		if err := m.r.cache.sawDigest(ctx, m.repo.Name(), d); err != nil {
			m.r.log.Debug("first-seen time of a digest not recorded", "repository", m.repo.Name(), "digest", d, "error", err)
		}
		return d, d, nil
	})
	if err != nil {
		return "", err
	}
	m.trace.record(l)
	return l.value.(string), nil
}

func (m *repoMetadata) info(tag string) (imageInfo, error) {
	digest, err := m.Digest(tag)
	if err != nil {
		return imageInfo{}, err
	}
	ref := m.repo.Digest(digest)
	l, err := m.r.cache.get(m.ctx, m.slot(LayerConfig, ref.Name()), func(ctx context.Context) (any, string, error) {
		info, err := m.r.client.imageInfo(ctx, ref, m.access)
		if err != nil {
			return nil, "", m.r.registryFailure("read image config of tag "+tag, m.repo, err)
		}
		return info, info.summary(), nil
	})
	if err != nil {
		return imageInfo{}, err
	}
	m.trace.record(l)
	return l.value.(imageInfo), nil
}

// Created is the newest image config `created` among the platforms the spec
// allows (all platforms when it names none).
func (m *repoMetadata) Created(tag string) (time.Time, error) {
	info, err := m.info(tag)
	if err != nil {
		return time.Time{}, err
	}
	var newest time.Time
	found := false
	for _, p := range info.Platforms {
		if !m.allowed(p.Platform) {
			continue
		}
		found = true
		if p.Created.After(newest) {
			newest = p.Created
		}
	}
	if !found {
		return time.Time{}, fmt.Errorf("tag %s has no image for platforms %s", tag, strings.Join(m.spec.Options.Platforms, ","))
	}
	return newest, nil
}

// Platforms lists the platforms tag provides.
func (m *repoMetadata) Platforms(tag string) ([]string, error) {
	info, err := m.info(tag)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(info.Platforms))
	for _, p := range info.Platforms {
		out = append(out, p.Platform)
	}
	return out, nil
}

func (m *repoMetadata) allowed(platform string) bool {
	if len(m.spec.Options.Platforms) == 0 {
		return true
	}
	for _, want := range m.spec.Options.Platforms {
		if platformMatches(want, platform) {
			return true
		}
	}
	return false
}
