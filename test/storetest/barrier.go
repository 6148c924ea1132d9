// Package storetest holds store wrappers for tests of code that several
// replicas run against one store.
package storetest

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/argocd-image-resolver/argocd-image-resolver/store"
)

// ReadBarrier is a store whose next read of Key, once armed, waits until
// every store armed with it has read Key too: replicas then all compare
// with the same previous value, as replicas working at once do.
type ReadBarrier struct {
	store.Store
	Key   string
	armed atomic.Bool
	all   *sync.WaitGroup
}

// Get reads through to the store, waiting at an armed barrier.
func (b *ReadBarrier) Get(ctx context.Context, keys ...string) ([][]byte, error) {
	vals, err := b.Store.Get(ctx, keys...)
	if len(keys) == 1 && keys[0] == b.Key && b.armed.CompareAndSwap(true, false) {
		b.all.Done()
		b.all.Wait()
	}
	return vals, err
}

// Arm makes the next read of Key by each of the stores wait for the
// others.
func Arm(stores ...*ReadBarrier) {
	all := &sync.WaitGroup{}
	all.Add(len(stores))
	for _, s := range stores {
		s.all = all
		s.armed.Store(true)
	}
}
