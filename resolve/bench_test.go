package resolve

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// BenchmarkResolveRegistryCalls measures registry calls per resolution:
// N concurrent resolutions of each of 10 repositories, against a loopback
// registry behind the counting handler. Cold uses a fresh Resolver per
// iteration (expected: 10 tag-list calls, one per repository, whatever N);
// warm reuses a warmed one (expected: 0 calls).
//
//	go test ./resolve/ -run '^$' -bench BenchmarkResolveRegistryCalls -benchtime 20x
func BenchmarkResolveRegistryCalls(b *testing.B) {
	const repos = 10
	reg := newTestRegistry(b)
	specs := make([]Spec, repos)
	for i := range repos {
		repo := fmt.Sprintf("acme/svc%d", i)
		pushTags(b, reg.host, repo, time.Now(), nil, "1.0.0", "1.1.0", "1.2.0", "2.0.0")
		specs[i] = specFor(b, fmt.Sprintf("svc%d=%s/%s:^1", i, reg.host, repo), nil)
	}

	resolveAll := func(b *testing.B, r *Resolver, perRepo int) {
		var wg sync.WaitGroup
		for i := range repos * perRepo {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := r.ResolveOne(context.Background(), specs[i%repos])
				if err != nil || res.Tag != "1.2.0" {
					b.Errorf("%+v %v", res, err)
				}
			}()
		}
		wg.Wait()
	}

	report := func(b *testing.B, perRepo, iterations int) {
		ops := float64(iterations)
		b.ReportMetric(float64(reg.counter.Count("list"))/ops, "tag-lists/op")
		b.ReportMetric(float64(reg.counter.Count(""))/ops, "requests/op")
		b.ReportMetric(float64(reg.counter.Count(""))/ops/float64(repos*perRepo), "requests/resolution")
	}

	for _, perRepo := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("cold/concurrent=%d", perRepo), func(b *testing.B) {
			reg.counter.Reset()
			iterations := 0
			for b.Loop() {
				r, err := New(WithLogger(discardLogger()))
				if err != nil {
					b.Fatal(err)
				}
				resolveAll(b, r, perRepo)
				iterations++
			}
			report(b, perRepo, iterations)
		})
		b.Run(fmt.Sprintf("warm/concurrent=%d", perRepo), func(b *testing.B) {
			r, err := New(WithLogger(discardLogger()))
			if err != nil {
				b.Fatal(err)
			}
			resolveAll(b, r, 1)
			reg.counter.Reset()
			iterations := 0
			for b.Loop() {
				resolveAll(b, r, perRepo)
				iterations++
			}
			report(b, perRepo, iterations)
		})
	}
}
