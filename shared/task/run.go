package task

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"
)

// Run is the workflow execution a task is claimed for. The first start
// step of an execution claims the task in the write that starts it; the
// start step of any other execution then finds it taken and does
// nothing, so an execution run twice (Express executions are at least
// once) calls no provider twice.
type Run struct {
	// Key is RunKey of the execution's id; empty while unclaimed.
	Key string
	// Deadline is when the execution ends at the latest, finished or not,
	// for runners whose executions are bounded (Express: 5 minutes after
	// its start); nil for a durable execution. A task still running well
	// after it was lost with its execution, and the sweep fails it.
	Deadline *time.Time
}

// RunKey is what a task stores of the id of the execution that claimed
// it: 16 characters of its SHA-256, not the id itself. An Express
// execution's ARN is about 150 bytes, and a task item's size is what
// each of its writes costs; the claim only needs to tell executions
// apart.
func RunKey(executionID string) string {
	if executionID == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(executionID))
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

// Claim gives the task to run unless another execution has it
// (ErrClaimed). The execution that holds it may claim it again (its
// retries, a failover's next start) and keeps its first deadline. An
// empty run.Key claims nothing: an execution started by a definition
// that gives no execution id.
func (t *Task) Claim(run Run) error {
	if t.ClaimedByAnother(run) {
		return fmt.Errorf("task %s: %w", t.ID, ErrClaimed)
	}
	if run.Key == "" || t.Run.Key == run.Key {
		return nil
	}
	t.Run = Run{Key: run.Key}
	if run.Deadline != nil {
		d := *run.Deadline
		t.Run.Deadline = &d
	}
	return nil
}

// ClaimedByAnother reports whether an execution other than run's has
// claimed the task (Claim would refuse run).
func (t *Task) ClaimedByAnother(run Run) bool {
	return run.Key != "" && t.Run.Key != "" && t.Run.Key != run.Key
}

// RunLost reports whether the task is running on a bounded execution
// whose deadline passed before cutoff: that execution has ended without
// finishing the task.
func (t *Task) RunLost(cutoff time.Time) bool {
	return t.Status == StatusRunning && t.Run.Deadline != nil && t.Run.Deadline.Before(cutoff)
}
