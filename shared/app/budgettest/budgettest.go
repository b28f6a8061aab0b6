// Package budgettest is the conformance suite of app.Budget: every
// adapter passes it.
package budgettest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/videoai/mediatasks/shared/app"
)

// Adapter is a fresh, empty budget, with its count of slots taken.
type Adapter interface {
	app.Budget
	InProgress(ctx context.Context) (int, error)
}

// Run runs every case against budgets made by open, each case on its own.
func Run(t *testing.T, open func(t *testing.T) Adapter) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, open(t))
		})
	}
}

var cases = []struct {
	name string
	run  func(t *testing.T, b Adapter)
}{
	{"takes up to the limit, a holder once", takesUpToTheLimit},
	{"give frees a slot, a stranger's give changes nothing", giveFrees},
	{"concurrent takes never pass the limit", concurrentTakes},
}

func inProgress(t *testing.T, b Adapter, want int) {
	t.Helper()
	n, err := b.InProgress(context.Background())
	if err != nil || n != want {
		t.Fatalf("in progress %d (%v), want %d", n, err, want)
	}
	hs, err := b.Holders(context.Background())
	if err != nil || len(hs) != want {
		t.Fatalf("holders %v (%v), want %d", hs, err, want)
	}
}

func take(t *testing.T, b Adapter, holder string, limit int, want bool) {
	t.Helper()
	ok, err := b.Take(context.Background(), holder, limit)
	if err != nil || ok != want {
		t.Fatalf("take %s under %d: %v %v, want %v", holder, limit, ok, err, want)
	}
}

func takesUpToTheLimit(t *testing.T, b Adapter) {
	inProgress(t, b, 0)
	take(t, b, "a", 2, true)
	take(t, b, "a", 2, true) // received twice: one slot
	inProgress(t, b, 1)
	take(t, b, "b", 2, true)
	take(t, b, "c", 2, false)
	take(t, b, "c", 3, true) // a higher limit (a higher priority) still has room
	take(t, b, "b", 1, true) // a holder keeps its slot under any limit
	inProgress(t, b, 3)
	hs, _ := b.Holders(context.Background())
	slices.Sort(hs)
	if !slices.Equal(hs, []string{"a", "b", "c"}) {
		t.Fatalf("holders %v", hs)
	}
}

func giveFrees(t *testing.T, b Adapter) {
	ctx := context.Background()
	take(t, b, "a", 1, true)
	take(t, b, "b", 1, false)
	if err := b.Give(ctx, "stranger"); err != nil {
		t.Fatal(err)
	}
	inProgress(t, b, 1)
	if err := b.Give(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := b.Give(ctx, "a"); err != nil { // twice: nothing more
		t.Fatal(err)
	}
	inProgress(t, b, 0)
	take(t, b, "b", 1, true)
	inProgress(t, b, 1)
}

func concurrentTakes(t *testing.T, b Adapter) {
	const limit, takers = 5, 24
	var wg sync.WaitGroup
	var taken atomic.Int32
	for i := range takers {
		wg.Go(func() {
			ok, err := b.Take(context.Background(), fmt.Sprintf("h%d", i), limit)
			if err != nil {
				t.Error(err)
			}
			if ok {
				taken.Add(1)
			}
		})
	}
	wg.Wait()
	if taken.Load() != limit {
		t.Fatalf("%d takes succeeded under a limit of %d", taken.Load(), limit)
	}
	inProgress(t, b, limit)
}
