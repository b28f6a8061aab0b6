package app_test

import (
	"context"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/app"
	"github.com/videoai/mediatasks/shared/queue"
	"github.com/videoai/mediatasks/shared/task"
)

// memBudget is an app.Budget in memory, to test the App's use of the port
// (the adapters pass budgettest).
type memBudget struct {
	mu      sync.Mutex
	holders map[string]bool
}

func (m *memBudget) Take(_ context.Context, holder string, limit int) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.holders[holder] {
		return true, nil
	}
	if len(m.holders) >= limit {
		return false, nil
	}
	m.holders[holder] = true
	return true, nil
}

func (m *memBudget) Give(_ context.Context, holder string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.holders, holder)
	return nil
}

func (m *memBudget) Holders(context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(maps.Keys(m.holders)), nil
}

func (m *memBudget) held() []string { hs, _ := m.Holders(context.Background()); return hs }

// dispatchOne receives the next task message and dispatches it as a
// Lambda would.
func dispatchOne(t *testing.T, b bundle) {
	t.Helper()
	ctx := context.Background()
	ds, err := b.queue.Receive(ctx, queue.ReceiveOptions{Max: 1})
	if err != nil || len(ds) != 1 {
		t.Fatalf("receive: %v %v", ds, err)
	}
	if err := b.app.Dispatch(ctx, ds[0]); err != nil {
		t.Fatal(err)
	}
	if err := b.queue.Delete(ctx, ds[0].Receipt); err != nil {
		t.Fatal(err)
	}
}

// The App's side of the budget: a task takes a slot when its workflow
// starts and gives it back when it ends; a batch takes one for all its
// tasks and gives it back when it finishes; a start that fails gives its
// slot back; a message that finds no room is sent again and started once
// there is room; the sweep gives back the slot of a task that ended
// without giving it.
func TestBudgetSlotsFollowTheWork(t *testing.T) {
	t.Parallel()
	bud := &memBudget{holders: map[string]bool{}}
	b := setupWith(t, true, true, func(d *app.Deps) {
		d.Budget = bud
		d.Limits.MaxInProgress = 2 // no reserve under 10: every priority up to 2
	})
	ctx := context.Background()
	submit := func() string {
		tk, err := b.app.SubmitTask(ctx, "alice", imageSpec(""), nil)
		if err != nil {
			t.Fatal(err)
		}
		return tk.ID
	}
	ids := []string{submit(), submit(), submit()}
	dispatchOne(t, b)
	dispatchOne(t, b)
	var started []string
	waiting := ""
	for _, id := range ids {
		if b.runner.starts(id) == 1 {
			started = append(started, id)
		} else {
			waiting = id
		}
	}
	if got := bud.held(); len(started) != 2 || !slices.Equal(got, slices.Sorted(slices.Values(started))) {
		t.Fatalf("slots %v, started %v: want a slot for each of the two started", got, started)
	}
	one, two, three := started[0], started[1], waiting
	dispatchOne(t, b) // no room: sent again
	if b.runner.starts(three) != 0 {
		t.Fatal("the third started with the budget full")
	}
	if _, err := b.app.Fail(ctx, one, &task.Error{Code: "x", Message: "ended"}); err != nil {
		t.Fatal(err)
	}
	b.clock.Add(5 * time.Second) // past the resend's delay
	dispatchOne(t, b)
	if b.runner.starts(three) != 1 || slices.Contains(bud.held(), one) || !slices.Contains(bud.held(), three) {
		t.Fatalf("after the first ended: slots %v, third started %d times", bud.held(), b.runner.starts(three))
	}

	// A slot left behind by a task that ended is reclaimed by the sweep.
	if _, err := b.app.Fail(ctx, two, &task.Error{Code: "x", Message: "ended"}); err != nil {
		t.Fatal(err)
	}
	bud.holders[two] = true // as if the give was lost in a crash
	b.app.Sweep(ctx)
	if slices.Contains(bud.held(), two) || !slices.Contains(bud.held(), three) {
		t.Fatalf("after the sweep: slots %v, want only the running third", bud.held())
	}
	if _, err := b.app.Fail(ctx, three, &task.Error{Code: "x", Message: "ended"}); err != nil {
		t.Fatal(err)
	}

	// A start that fails gives its slot back.
	four := submit()
	b.runner.fail.Store(true)
	ds, _ := b.queue.Receive(ctx, queue.ReceiveOptions{Max: 1})
	if len(ds) != 1 || b.app.Dispatch(ctx, ds[0]) == nil {
		t.Fatal("a failed start was not reported")
	}
	if len(bud.held()) != 0 {
		t.Fatalf("slots %v after a failed start", bud.held())
	}
	b.runner.fail.Store(false)
	_, _ = b.app.Cancel(ctx, "alice", four)

	// A batch takes one slot for its tasks, given back when it finishes.
	sub, err := b.app.SubmitBatch(ctx, "alice", app.BatchSpec{Tasks: []app.TaskSpec{imageSpec(""), imageSpec(""), imageSpec("")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	bt := sub.Batch
	b.clock.Add(5 * time.Second)
	for {
		ds, err := b.queue.Receive(ctx, queue.ReceiveOptions{Max: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 0 {
			break
		}
		if err := b.app.Dispatch(ctx, ds[0]); err != nil {
			t.Fatal(err)
		}
		_ = b.queue.Delete(ctx, ds[0].Receipt)
	}
	if got := bud.held(); len(got) != 1 || got[0] != "batch:"+bt.ID {
		t.Fatalf("slots %v, want the batch's one", got)
	}
	for _, id := range bt.TaskIDs {
		if _, err := b.app.Fail(ctx, id, &task.Error{Code: "x", Message: "ended"}); err != nil {
			t.Fatal(err)
		}
	}
	if len(bud.held()) != 1 {
		t.Fatalf("slots %v: the batch's tasks gave back its slot before it finished", bud.held())
	}
	if _, err := b.app.FinishBatch(ctx, bt.ID); err != nil {
		t.Fatal(err)
	}
	if len(bud.held()) != 0 {
		t.Fatalf("slots %v after the batch finished", bud.held())
	}
}
