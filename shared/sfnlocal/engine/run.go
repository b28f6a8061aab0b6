package engine

import (
	"container/heap"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/videoai/mediatasks/shared/sfnlocal/asl"
)

// run is a RUNNING execution or Map item held in memory: its position
// (the last stored one, or one reached in memory past Choice and Pass
// states) and its scheduling flags.
type run struct {
	id      int64
	machine string // the top-level machine, also for items
	name    string
	kind    int
	class   string       // Options.Class of a counted execution
	scope   []string     // item: the Map states above it
	m       *asl.Machine // the machine or item processor it runs
	parent  int64

	// Its context ($$.Execution): the root execution's.
	execName  string
	execInput json.RawMessage
	execStart time.Time

	// Position.
	state      string
	in         doc
	entered    time.Time
	retries    []int
	due        time.Time // end of a Wait or retry delay; zero: none
	seq        int64
	stored     bool // the position above is the stored one
	waitingSet bool // the state's items or child were started
	waiting    int64
	// A waitForTaskToken Task's token ("" until issued), whether its
	// Action has run, and its last heartbeat.
	token        string
	tokenInvoked bool
	tokenBeat    time.Time

	stopped atomic.Bool

	// Guarded by Engine.mu.
	queued, busy, again bool
	rank                int                // Options.Rank of its root execution
	ranked              bool               // rank is set
	readyAt             uint64             // when it was queued, in queue order
	cancel              context.CancelFunc // of the Action in flight
}

// doc is a JSON value held as text, as a decoded value, or both, so that
// a value passing through unchanged is neither decoded nor encoded.
type doc struct {
	raw json.RawMessage
	val any
	has bool // val is set
}

func (d *doc) value() (any, error) {
	if !d.has {
		v, err := asl.Decode(d.raw)
		if err != nil {
			return nil, err
		}
		d.val, d.has = v, true
	}
	return d.val, nil
}

func (d *doc) json() (json.RawMessage, error) {
	if d.raw == nil {
		b, err := asl.Marshal(d.val)
		if err != nil {
			return nil, err
		}
		d.raw = b
	}
	return d.raw, nil
}

func valueDoc(v any) doc { return doc{val: v, has: true} }

// adopt registers a run loaded or created in this process and, when
// queue is set, queues it. A run already registered is left alone.
func (e *Engine) adopt(r *run, queue bool) *run {
	e.mu.Lock()
	defer e.mu.Unlock()
	if cur, ok := e.runs[r.id]; ok {
		return cur
	}
	e.runs[r.id] = r
	if r.counted() {
		e.running[r.machine]++
		if e.opts.Class != nil {
			r.class = e.opts.Class(r.machine, r.execInput)
			e.classes[r.class]++
		}
	}
	if queue {
		e.enqueueLocked(r)
	}
	return r
}

func (e *Engine) enqueue(r *run) {
	e.mu.Lock()
	e.enqueueLocked(r)
	e.mu.Unlock()
}

// enqueueLocked queues r for a worker; a run being stepped is queued
// again when its step ends, so one run is never stepped twice at once.
func (e *Engine) enqueueLocked(r *run) {
	switch {
	case r.busy:
		r.again = true
	case !r.queued:
		r.queued = true
		if !r.ranked && e.opts.Rank != nil {
			r.rank, r.ranked = e.opts.Rank(r.machine, r.execInput), true
		}
		e.readySeq++
		r.readyAt = e.readySeq
		heap.Push(&e.ready, r)
		select {
		case e.signal <- struct{}{}:
		default: // every worker has a wake-up pending already
		}
	}
}

// wakeIDs queues the runs with these ids (parents whose items or child
// ended).
func (e *Engine) wakeIDs(ids []int64) {
	if len(ids) == 0 {
		return
	}
	e.mu.Lock()
	for _, id := range ids {
		if r, ok := e.runs[id]; ok {
			e.enqueueLocked(r)
		}
	}
	e.mu.Unlock()
}

// dropAborted forgets aborted runs and cancels their Actions.
func (e *Engine) dropAborted(ids []int64) {
	e.mu.Lock()
	for _, id := range ids {
		if r, ok := e.runs[id]; ok {
			r.stopped.Store(true)
			if r.cancel != nil {
				r.cancel()
			}
			e.dropLocked(r)
		}
	}
	e.mu.Unlock()
}

func (e *Engine) forget(r *run) {
	e.mu.Lock()
	if e.runs[r.id] == r {
		e.dropLocked(r)
	}
	e.mu.Unlock()
}

// dropLocked removes r from the runs, and from the running count.
func (e *Engine) dropLocked(r *run) {
	delete(e.runs, r.id)
	if r.counted() {
		e.running[r.machine]--
		if e.opts.Class != nil {
			if e.classes[r.class]--; e.classes[r.class] <= 0 {
				delete(e.classes, r.class)
			}
		}
		select {
		case e.freed <- struct{}{}:
		default:
		}
	}
}

// counted says whether r is an execution Running counts.
func (r *run) counted() bool { return r.kind == kindExecution && r.parent == 0 }

// Wake makes the engine look at due Waits and retry delays now (tests that
// move a fake clock call it).
func (e *Engine) Wake() {
	select {
	case e.timers.wake <- struct{}{}:
	default:
	}
}

// Run resumes every stored RUNNING execution, then steps executions with
// the worker pool until ctx ends. When it returns no Action is left
// running: their contexts are canceled when ctx ends, and a Task
// interrupted so runs again when the engine runs next.
func (e *Engine) Run(ctx context.Context) error {
	e.mu.Lock()
	if e.active {
		e.mu.Unlock()
		return fmt.Errorf("workflow engine: already running")
	}
	e.active = true
	e.mu.Unlock()
	defer e.reset()

	if err := e.resume(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // asked to end before it began
		}
		return err
	}
	var wg sync.WaitGroup
	for range e.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.worker(ctx)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		e.timerLoop(ctx)
	}()
	wg.Wait()
	e.actions.Wait()
	return nil
}

