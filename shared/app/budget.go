package app

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/videoai/mediatasks/shared/queue"
	"github.com/videoai/mediatasks/shared/task"
)

// Budget bounds the workflows in progress across every dispatcher that
// shares it (in the cloud, each Lambda invocation that takes task messages
// from SQS): a workflow starts only with a slot, taken by its holder (the
// task, or the batch whose workflow runs its tasks) and given back when
// the holder ends. On one machine the runner's own bound (Admission) does
// this, and there is no Budget.
type Budget interface {
	// Take takes a slot for holder if fewer than limit are taken, and
	// reports whether holder has one: a holder that already has a slot
	// keeps it (a message received twice takes one slot).
	Take(ctx context.Context, holder string, limit int) (bool, error)
	// Give gives back holder's slot; a holder without one changes
	// nothing.
	Give(ctx context.Context, holder string) error
	// Holders lists the holders of slots, for the sweep that gives back
	// the slots of holders that ended without giving theirs (a crash
	// between the end and the give).
	Holders(ctx context.Context) ([]string, error)
}

// budgetLimit is how many slots may be taken for a message of priority p
// to take one: a tenth of the bound is kept from normal tasks and two
// tenths from low ones, high ones may take all. So when the budget is
// full, the slots that free go to high tasks first, whatever waits longer
// in the other queues.
func budgetLimit(max int, p task.Priority) int {
	reserve := max / 10
	switch p {
	case task.PriorityLow:
		return max - 2*reserve
	case task.PriorityHigh:
		return max
	default:
		return max - reserve
	}
}

const batchHolderPrefix = "batch:"

func taskHolder(id string) string  { return id }
func batchHolder(id string) string { return batchHolderPrefix + id }

// errNoRoom: the budget, or the task type's share, is full; the message
// waits in the queue.
var errNoRoom = errors.New("no room in the workflow budget")

// take takes a slot for the holder of a message of priority p.
func (a *App) take(ctx context.Context, holder string, p task.Priority) error {
	ok, err := a.budget.Take(ctx, holder, budgetLimit(a.limits.MaxInProgress, p))
	if err != nil {
		return fmt.Errorf("take a workflow slot: %w", err)
	}
	if !ok {
		return errNoRoom
	}
	return nil
}

// give gives back holder's slot; a failure is logged (the sweep gives it
// back later).
func (a *App) give(ctx context.Context, holder string) {
	if a.budget == nil {
		return
	}
	if err := a.budget.Give(ctx, holder); err != nil {
		a.log.WarnContext(ctx, "give back a workflow slot (the sweep will)", "holder", holder, "err", err)
	}
}

// waitForRoom puts a message that found no room back in its
// queue, after a short jittered delay, as a new message: it waits there by
// priority rather than spending its receives (SQS would move a message
// received too often to the dead-letter queue).
func (a *App) waitForRoom(ctx context.Context, d queue.Delivery) error {
	delay := time.Second + rand.N(2*time.Second)
	if err := a.tasks.Send(ctx, queue.Message{Priority: d.Priority, Body: d.Body, Delay: delay}); err != nil {
		return fmt.Errorf("requeue a message that found the budget full: %w", err)
	}
	return nil
}

// reclaimSlots gives back the slots of holders that have ended (a task
// or batch finished, or gone) without giving theirs back.
func (a *App) reclaimSlots(ctx context.Context) {
	holders, err := a.budget.Holders(ctx)
	if err != nil {
		a.log.ErrorContext(ctx, "sweep: list workflow slots", "err", err)
		return
	}
	given := 0
	for _, h := range holders {
		ended := false
		if id, ok := strings.CutPrefix(h, batchHolderPrefix); ok {
			b, err := a.store.GetBatch(ctx, "", id)
			ended = errors.Is(err, task.ErrNotFound) || err == nil && b.Status == task.BatchCompleted
		} else {
			t, err := a.store.GetTask(ctx, "", h)
			ended = errors.Is(err, task.ErrNotFound) || err == nil && t.Status.Terminal()
		}
		if ended {
			a.give(ctx, h)
			given++
		}
	}
	if given > 0 {
		a.log.InfoContext(ctx, "sweep: gave back the workflow slots of ended work", "slots", given)
	}
}
