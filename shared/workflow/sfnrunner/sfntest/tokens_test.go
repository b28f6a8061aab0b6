package sfntest_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/videoai/mediatasks/shared/workflow/sfnrunner/sfntest"
)

// The task token calls, with AWS's answers: a token is answered once
// (then TaskTimedOut), an unknown one is InvalidToken, a success's output
// must be JSON, a heartbeat keeps the token open; with a handler, every
// call goes to it.
func TestTaskTokens(t *testing.T) {
	t.Parallel()
	srv := sfntest.New(t)
	c := srv.Client()
	ctx := context.Background()
	machine := srv.AddStateMachine("task")
	if _, err := start(t, c, machine, "t1", `{}`); err != nil {
		t.Fatal(err)
	}
	token := srv.IssueToken("arn:aws:states:us-east-1:123456789012:execution:task:t1")
	success := func(tok, output string) error {
		_, err := c.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(tok), Output: aws.String(output)})
		return err
	}
	var invalidOutput *types.InvalidOutput
	if err := success(token, "not json"); !errors.As(err, &invalidOutput) {
		t.Fatalf("output not JSON: %v, want InvalidOutput", err)
	}
	if _, err := c.SendTaskHeartbeat(ctx, &sfn.SendTaskHeartbeatInput{TaskToken: aws.String(token)}); err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
	if err := success(token, `{"ok":true}`); err != nil {
		t.Fatal(err)
	}
	if a, ok := srv.Answered(token); !ok || a.Op != "SendTaskSuccess" || a.Output != `{"ok":true}` {
		t.Fatalf("answered %+v, %v", a, ok)
	}
	var timedOut *types.TaskTimedOut
	if _, err := c.SendTaskFailure(ctx, &sfn.SendTaskFailureInput{TaskToken: aws.String(token), Error: aws.String("X")}); !errors.As(err, &timedOut) {
		t.Fatalf("a second answer: %v, want TaskTimedOut", err)
	}
	var invalid *types.InvalidToken
	if err := success("AAAAunknown", `{}`); !errors.As(err, &invalid) {
		t.Fatalf("unknown token: %v, want InvalidToken", err)
	}
	if err := success(strings.Repeat("A", 2049), `{}`); !errors.As(err, &invalid) {
		t.Fatalf("token over 2048 characters: %v, want InvalidToken", err)
	}

	var got []sfntest.TokenAnswer
	srv.HandleTokens(func(a sfntest.TokenAnswer) error {
		got = append(got, a)
		if a.Token == "gone" {
			return sfntest.ErrTokenGone
		}
		return nil
	})
	if err := success("elsewhere", `{}`); err != nil {
		t.Fatal(err)
	}
	if err := success("gone", `{}`); !errors.As(err, &timedOut) {
		t.Fatalf("a handler's gone token: %v, want TaskTimedOut", err)
	}
	if len(got) != 2 || got[0].Token != "elsewhere" || got[0].Output != `{}` {
		t.Fatalf("the handler got %+v", got)
	}
}
