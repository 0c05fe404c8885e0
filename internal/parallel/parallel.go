// Package parallel runs the iterations of a loop on several goroutines.
package parallel

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
)

// For calls fn for 0..n-1 on up to GOMAXPROCS goroutines and returns
// ctx's error if it ended first.
func For(ctx context.Context, n int, fn func(i int)) error {
	return ForN(ctx, runtime.GOMAXPROCS(0), n, fn)
}

// ForN is For with up to workers goroutines.
func ForN(ctx context.Context, workers, n int, fn func(i int)) error {
	workers = min(workers, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				fn(i)
			}
		})
	}
	wg.Wait()
	return ctx.Err()
}
