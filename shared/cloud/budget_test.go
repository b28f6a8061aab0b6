package cloud_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/api"
	"github.com/videoai/mediatasks/shared/cloud"
	"github.com/videoai/mediatasks/shared/task"
)

// The workflow budget on the AWS adapters (DynamoDB Local, SQS on the
// emulator, Step Functions on its test server), with workflow.
// max_in_progress 10 and two dispatchers sharing it as two Lambdas would:
// 15 normal tasks start 9 workflows (a reserve of 1 is kept for higher
// priorities) and the rest wait in SQS; a high task submitted after them
// starts at once, before the older normal ones; as tasks end, the waiting
// ones start; executions in progress never pass 10, and no message is
// dead-lettered for waiting.
func TestBudgetBoundsWorkflowsAcrossDispatchers(t *testing.T) {
	_, sfn := cloudEnv(t)
	t.Setenv(cloud.EnvConfig, "workflow:\n  max_in_progress: 10\n")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p, err := cloud.FromEnv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	key := apiKey(t, p, "usr_budget")
	submit := func(priority string, i int) string {
		rec := call(t, p.API, "POST", api.Prefix+"/images/generate", key, map[string]any{"prompt": fmt.Sprintf("a fox %d", i), "priority": priority})
		if rec.Code != http.StatusAccepted {
			t.Fatalf("submit: %d %s", rec.Code, rec.Body)
		}
		var tk task.Task
		if err := json.Unmarshal(rec.Body.Bytes(), &tk); err != nil {
			t.Fatal(err)
		}
		return tk.ID
	}
	var normal []string
	for i := range 15 {
		normal = append(normal, submit("normal", i))
	}

	// Two dispatchers, as two Lambda containers taking messages.
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	for range 2 {
		wg.Go(func() { p.App.RunDispatcher(runCtx) })
	}
	var mu sync.Mutex
	most := 0
	running := func() map[string]bool {
		ids := map[string]bool{}
		for _, e := range sfn.Executions() {
			if e.Status == "RUNNING" {
				ids[e.Name] = true
			}
		}
		mu.Lock()
		most = max(most, len(ids))
		mu.Unlock()
		return ids
	}
	wg.Go(func() { // watch the bound all along
		for runCtx.Err() == nil {
			running()
			time.Sleep(20 * time.Millisecond)
		}
	})
	started := func(id string) bool {
		for _, e := range sfn.Executions() {
			if e.Name == id {
				return true
			}
		}
		return false
	}
	eventually(t, 30*time.Second, func() error {
		if n := len(running()); n != 9 {
			return fmt.Errorf("%d normal workflows running, want 9", n)
		}
		return nil
	})
	time.Sleep(3 * time.Second) // the waiting messages come back, and wait again
	if n := len(running()); n != 9 {
		t.Fatalf("%d workflows running with the budget's normal share taken, want 9", n)
	}
	var waiting []string
	for _, id := range normal {
		if !started(id) {
			waiting = append(waiting, id)
		}
	}
	if len(waiting) != 6 {
		t.Fatalf("%d normal tasks waiting, want 6", len(waiting))
	}

	high := submit("high", 99)
	eventually(t, 30*time.Second, func() error {
		if !started(high) {
			return fmt.Errorf("the high task has not started")
		}
		return nil
	})
	for _, id := range waiting {
		if started(id) {
			t.Fatalf("normal task %s started with the budget full", id)
		}
	}

	// End the running workflows' tasks, as their last steps would: each
	// gives its slot back, and the waiting tasks start.
	ended := map[string]bool{}
	for len(ended) < 16 {
		for id := range running() {
			if ended[id] {
				continue
			}
			if _, err := p.App.Fail(ctx, id, &task.Error{Code: "test", Message: "ended by the test"}); err != nil {
				t.Fatal(err)
			}
			for _, e := range sfn.Executions() {
				if e.Name == id {
					sfn.End(e.ARN, "SUCCEEDED", "{}")
				}
			}
			ended[id] = true
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d of 16 tasks ended", len(ended))
		case <-time.After(50 * time.Millisecond):
		}
	}
	if n, err := p.Store.InProgress(ctx); err != nil || n != 0 {
		t.Errorf("budget after every task ended: %d %v", n, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if most > 10 {
		t.Errorf("%d workflows in progress at once, over the budget of 10", most)
	}
	st, err := p.Tasks.Stats(ctx)
	if err != nil || st.Dead != 0 {
		t.Errorf("dead letters %d (%v): a message that waited was dead-lettered", st.Dead, err)
	}
	if n := len(sfn.Executions()); n != 16 {
		t.Errorf("%d executions, want one per task: 16", n)
	}
}