// reset forgets what was held in memory once Run ends: the stored
// positions are what a later Run resumes from.
func (e *Engine) reset() {
	e.mu.Lock()
	e.runs = map[int64]*run{}
	e.ready = nil
	e.active = false
	e.mu.Unlock()
	e.timers.clear()
}

// resume loads the stored RUNNING executions and items.
func (e *Engine) resume(ctx context.Context) error {
	rows, err := e.db.Read.QueryContext(ctx, runColumns+`WHERE e.status = 'RUNNING' ORDER BY e.id`)
	if err != nil {
		return fmt.Errorf("resume executions: %w", err)
	}
	var loaded []*run
	for rows.Next() {
		r, _, err := scanRun(rows)
		if err != nil {
			rows.Close()
			return fmt.Errorf("resume executions: %w", err)
		}
		loaded = append(loaded, r)
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("resume executions: %w", err)
	}
	n := 0
	for _, r := range loaded {
		if err := e.bind(r); err != nil {
			e.log.Error("workflow: cannot resume execution", "machine", r.machine, "execution", r.name, "err", err)
			continue
		}
		if e.schedule(r) {
			n++
		}
	}
	if n > 0 {
		e.log.Info("workflow: resumed executions", "count", n)
	}
	return nil
}

// bind finds the machine (or item processor) a loaded run runs.
func (e *Engine) bind(r *run) error {
	m, err := e.machine(r.machine)
	if err != nil {
		return err
	}
	if r.m, err = m.Scope(r.scope); err != nil {
		return fmt.Errorf("execution %s: %w", r.name, err)
	}
	if _, ok := r.m.States[r.state]; !ok {
		return fmt.Errorf("execution %s: state %q is not in the loaded definition", r.name, r.state)
	}
	return nil
}

// schedule registers a loaded run where it belongs: waiting for a due
// time, parked until its items or child end, or ready.
func (e *Engine) schedule(r *run) bool {
	cur := e.adopt(r, false)
	if cur != r {
		return false
	}
	switch {
	case r.waitingSet && r.waiting > 0:
		// Parked: the end of its last item or child queues it.
	case r.token != "":
		// Waiting for a task token: its step reads the outcome, or parks
		// again until the timeout.
		e.enqueue(r)
	case !r.due.IsZero() && r.due.After(e.opts.Now()):
		e.timers.add(r.due, r)
		e.Wake()
	default:
		e.enqueue(r)
	}
	return true
}

func (e *Engine) worker(ctx context.Context) {
	for {
		e.mu.Lock()
		var r *run
		if e.ready.Len() > 0 {
			r = heap.Pop(&e.ready).(*run)
			r.queued = false
			r.busy = true
		}
		e.mu.Unlock()
		if r == nil {
			select {
			case <-ctx.Done():
				return
			case <-e.signal:
				continue
			}
		}
		if ctx.Err() != nil {
			return
		}
		if !e.step(ctx, r) {
			e.release(r)
		}
	}
}

// release ends a step of r: r may be stepped again, at once if it was
// queued meanwhile.
func (e *Engine) release(r *run) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r.busy = false
	if r.again {
		r.again = false
		if e.runs[r.id] == r {
			e.enqueueLocked(r)
		}
	}
}

// timers is a heap of runs by due time. Due times are read on
// Options.Now; the loop sleeps on the real clock until the earliest, or
// until Wake.
type timers struct {
	mu   sync.Mutex
	h    timerHeap
	wake chan struct{}
}

type timerEntry struct {
	at time.Time
	r  *run
}

type timerHeap []timerEntry

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h timerHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)        { *h = append(*h, x.(timerEntry)) }
func (h *timerHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func (t *timers) add(at time.Time, r *run) {
	t.mu.Lock()
	heap.Push(&t.h, timerEntry{at: at, r: r})
	t.mu.Unlock()
}

func (t *timers) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.h)
}

func (t *timers) clear() {
	t.mu.Lock()
	t.h = nil
	t.mu.Unlock()
}

// due pops the entries due at now and says when the next one is.
func (t *timers) due(now time.Time) (due []*run, next time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for len(t.h) > 0 && !t.h[0].at.After(now) {
		due = append(due, heap.Pop(&t.h).(timerEntry).r)
	}
	if len(t.h) > 0 {
		next = t.h[0].at
	}
	return due, next
}

func (e *Engine) timerLoop(ctx context.Context) {
	sleep := time.NewTimer(time.Hour)
	defer sleep.Stop()
	for {
		now := e.opts.Now()
		due, next := e.timers.due(now)
		for _, r := range due {
			if !r.stopped.Load() {
				e.enqueue(r)
			}
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = next.Sub(now)
		}
		sleep.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-e.timers.wake:
		case <-sleep.C:
		}
	}
}

// readyQueue is the runs ready for a worker, the first to step on top
// (container/heap): by rank, then the older execution, then the order
// they became ready.
type readyQueue []*run

func (q readyQueue) Len() int { return len(q) }
func (q readyQueue) Less(i, j int) bool {
	a, b := q[i], q[j]
	if a.rank != b.rank {
		return a.rank < b.rank
	}
	if !a.execStart.Equal(b.execStart) {
		return a.execStart.Before(b.execStart)
	}
	return a.readyAt < b.readyAt
}
func (q readyQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *readyQueue) Push(x any)   { *q = append(*q, x.(*run)) }
func (q *readyQueue) Pop() any {
	old := *q
	r := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return r
}
