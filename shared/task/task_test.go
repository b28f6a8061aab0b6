package task_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/task"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func newTask() *task.Task {
	return &task.Task{ID: "t1", UserID: "alice", Type: task.TypeImageGeneration, Status: task.StatusQueued,
		Priority: task.PriorityNormal, CreatedAt: t0, UpdatedAt: t0, Version: 1}
}

func TestTransitions(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		path    []task.Status
		wantErr error
		event   task.EventType
	}{
		"start":                 {path: []task.Status{task.StatusRunning}, event: task.EventTaskStarted},
		"complete":              {path: []task.Status{task.StatusRunning, task.StatusCompleted}, event: task.EventTaskCompleted},
		"fail while queued":     {path: []task.Status{task.StatusFailed}, event: task.EventTaskFailed},
		"cancel while queued":   {path: []task.Status{task.StatusCanceled}, event: task.EventTaskCanceled},
		"back to queued":        {path: []task.Status{task.StatusRunning, task.StatusQueued}, event: task.EventTaskQueued},
		"complete while queued": {path: []task.Status{task.StatusCompleted}, wantErr: task.ErrInvalidTransition},
		"queued to queued":      {path: []task.Status{task.StatusQueued}, wantErr: task.ErrInvalidTransition},
		"completed never moves": {path: []task.Status{task.StatusRunning, task.StatusCompleted, task.StatusFailed}, wantErr: task.ErrTerminal},
		"canceled never moves":  {path: []task.Status{task.StatusCanceled, task.StatusRunning}, wantErr: task.ErrTerminal},
		"failed never moves":    {path: []task.Status{task.StatusFailed, task.StatusCanceled}, wantErr: task.ErrTerminal},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tk := newTask()
			var ev task.Event
			var err error
			for i, s := range tc.path {
				before := tk.Version
				ev, err = tk.Transition(s, t0.Add(time.Duration(i+1)*time.Second))
				if err != nil {
					if tk.Version != before {
						t.Fatalf("a refused transition bumped the version")
					}
					break
				}
				if tk.Version != before+1 || ev.Seq != tk.Version || ev.SubjectID != tk.ID {
					t.Fatalf("version %d -> %d, event %+v", before, tk.Version, ev)
				}
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && ev.Type != tc.event {
				t.Fatalf("event = %s, want %s", ev.Type, tc.event)
			}
		})
	}
}

func TestTimesAndProgress(t *testing.T) {
	t.Parallel()
	tk := newTask()
	if _, err := tk.SetProgress(0.5, t0); !errors.Is(err, task.ErrInvalidTransition) {
		t.Fatalf("progress on a queued task: err = %v", err)
	}
	tk.Transition(task.StatusRunning, t0.Add(time.Second))
	ev, err := tk.SetProgress(1.7, t0.Add(2*time.Second))
	if err != nil || tk.Progress != 1 || ev.Type != task.EventTaskProgress {
		t.Fatalf("progress = %v, event %s, err %v", tk.Progress, ev.Type, err)
	}
	tk.Transition(task.StatusQueued, t0.Add(3*time.Second))
	tk.Transition(task.StatusRunning, t0.Add(4*time.Second))
	if !tk.StartedAt.Equal(t0.Add(time.Second)) {
		t.Fatalf("started_at moved on a second start: %v", tk.StartedAt)
	}
	tk.Transition(task.StatusCompleted, t0.Add(11*time.Second))
	if tk.Duration() != 10*time.Second || tk.Progress != 1 || !tk.CompletedAt.Equal(t0.Add(11*time.Second)) {
		t.Fatalf("duration %v progress %v completed %v", tk.Duration(), tk.Progress, tk.CompletedAt)
	}
}

