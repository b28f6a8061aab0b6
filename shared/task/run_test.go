package task_test

import (
	"errors"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/task"
)

// The first execution to claim a task keeps it: its own later claims
// pass and keep its deadline, another execution's are refused.
func TestClaimKeepsTheFirstExecution(t *testing.T) {
	t.Parallel()
	first, second := task.RunKey("arn:aws:states:r:1:express:m:tsk_1:a"), task.RunKey("arn:aws:states:r:1:express:m:tsk_1:b")
	if first == second || len(first) != 16 {
		t.Fatalf("run keys %q and %q: want two distinct 16-character keys", first, second)
	}
	deadline := time.Date(2031, 1, 1, 0, 5, 0, 0, time.UTC)
	tk := &task.Task{ID: "tsk_1", Status: task.StatusQueued}
	if err := tk.Claim(task.Run{Key: first, Deadline: &deadline}); err != nil {
		t.Fatal(err)
	}
	later := deadline.Add(time.Minute)
	if err := tk.Claim(task.Run{Key: first, Deadline: &later}); err != nil {
		t.Fatalf("the holder's second claim: %v", err)
	}
	if tk.Run.Key != first || !tk.Run.Deadline.Equal(deadline) {
		t.Fatalf("run after the holder's second claim: %+v, want the first deadline %s", tk.Run, deadline)
	}
	if err := tk.Claim(task.Run{Key: second}); !errors.Is(err, task.ErrClaimed) {
		t.Fatalf("another execution's claim: %v, want ErrClaimed", err)
	}
	if err := tk.Claim(task.Run{}); err != nil {
		t.Fatalf("a claim without an execution id: %v", err)
	}
	if tk.Run.Key != first {
		t.Fatalf("run key %q after refused claims, want %q", tk.Run.Key, first)
	}
}

// A task is lost with its run once running past its bounded run's
// deadline; a durable run is never lost.
func TestRunLost(t *testing.T) {
	t.Parallel()
	deadline := time.Date(2031, 1, 1, 0, 5, 0, 0, time.UTC)
	cases := map[string]struct {
		status task.Status
		run    task.Run
		cutoff time.Time
		want   bool
	}{
		"running past its deadline": {task.StatusRunning, task.Run{Key: "k", Deadline: &deadline}, deadline.Add(time.Second), true},
		"running before it":         {task.StatusRunning, task.Run{Key: "k", Deadline: &deadline}, deadline, false},
		"a durable run":             {task.StatusRunning, task.Run{Key: "k"}, deadline.Add(time.Hour), false},
		"ended past its deadline":   {task.StatusCompleted, task.Run{Key: "k", Deadline: &deadline}, deadline.Add(time.Hour), false},
	}
	for name, c := range cases {
		tk := &task.Task{ID: "tsk_1", Status: c.status, Run: c.run}
		if got := tk.RunLost(c.cutoff); got != c.want {
			t.Errorf("%s: RunLost = %v, want %v", name, got, c.want)
		}
	}
}
