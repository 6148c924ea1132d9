package resolve

import (
	"container/list"
	"sync"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/argocd-image-resolver/argocd-image-resolver/egress"
)

// maxPullers bounds the registry sessions the client keeps. A
// go-containerregistry Puller keeps, for every repository it ever served,
// a fetcher with its authenticated transport, and never lets go of it; the
// client therefore keeps one Puller per policy, credential and repository
// and drops the least recently used past this bound. A dropped session
// costs a ping and, with credentials, a token exchange the next time its
// repository is asked, which happens at most once per cache TTL.
const maxPullers = 256

// pullerKey names one registry session: the egress policy and credential
// it uses and the repository it serves.
type pullerKey struct {
	policy     *egress.Policy
	cred       string
	repository string
}

// pullerCache keeps the most recently used Pullers.
type pullerCache struct {
	max int

	mu    sync.Mutex
	order *list.List // of *pullerItem, most recently used first
	items map[pullerKey]*list.Element
}

type pullerItem struct {
	key    pullerKey
	puller *remote.Puller
}

func newPullerCache(max int) *pullerCache {
	return &pullerCache{max: max, order: list.New(), items: map[pullerKey]*list.Element{}}
}

// get returns the Puller of key, made with build when there is none.
// Callers of one key at the same time share one Puller.
func (c *pullerCache) get(key pullerKey, build func() (*remote.Puller, error)) (*remote.Puller, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.order.MoveToFront(el)
		return el.Value.(*pullerItem).puller, nil
	}
	p, err := build()
	if err != nil {
		return nil, err
	}
	c.items[key] = c.order.PushFront(&pullerItem{key: key, puller: p})
	for c.order.Len() > c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.items, oldest.Value.(*pullerItem).key)
	}
	return p, nil
}

// len is how many sessions are kept.
func (c *pullerCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
