package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/videoai/mediatasks/shared/queue"
	"github.com/videoai/mediatasks/shared/storage"
	"github.com/videoai/mediatasks/shared/task"
)

// RunDispatcher takes task messages by priority and hands each task to the
// runner until ctx ends. Without a runner it returns at once: tasks stay
// queued, and their messages stay in the queue for a runner to come.
func (a *App) RunDispatcher(ctx context.Context) {
	if a.runner == nil {
		a.log.InfoContext(ctx, "no workflow runner: the dispatcher does not start, tasks stay queued")
		return
	}
	adm, _ := a.runner.(Admission)
	g := &gate{adm: adm, wake: make(chan struct{}, 1)}
	var wg sync.WaitGroup
	for range a.limits.DispatcherConcurrent {
		wg.Go(func() { a.dispatchLoop(ctx, g) })
	}
	wg.Wait()
}

// gate shares the runner's room between the dispatch loops: a loop takes
// slots before it receives, so that loops together never receive more
// messages than there is room for, and gives back what it did not use.
type gate struct {
	adm Admission
	mu  sync.Mutex
	// taken are slots held by loops between their receive and the starts
	// of the workflows (which the runner's Room then counts).
	taken int
	wake  chan struct{} // slots were given back
}

// take waits for room and takes up to max slots (max when the runner has
// no bound); 0 when ctx ended.
func (g *gate) take(ctx context.Context, max int) int {
	if g.adm == nil {
		return max
	}
	for {
		g.mu.Lock()
		n := min(g.adm.Room()-g.taken, max)
		if n > 0 {
			g.taken += n
			g.mu.Unlock()
			return n
		}
		g.mu.Unlock()
		// A slow tick besides the signal: a signal merged with another
		// loop's wake-up must not leave this loop waiting.
		select {
		case <-ctx.Done():
			return 0
		case <-g.adm.Freed():
		case <-g.wake:
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (g *gate) give(n int) {
	if g.adm == nil || n == 0 {
		return
	}
	g.mu.Lock()
	g.taken -= n
	g.mu.Unlock()
	// Another loop may wait for what this one did not use.
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

func (a *App) dispatchLoop(ctx context.Context, g *gate) {
	for ctx.Err() == nil {
		// Up to 10 at a time: one receive is one write, shared by the ten;
		// never more than there is room for.
		slots := g.take(ctx, 10)
		if slots == 0 {
			return
		}
		ds, err := a.tasks.Receive(ctx, queue.ReceiveOptions{Max: slots, Visibility: a.limits.DispatchVisibility, Wait: time.Second})
		if err != nil {
			g.give(slots)
			if ctx.Err() == nil {
				a.log.ErrorContext(ctx, "receive task messages", "err", err)
				pause := time.Second
				if storage.Fault(err) {
					pause = 5 * time.Second // the storage cannot write: take nothing for a while
				}
				sleep(ctx, pause)
			}
			continue
		}
		refusedBefore := a.typeRefusals.Load()
		var wg sync.WaitGroup
		for _, d := range ds {
			wg.Go(func() { a.dispatch(ctx, d) })
		}
		wg.Wait()
		// The started workflows are in the runner's count now.
		g.give(slots)
		if a.typeRefusals.Load() != refusedBefore && g.adm != nil {
			// A type's share is full: what this loop receives next would
			// likely wait again. Receive again once a workflow ends.
			select {
			case <-ctx.Done():
			case <-g.adm.Freed():
			case <-time.After(time.Second):
			}
		}
	}
}

// dispatch starts the workflow of one message's task or batch, and
// deletes the message once Dispatch is done with it.
func (a *App) dispatch(ctx context.Context, d queue.Delivery) {
	if err := a.Dispatch(ctx, d); err == nil {
		a.deleteMessage(ctx, d)
	}
}

// Dispatch starts the workflow of a task message's task or batch. It
// answers nil when the message is done with: the start is recorded, there
// is nothing to start, or (on the last receive before the dead-letter
// queue) the tasks whose workflow could not start were failed rather than
// left queued for ever. An error means the message should come back after
// its visibility timeout. The dispatcher deletes done messages itself; a
// Lambda event source mapping deletes those its function does not report.
func (a *App) Dispatch(ctx context.Context, d queue.Delivery) error {
	var msg dispatchMessage
	if err := json.Unmarshal(d.Body, &msg); err != nil || (msg.TaskID == "") == (msg.BatchID == "") {
		a.log.ErrorContext(ctx, "task message without one task or batch id: dropped", "message_id", d.ID, "err", err)
		return nil
	}
	var err error
	if msg.BatchID != "" {
		err = a.startBatch(ctx, msg.BatchID, d.Priority)
	} else {
		err = a.startTask(ctx, msg.TaskID, d.Priority)
	}
	if err == nil {
		return nil
	}
	if errors.Is(err, errNoRoom) {
		// Done with this message: it waits as a new one.
		return a.waitForRoom(ctx, d)
	}
	a.log.ErrorContext(ctx, "start workflow", "task_id", msg.TaskID, "batch_id", msg.BatchID, "receive_count", d.ReceiveCount, "err", err)
	if d.ReceiveCount < a.limits.StartAttempts || storage.Fault(err) {
		// A storage fault is a pause: the task is not failed for it.
		return err
	}
	if ferr := a.failUnstartable(ctx, msg, err); ferr != nil {
		a.log.ErrorContext(ctx, "fail tasks whose workflow could not start", "task_id", msg.TaskID, "batch_id", msg.BatchID, "err", ferr)
		return fmt.Errorf("fail tasks whose workflow could not start: %w", ferr)
	}
	return nil
}

// failUnstartable fails the queued tasks of a message whose workflow could
// not be started after every attempt.
func (a *App) failUnstartable(ctx context.Context, msg dispatchMessage, cause error) error {
	ids := []string{msg.TaskID}
	if msg.BatchID != "" {
		b, err := a.store.GetBatch(ctx, "", msg.BatchID)
		if err != nil {
			return err
		}
		ids = b.TaskIDs
	}
	for _, id := range ids {
		_, err := a.Fail(ctx, id, &task.Error{Code: "start_failed", Message: "the task's workflow could not be started: " + cause.Error(), Retryable: true})
		if err != nil && !errors.Is(err, task.ErrTerminal) && !errors.Is(err, task.ErrNotFound) && !errors.Is(err, task.ErrInvalidTransition) {
			return err
		}
	}
	return nil
}

func (a *App) startTask(ctx context.Context, id string, p task.Priority) error {
	t, err := a.store.GetTask(ctx, "", id)
	if errors.Is(err, task.ErrNotFound) {
		a.log.WarnContext(ctx, "task message for a missing task: dropped", "task_id", id)
		return nil
	}
	if err != nil {
		return fmt.Errorf("read task to dispatch: %w", err)
	}
	if t.Status != task.StatusQueued {
		return nil // already started (a redelivery or a sweeper's re-send) or ended
	}
	if ta, ok := a.runner.(TypeAdmission); ok {
		// Starts under way count against the type's room until the
		// runner counts them: concurrent dispatches never overshoot it.
		a.admitMu.Lock()
		if ta.RoomFor(t.Type)-a.starting[t.Type] <= 0 {
			a.admitMu.Unlock()
			a.typeRefusals.Add(1)
			return errNoRoom // its type's share is taken: it waits, others start
		}
		a.starting[t.Type]++
		a.admitMu.Unlock()
		defer func() {
			a.admitMu.Lock()
			a.starting[t.Type]--
			a.admitMu.Unlock()
		}()
	}
	return a.startWithSlot(ctx, taskHolder(id), p, func() error { return a.runner.Start(ctx, t) })
}

// startWithSlot starts a workflow with a slot of the budget, when there
// is one: taken first, given back if the start fails.
func (a *App) startWithSlot(ctx context.Context, holder string, p task.Priority, start func() error) error {
	if a.budget == nil {
		return start()
	}
	if err := a.take(ctx, holder, p); err != nil {
		return err
	}
	if err := start(); err != nil {
		a.give(ctx, holder)
		return err
	}
	return nil
}

func (a *App) startBatch(ctx context.Context, id string, p task.Priority) error {
	b, err := a.store.GetBatch(ctx, "", id)
	if errors.Is(err, task.ErrNotFound) {
		a.log.WarnContext(ctx, "batch message for a missing batch: dropped", "batch_id", id)
		return nil
	}
	if err != nil {
		return fmt.Errorf("read batch to dispatch: %w", err)
	}
	if b.Status == task.BatchCompleted {
		return nil
	}
	return a.startWithSlot(ctx, batchHolder(id), p, func() error { return a.runner.StartBatch(ctx, b) })
}

func (a *App) deleteMessage(ctx context.Context, d queue.Delivery) {
	if err := a.tasks.Delete(ctx, d.Receipt); err != nil && !errors.Is(err, queue.ErrReceiptInvalid) {
		a.log.ErrorContext(ctx, "delete task message", "message_id", d.ID, "err", err)
	}
}

// IdempotencyPurger is implemented by stores whose expired idempotency
// records are not removed by the database itself (DynamoDB has TTL).
type IdempotencyPurger interface {
	PurgeExpired(ctx context.Context, now time.Time) (int, error)
}

// OutputExpirer is implemented by stores whose tasks' output files are
// not removed by the blob store itself (an S3 bucket's lifecycle does): it
// lists the completed tasks whose files the retention has passed.
type OutputExpirer interface {
	ExpiredOutputs(ctx context.Context, completedBefore time.Time, limit int) ([]*task.Task, error)
	// MarkFilesRemoved lists no files for the completed task any more,
	// and says they were removed.
	MarkFilesRemoved(ctx context.Context, taskID string) error
}

// BlobPruner is implemented by blob stores that can remove what is older
// than a time under a prefix (the uploads past the retention).
type BlobPruner interface {
	DeleteBefore(ctx context.Context, prefix string, before time.Time, limit int) (int, error)
}

// PromptPurger is implemented by stores whose expired cached prompts are
// not removed by the database itself (DynamoDB has TTL).
type PromptPurger interface {
	PurgeExpiredPrompts(ctx context.Context, now time.Time) (int, error)
}

// RunSweeper repairs what a crash can leave behind, every interval until
// ctx ends (see Sweep).
func (a *App) RunSweeper(ctx context.Context, interval time.Duration) {
	for {
		a.Sweep(ctx)
		if !sleep(ctx, interval) {
			return
		}
	}
}

// Sweep runs the sweeper once. Where a task and its message are written
// apart (a store that is not a MessageCreator), a crash in between leaves
// a queued task without a message: tasks queued for longer than
// RequeueAfter are re-sent (a duplicate is harmless: the dispatcher starts
// nothing twice). Where they commit together no message can be lost, and
// nothing is re-sent; without a runner nothing consumes messages, and
// nothing is re-sent either. Tasks lost with a bounded workflow execution
// are failed. Expired idempotency records and cached prompts are purged.
func (a *App) Sweep(ctx context.Context) {
	now := a.now().UTC()
	if _, atomic := a.store.(MessageCreator); !atomic && a.runner != nil {
		a.resendStale(ctx, now)
	}
	if p, ok := a.store.(IdempotencyPurger); ok {
		if n, err := p.PurgeExpired(ctx, now); err != nil {
			a.log.ErrorContext(ctx, "sweep: purge idempotency records", "err", err)
		} else if n > 0 {
			a.log.InfoContext(ctx, "sweep: purged expired idempotency records", "count", n)
		}
	}
	if e, ok := a.store.(OutputExpirer); ok {
		a.expireOutputs(ctx, e, now)
	}
	if p, ok := a.blobs.(BlobPruner); ok && a.prunedAt.Load() < now.Add(-time.Hour).UnixNano() {
		// A walk over the stored files: once an hour is enough.
		a.prunedAt.Store(now.UnixNano())
		if n, err := p.DeleteBefore(ctx, "uploads/", now.Add(-a.limits.Retention), 1000); err != nil {
			a.log.ErrorContext(ctx, "sweep: remove uploads past the retention", "err", err)
		} else if n > 0 {
			a.log.InfoContext(ctx, "sweep: removed uploads past the retention", "count", n)
		}
	}
	if a.budget != nil {
		a.reclaimSlots(ctx)
	}
	a.failLostRuns(ctx, now)
	if p, ok := a.store.(PromptPurger); ok {
		if n, err := p.PurgeExpiredPrompts(ctx, now); err != nil {
			a.log.ErrorContext(ctx, "sweep: purge cached prompts", "err", err)
		} else if n > 0 {
			a.log.InfoContext(ctx, "sweep: purged expired cached prompts", "count", n)
		}
	}
}

// expireOutputs removes the files of tasks completed longer ago than the
// retention, and marks their tasks: files removed, none listed.
func (a *App) expireOutputs(ctx context.Context, e OutputExpirer, now time.Time) {
	tasks, err := e.ExpiredOutputs(ctx, now.Add(-a.limits.Retention), 500)
	if err != nil {
		a.log.ErrorContext(ctx, "sweep: list outputs past the retention", "err", err)
		return
	}
	removed := 0
	for _, t := range tasks {
		failed := false
		for _, f := range t.Output.Files {
			if f.Key == "" {
				continue
			}
			if err := a.blobs.Delete(ctx, f.Key); err != nil {
				a.log.ErrorContext(ctx, "sweep: remove an output past the retention", "task_id", t.ID, "key", f.Key, "err", err)
				failed = true
			}
		}
		if failed {
			continue // tried again on the next sweep
		}
		// A completed task's record changes no more through change (it
		// refuses ended tasks): the store marks it.
		if err := e.MarkFilesRemoved(ctx, t.ID); err != nil {
			a.log.ErrorContext(ctx, "sweep: mark a task's files removed", "task_id", t.ID, "err", err)
			continue
		}
		removed++
	}
	if removed > 0 {
		a.log.InfoContext(ctx, "sweep: removed the outputs of tasks past the retention", "tasks", removed)
	}
}

// CodeWorkflowTimeout is the error code of a task whose bounded workflow
// execution ended without finishing it.
const CodeWorkflowTimeout = "workflow_timeout"

// failLostRuns fails the tasks still running LostRunGrace after the
// deadline of their bounded execution (Express ends an execution at 5
// minutes without running its Catch, and runs none of its steps after):
// nothing else would ever end them. The grace covers a step invoked just
// before the deadline, which runs on to its own timeout and may still
// finish the task. Each is an ordinary status change (event, webhook,
// counters); a task that ended meanwhile is left alone by the change's
// condition. Durable runners give no deadline, so on one machine this
// finds nothing.
func (a *App) failLostRuns(ctx context.Context, now time.Time) {
	cutoff := now.Add(-a.limits.LostRunGrace)
	lost, err := a.store.OverdueRuns(ctx, cutoff, 100)
	if err != nil {
		a.log.ErrorContext(ctx, "sweep: list tasks lost with their workflow execution", "err", err)
		return
	}
	for _, t := range lost {
		_, err := a.change(ctx, "", t.ID, func(t *task.Task, now time.Time) ([]task.Event, error) {
			if !t.RunLost(cutoff) {
				return nil, ErrUnchanged
			}
			t.Error = &task.Error{Code: CodeWorkflowTimeout, Retryable: true,
				Message: fmt.Sprintf("the task's workflow timed out: its execution ended at %s without finishing it", t.Run.Deadline.Format(time.RFC3339))}
			ev, err := t.Transition(task.StatusFailed, now)
			return []task.Event{ev}, err
		})
		if errors.Is(err, ErrUnchanged) || errors.Is(err, task.ErrTerminal) {
			continue
		}
		if err != nil {
			a.log.ErrorContext(ctx, "sweep: fail a task lost with its workflow execution", "task_id", t.ID, "err", err)
			continue
		}
		a.Metrics.LostRuns.Inc()
		a.log.WarnContext(ctx, "sweep: failed a task lost with its workflow execution", "task_id", t.ID, "run_deadline", *t.Run.Deadline)
	}
}

func (a *App) resendStale(ctx context.Context, now time.Time) {
	stale, err := a.store.StaleQueued(ctx, now.Add(-a.limits.RequeueAfter), 500)
	if err != nil {
		a.log.ErrorContext(ctx, "sweep: list stale queued tasks", "err", err)
		return
	}
	resentBatches := map[string]bool{}
	for _, t := range stale {
		s := Submission{Tasks: []*task.Task{t}}
		if t.BatchID != "" {
			// A batch's tasks are started by the batch's workflow: re-send
			// the batch, once.
			if resentBatches[t.BatchID] {
				continue
			}
			resentBatches[t.BatchID] = true
			s.Batch = &task.Batch{ID: t.BatchID}
		}
		if err := a.enqueue(ctx, s); err != nil {
			a.log.ErrorContext(ctx, "sweep: re-send task", "task_id", t.ID, "err", err)
			continue
		}
		// Touch the task so that it is re-sent once per RequeueAfter, not
		// on every sweep.
		_, err := a.change(ctx, "", t.ID, func(t *task.Task, now time.Time) ([]task.Event, error) {
			if t.Status != task.StatusQueued {
				return nil, task.ErrInvalidTransition
			}
			touch(t, now)
			return nil, nil
		})
		if err != nil && !errors.Is(err, task.ErrInvalidTransition) && !errors.Is(err, task.ErrTerminal) {
			a.log.WarnContext(ctx, "sweep: touch re-sent task", "task_id", t.ID, "err", err)
		}
		a.log.InfoContext(ctx, "sweep: re-sent a queued task", "task_id", t.ID)
	}
}

// sleep waits d or until ctx ends, reporting whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