func TestCloneIsDeep(t *testing.T) {
	t.Parallel()
	tk := newTask()
	tk.Metadata = map[string]string{"a": "1"}
	tk.Output = &task.Output{Files: []task.File{{Key: "k"}}}
	c := tk.Clone()
	c.Metadata["a"] = "2"
	c.Output.Files[0].Key = "other"
	c.Transition(task.StatusRunning, t0)
	if tk.Metadata["a"] != "1" || tk.Output.Files[0].Key != "k" || tk.Status != task.StatusQueued || tk.StartedAt != nil {
		t.Fatalf("the clone shares state with the original: %+v", tk)
	}
}

func TestBatchCompletesOnceWhenEveryTaskEnds(t *testing.T) {
	t.Parallel()
	b := &task.Batch{ID: "b1", TaskIDs: []string{"t1", "t2"}, Status: task.BatchRunning, Counts: task.NewCounts(2), Version: 1}
	if ev, _ := b.Move(task.StatusQueued, task.StatusRunning, t0); ev != nil {
		t.Fatal("completed too early")
	}
	if ev, _ := b.Move(task.StatusRunning, task.StatusCompleted, t0); ev != nil {
		t.Fatal("completed with a task still queued")
	}
	ev, _ := b.Move(task.StatusQueued, task.StatusCanceled, t0)
	if ev == nil || ev.Type != task.EventBatchCompleted || b.Status != task.BatchCompleted || b.CompletedAt == nil {
		t.Fatalf("batch = %+v, event %+v", b, ev)
	}
	if b.Counts[task.StatusCompleted] != 1 || b.Counts[task.StatusCanceled] != 1 || b.Counts[task.StatusQueued] != 0 || b.Version != 4 {
		t.Fatalf("counts = %v version %d", b.Counts, b.Version)
	}
}

func TestWebhookEventsDefault(t *testing.T) {
	t.Parallel()
	tk := newTask()
	if tk.WantsEvent(task.EventTaskCompleted) {
		t.Fatal("a task without a webhook wants events")
	}
	tk.WebhookURL = "https://example.com/hook"
	if !tk.WantsEvent(task.EventTaskFailed) || tk.WantsEvent(task.EventTaskProgress) {
		t.Fatal("default subscription: want terminal events only")
	}
	tk.WebhookEvents = []task.EventType{task.EventTaskProgress}
	if !tk.WantsEvent(task.EventTaskProgress) || tk.WantsEvent(task.EventTaskFailed) {
		t.Fatal("explicit subscription not honoured")
	}
}

func TestTaskJSONShowsEveryField(t *testing.T) {
	t.Parallel()
	data, err := json.Marshal(newTask())
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"id", "task_type", "status", "progress", "priority", "input_data", "output_data", "error",
		"provider", "attempts", "batch_id", "metadata", "webhook_url", "created_at", "started_at", "completed_at"} {
		if _, ok := got[f]; !ok {
			t.Errorf("field %s is missing from %s", f, data)
		}
	}
	if got["provider"] != nil || got["batch_id"] != nil || got["webhook_url"] != nil {
		t.Errorf("unset optional strings should be null: %s", data)
	}
	if m, ok := got["metadata"].(map[string]any); !ok || len(m) != 0 {
		t.Errorf("metadata = %v, want {}", got["metadata"])
	}
	if _, ok := got["user_id"]; ok {
		t.Error("the owner is shown")
	}
	var back task.Task
	tk := newTask()
	tk.BatchID, tk.Provider = "b1", "sim"
	data, _ = json.Marshal(tk)
	if err := json.Unmarshal(data, &back); err != nil || back.BatchID != "b1" || back.Provider != "sim" {
		t.Fatalf("round trip = %+v, %v", back, err)
	}
}

func TestEventsThatEndATask(t *testing.T) {
	t.Parallel()
	for _, e := range task.EventTypes {
		want := e == task.EventTaskCompleted || e == task.EventTaskFailed || e == task.EventTaskCanceled
		if e.EndsTask() != want {
			t.Errorf("%s.EndsTask() = %v, want %v", e, e.EndsTask(), want)
		}
	}
}
