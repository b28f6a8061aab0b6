package engine

import (
	"container/heap"
	"encoding/json"
	"slices"
	"testing"
	"time"
)

// Ready runs step by rank, then the older execution first, then in the
// order they became ready; Rank is asked once per run, of its root
// execution's input.
func TestReadyRunsStepByRankThenAge(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	asked := 0
	e := &Engine{runs: map[int64]*run{}, signal: make(chan struct{}, 1), opts: Options{Rank: func(_ string, in json.RawMessage) int {
		asked++
		var v struct{ Rank int }
		_ = json.Unmarshal(in, &v)
		return v.Rank
	}}}
	add := func(name string, rank int, started time.Time) *run {
		r := &run{machine: "m", name: name, execInput: json.RawMessage(`{"Rank":` + string(rune('0'+rank)) + `}`), execStart: started}
		e.enqueueLocked(r)
		return r
	}
	add("normal-new", 1, t0.Add(3*time.Second))
	add("low", 2, t0)
	add("normal-old", 1, t0.Add(time.Second))
	add("high", 0, t0.Add(5*time.Second))
	item := add("normal-old-again", 1, t0.Add(time.Second)) // a second run of the same execution's age
	var order []string
	for e.ready.Len() > 0 {
		r := heap.Pop(&e.ready).(*run)
		r.queued = false
		order = append(order, r.name)
	}
	if want := []string{"high", "normal-old", "normal-old-again", "normal-new", "low"}; !slices.Equal(order, want) {
		t.Errorf("stepped %v, want %v", order, want)
	}
	e.enqueueLocked(item)
	if asked != 5 {
		t.Errorf("Rank asked %d times for 5 runs queued 6 times, want 5", asked)
	}
}
