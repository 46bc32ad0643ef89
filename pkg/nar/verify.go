package nar

import (
	"context"
	"fmt"
	"sort"
	"sync"
)

// Expected is what a closure graph says of a store path: the hash and size
// of its NAR serialisation.
type Expected struct {
	// Path is the store path.
	Path string
	// NarHash is the SHA-256 of the serialisation, in any form ParseHash
	// accepts ("sha256:<nix-base32>" in .attrs.json, SRI from nix
	// path-info).
	NarHash string
	// NarSize is the serialisation's length in bytes, or 0 when unknown.
	NarSize uint64
}

// VerifyAll verifies every store path in want against its NAR hash and
// size, reading each once, with workers goroutines (at least one), the
// paths with the largest NarSize first so that a big path does not start
// last. done, when not nil, is called (from the workers, concurrently) with
// each path's sum once it has verified. The first failure, a mismatch
// (*MismatchError) or an unreadable path, stops the others and is returned.
func VerifyAll(ctx context.Context, want []Expected, workers int, done func(Expected, Sum)) error {
	for _, e := range want {
		if _, err := ParseHash(e.NarHash); err != nil {
			return fmt.Errorf("store path %s: %w", e.Path, err)
		}
	}
	order := make([]Expected, len(want))
	copy(order, want)
	sort.SliceStable(order, func(i, j int) bool { return order[i].NarSize > order[j].NarSize })
	workers = max(1, min(workers, len(order)))

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan Expected)
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range jobs {
				sum, err := hashPath(ctx, e.Path)
				if err == nil {
					err = sum.CheckExpected(e)
				}
				if err != nil {
					cancel(err)
					continue
				}
				if done != nil {
					done(e, sum)
				}
			}
		}()
	}
feed:
	for _, e := range order {
		select {
		case jobs <- e:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	return context.Cause(ctx)
}
