package refresh

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
)

// resolution is the part of a spec that decides what it resolves to: the
// alias names it in one Application and the Helm value paths say where a
// render writes it, so neither counts.
func resolution(s resolve.Spec) string {
	s.Alias = ""
	s.Options.HelmImageName, s.Options.HelmImageTag, s.Options.HelmImageSpec = "", "", ""
	s.Options.HelmImageShasum, s.Options.HelmOverrideTag = "", ""
	b, _ := json.Marshal(s)
	return string(b)
}

// specCheck is one distinct resolution of a pass and the Applications
// that wait for it.
type specCheck struct {
	spec   resolve.Spec
	apps   []string
	result resolve.Result
	ok     bool
}

// appCheck is one Application of a pass.
type appCheck struct {
	snap    snapshot
	specs   []string // resolution of each spec, in order
	waiting int      // specs not resolved yet
}

// check compares the Applications with these keys against the registry
// and queues in lane those whose result changed. Every distinct spec is
// resolved once, however many Applications use it, each under its own
// deadline and several at a time; an Application is compared as soon as
// its own specs are done, so a hung registry delays only the Applications
// that use it. It returns once every spec is done.
func (r *Refresher) check(ctx context.Context, keys []string, lane string) {
	specs := map[string]*specCheck{}
	apps := map[string]*appCheck{}
	now := r.now()
	snaps := r.tracker.snapshots(ctx, keys)
	for _, k := range keys {
		s, ok := snaps[k]
		if !ok || len(s.specs) == 0 || !r.due(s, now) {
			continue
		}
		a := &appCheck{snap: s}
		seen := map[string]bool{}
		for _, sp := range s.specs {
			id := resolution(sp)
			a.specs = append(a.specs, id)
			if seen[id] {
				continue
			}
			seen[id] = true
			a.waiting++
			c, ok := specs[id]
			if !ok {
				c = &specCheck{spec: sp}
				specs[id] = c
			}
			c.apps = append(c.apps, k)
		}
		apps[k] = a
	}
	if len(specs) == 0 {
		return
	}

	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, r.checkParallel)
	for _, c := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			cctx, cancel := context.WithTimeout(ctx, r.checkTimeout)
			res, err := r.resolver.Resolve(cctx, []resolve.Spec{c.spec})
			cancel()
			<-sem
			if err != nil {
				// Resolve returns what did resolve beside the failures; an
				// image that fails is left out of the comparison, the other
				// images of its Applications still count.
				r.log.Warn("re-resolving an image failed; it is not compared this round",
					"image", c.spec.Image, "constraint", c.spec.Constraint, "applications", len(c.apps), "error", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(res) == 1 {
				c.result, c.ok = res[0], true
				r.ages.note(res[0].NextEligible())
			}
			for _, k := range c.apps {
				a := apps[k]
				if a.waiting--; a.waiting == 0 {
					r.compare(lane, a, specs)
				}
			}
		}()
	}
	wg.Wait()
}

// compare queues one Application whose specs are all done, if a result
// differs from what it rendered. Called with the pass's lock held.
func (r *Refresher) compare(lane string, a *appCheck, specs map[string]*specCheck) {
	var fresh []resolve.Result
	for i, sp := range a.snap.specs {
		c := specs[a.specs[i]]
		if !c.ok {
			continue
		}
		res := c.result
		res.Alias = sp.Alias
		fresh = append(fresh, res)
	}
	changes := Diff(a.snap.specs, a.snap.rendered, fresh)
	if len(changes) == 0 {
		return
	}
	r.enqueue(lane, work{app: a.snap.app, reason: ReasonChanged, fresh: fresh, changes: changes})
}
