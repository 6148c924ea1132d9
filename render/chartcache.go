package render

import (
	"container/list"
	"sync"
	"sync/atomic"

	"helm.sh/helm/v3/pkg/chart"
)

// DefaultChartCacheSize is how many loaded charts a ChartCache keeps.
const DefaultChartCacheSize = 64

// ChartCache keeps loaded charts by the content of their files (ChartKey),
// least recently used first out, so that many Applications sharing one
// chart (a hard-refresh storm) load it once. Renders get their own copy.
type ChartCache struct {
	size int

	mu    sync.Mutex
	order *list.List // of *cachedChart, most recent at the front
	byKey map[string]*list.Element

	loads atomic.Int64
}

type cachedChart struct {
	key   string
	chart *chart.Chart
}

// NewChartCache returns a cache of size charts (DefaultChartCacheSize when
// not positive).
func NewChartCache(size int) *ChartCache {
	if size <= 0 {
		size = DefaultChartCacheSize
	}
	return &ChartCache{size: size, order: list.New(), byKey: map[string]*list.Element{}}
}

// Loads is how many charts were loaded because the cache did not hold them.
func (c *ChartCache) Loads() int64 { return c.loads.Load() }

func (c *ChartCache) get(key string) *chart.Chart {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[key]
	if !ok {
		c.loads.Add(1)
		return nil
	}
	c.order.MoveToFront(el)
	return cloneChartTree(el.Value.(*cachedChart).chart)
}

func (c *ChartCache) put(key string, ch *chart.Chart) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[key]; ok {
		c.order.MoveToFront(el)
		return
	}
	c.byKey[key] = c.order.PushFront(&cachedChart{key: key, chart: cloneChartTree(ch)})
	for c.order.Len() > c.size {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byKey, last.Value.(*cachedChart).key)
	}
}
