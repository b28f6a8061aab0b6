package sfnrunner_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/videoai/mediatasks/shared/callback"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/workflow/sfnrunner"
	"github.com/videoai/mediatasks/shared/workflow/sfnrunner/sfntest"
)

// A callback ends the wait once: SendTaskSuccess with the token; a
// retried callback, a token of an ended execution or an unknown one is
// ErrNotWaiting, which the callback endpoint answers 2xx.
func TestResumeWaitSendsTaskSuccessOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sfnrunner.Options{})
	ctx := context.Background()
	for _, id := range []string{"waiting", "ended"} {
		if err := f.runner.Start(ctx, &task.Task{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	waiting, ended := f.srv.IssueToken(taskExecution("waiting")), f.srv.IssueToken(taskExecution("ended"))
	f.srv.End(taskExecution("ended"), sfntest.StatusSucceeded, `{}`)

	if err := f.runner.ResumeWait(ctx, waiting); err != nil {
		t.Fatal(err)
	}
	a, ok := f.srv.Answered(waiting)
	if !ok || a.Op != "SendTaskSuccess" || !json.Valid([]byte(a.Output)) {
		t.Fatalf("the token's answer: %+v, %v", a, ok)
	}
	for name, tok := range map[string]string{"again": waiting, "ended": ended, "unknown": "AAAAnope"} {
		if err := f.runner.ResumeWait(ctx, tok); !errors.Is(err, callback.ErrNotWaiting) {
			t.Errorf("%s: %v, want ErrNotWaiting", name, err)
		}
	}
	// A failure of the service itself is not ErrNotWaiting: the provider
	// is answered 5xx and retries.
	f.srv.FailNext("SendTaskSuccess", 10, sfntest.Internal)
	if err := f.runner.ResumeWait(ctx, f.srv.IssueToken(taskExecution("waiting"))); err == nil || errors.Is(err, callback.ErrNotWaiting) {
		t.Fatalf("with the service failing: %v", err)
	}
}
