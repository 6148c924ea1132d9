package worker

import (
	"container/list"
	"sync"

	"github.com/argocd-image-resolver/argocd-image-resolver/render"
)

// chartKeys is the pool's picture of one worker's chart cache: the keys
// of the charts it was sent, least recently used first out, with the
// worker cache's size. A prepare that meets a dropped chart is answered
// with NotCached and sent again with the files.
type chartKeys struct {
	mu    sync.Mutex
	size  int
	order *list.List
	byKey map[string]*list.Element
}

func newChartKeys() *chartKeys {
	return &chartKeys{size: render.DefaultChartCacheSize, order: list.New(), byKey: map[string]*list.Element{}}
}

func (c *chartKeys) has(key string) bool {
	if key == "" {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.byKey[key]
	return ok
}

func (c *chartKeys) touch(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[key]; ok {
		c.order.MoveToFront(el)
		return
	}
	c.byKey[key] = c.order.PushFront(key)
	for c.order.Len() > c.size {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byKey, last.Value.(string))
	}
}

func (c *chartKeys) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[key]; ok {
		c.order.Remove(el)
		delete(c.byKey, key)
	}
}
