package sfntest_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"

	"github.com/videoai/mediatasks/shared/workflow/sfnrunner/sfntest"
)

func start(t *testing.T, c *sfn.Client, machine, name, input string) (*sfn.StartExecutionOutput, error) {
	t.Helper()
	return c.StartExecution(context.Background(), &sfn.StartExecutionInput{
		StateMachineArn: aws.String(machine), Name: aws.String(name), Input: aws.String(input),
	})
}

func TestStartExecutionIsIdempotentWhileRunning(t *testing.T) {
	t.Parallel()
	srv := sfntest.New(t)
	c := srv.Client()
	machine := srv.AddStateMachine("task")

	first, err := start(t, c, machine, "t1", `{"a":1}`)
	if err != nil {
		t.Fatal(err)
	}
	want := "arn:aws:states:us-east-1:123456789012:execution:task:t1"
	if got := aws.ToString(first.ExecutionArn); got != want {
		t.Fatalf("execution ARN %s, want %s", got, want)
	}
	again, err := start(t, c, machine, "t1", `{"a":1}`)
	if err != nil {
		t.Fatalf("same name and input while running: %v", err)
	}
	if aws.ToString(again.ExecutionArn) != want || !again.StartDate.Equal(*first.StartDate) {
		t.Fatalf("second start answered %s at %v, want the first's %v", aws.ToString(again.ExecutionArn), again.StartDate, first.StartDate)
	}

	_, err = start(t, c, machine, "t1", `{"a":2}`)
	var exists *types.ExecutionAlreadyExists
	if !errors.As(err, &exists) {
		t.Fatalf("other input: %v, want ExecutionAlreadyExists", err)
	}

	srv.End(want, sfntest.StatusSucceeded, `{}`)
	if _, err := start(t, c, machine, "t1", `{"a":1}`); !errors.As(err, &exists) {
		t.Fatalf("same input after the execution closed: %v, want ExecutionAlreadyExists", err)
	}
	if n := len(srv.Executions()); n != 1 {
		t.Fatalf("%d executions, want 1", n)
	}
}

// An Express machine's start is not idempotent: the same name and input
// start a second execution, each with an ARN of its own.
func TestExpressStartsAnExecutionEveryTime(t *testing.T) {
	t.Parallel()
	srv := sfntest.New(t)
	c := srv.Client()
	machine := srv.AddExpressStateMachine("task")
	var arns []string
	for range 2 {
		out, err := start(t, c, machine, "t1", `{"a":1}`)
		if err != nil {
			t.Fatal(err)
		}
		arns = append(arns, aws.ToString(out.ExecutionArn))
	}
	prefix := "arn:aws:states:us-east-1:123456789012:express:task:t1:"
	if arns[0] == arns[1] || !strings.HasPrefix(arns[0], prefix) || !strings.HasPrefix(arns[1], prefix) {
		t.Fatalf("execution ARNs %v, want two under %s", arns, prefix)
	}
	if n := len(srv.Executions()); n != 2 {
		t.Fatalf("%d executions, want 2", n)
	}
	d, err := c.DescribeStateMachine(context.Background(), &sfn.DescribeStateMachineInput{StateMachineArn: aws.String(machine)})
	if err != nil {
		t.Fatal(err)
	}
	if d.Type != types.StateMachineTypeExpress {
		t.Fatalf("machine type %s, want EXPRESS", d.Type)
	}
}

func TestStartExecutionRefusals(t *testing.T) {
	t.Parallel()
	srv := sfntest.New(t)
	c := srv.Client()
	machine := srv.AddStateMachine("task")

	var missing *types.StateMachineDoesNotExist
	if _, err := start(t, c, strings.Replace(machine, ":task", ":other", 1), "n", `{}`); !errors.As(err, &missing) {
		t.Errorf("unknown machine: %v, want StateMachineDoesNotExist", err)
	}
	var badARN *types.InvalidArn
	if _, err := start(t, c, "arn:aws:lambda:us-east-1:123456789012:function:f", "n", `{}`); !errors.As(err, &badARN) {
		t.Errorf("a Lambda ARN: %v, want InvalidArn", err)
	}
	var badInput *types.InvalidExecutionInput
	if _, err := start(t, c, machine, "n", `{not json`); !errors.As(err, &badInput) {
		t.Errorf("input not JSON: %v, want InvalidExecutionInput", err)
	}
	if _, err := start(t, c, machine+":live", "via-alias", `{}`); err != nil {
		t.Errorf("an alias of the machine: %v", err)
	}
}

func TestExecutionNames(t *testing.T) {
	t.Parallel()
	srv := sfntest.New(t)
	c := srv.Client()
	machine := srv.AddStateMachine("task")

	valid := []string{"0190a8b2-7c3e-7d4f-9a1b-2c3d4e5f6a7b", "a", "Task_1.x-y", strings.Repeat("n", 80), "café"}
	for _, name := range valid {
		if _, err := start(t, c, machine, name, `{}`); err != nil {
			t.Errorf("name %q: %v", name, err)
		}
	}
	invalid := []string{"", strings.Repeat("n", 81), "a b", "a\tb", "a/b", "a:b", "a*b", "a?b", "a{b", "a]b", "a#b", "a%b",
		"a\\b", "a^b", "a|b", "a~b", "a`b", "a$b", "a&b", "a,b", "a;b", `a"b`, "a\x01b", "a\u0085b", "a\ufffeb"}
	for _, name := range invalid {
		var bad *types.InvalidName
		if _, err := start(t, c, machine, name, `{}`); !errors.As(err, &bad) {
			t.Errorf("name %q: %v, want InvalidName", name, err)
		}
	}
}

func TestStopExecution(t *testing.T) {
	t.Parallel()
	srv := sfntest.New(t)
	c := srv.Client()
	ctx := context.Background()
	machine := srv.AddStateMachine("task")
	out, err := start(t, c, machine, "t1", `{}`)
	if err != nil {
		t.Fatal(err)
	}
	arn := out.ExecutionArn

	if _, err := c.StopExecution(ctx, &sfn.StopExecutionInput{ExecutionArn: arn, Error: aws.String("E"), Cause: aws.String("why")}); err != nil {
		t.Fatal(err)
	}
	d, err := c.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: arn})
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != types.ExecutionStatusAborted || aws.ToString(d.Error) != "E" || aws.ToString(d.Cause) != "why" || d.StopDate == nil {
		t.Fatalf("after stop: status %s error %q cause %q stop %v", d.Status, aws.ToString(d.Error), aws.ToString(d.Cause), d.StopDate)
	}
	// A closed execution: stopping it again is no error and changes nothing.
	if _, err := c.StopExecution(ctx, &sfn.StopExecutionInput{ExecutionArn: arn, Error: aws.String("F")}); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	e, _ := srv.Execution(*arn)
	if e.Error != "E" || len(e.Events) != 2 {
		t.Fatalf("second stop changed the execution: error %q, %d events", e.Error, len(e.Events))
	}

	var missing *types.ExecutionDoesNotExist
	_, err = c.StopExecution(ctx, &sfn.StopExecutionInput{ExecutionArn: aws.String(strings.Replace(*arn, ":t1", ":t2", 1))})
	if !errors.As(err, &missing) {
		t.Fatalf("stop of an unknown execution: %v, want ExecutionDoesNotExist", err)
	}
	if _, err := c.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(strings.Replace(*arn, ":t1", ":t2", 1))}); !errors.As(err, &missing) {
		t.Fatalf("describe of an unknown execution: %v, want ExecutionDoesNotExist", err)
	}
}

func TestExecutionHistory(t *testing.T) {
	t.Parallel()
	srv := sfntest.New(t)
	c := srv.Client()
	ctx := context.Background()
	machine := srv.AddStateMachine("task")
	out, err := start(t, c, machine, "t1", `{"task_id":"t1"}`)
	if err != nil {
		t.Fatal(err)
	}
	arn := out.ExecutionArn
	srv.Append(*arn,
		sfntest.StateEntered("Task", "Start", `{"task_id":"t1"}`),
		sfntest.LambdaScheduled("arn:aws:lambda:us-east-1:123456789012:function:process", `{"action":"start"}`),
		sfntest.LambdaStarted(),
		sfntest.LambdaSucceeded(`{"state":"pending"}`),
		sfntest.StateExited("Task", "Start", `{"step":{"state":"pending"}}`),
	)
	srv.End(*arn, sfntest.StatusSucceeded, `{"ok":true}`)

	// Newest first, two at a time.
	var got []types.HistoryEvent
	pages := sfn.NewGetExecutionHistoryPaginator(c, &sfn.GetExecutionHistoryInput{ExecutionArn: arn, ReverseOrder: true, MaxResults: 2})
	for pages.HasMorePages() {
		p, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Events) > 2 {
			t.Fatalf("page of %d events, asked 2", len(p.Events))
		}
		got = append(got, p.Events...)
	}
	wantTypes := []types.HistoryEventType{"ExecutionSucceeded", "TaskStateExited", "LambdaFunctionSucceeded", "LambdaFunctionStarted",
		"LambdaFunctionScheduled", "TaskStateEntered", "ExecutionStarted"}
	if len(got) != len(wantTypes) {
		t.Fatalf("%d events, want %d", len(got), len(wantTypes))
	}
	for i, ev := range got {
		if ev.Type != wantTypes[i] {
			t.Errorf("event %d is %s, want %s", i, ev.Type, wantTypes[i])
		}
		if ev.Id != int64(len(got)-i) || ev.PreviousEventId != ev.Id-1 || ev.Timestamp == nil {
			t.Errorf("event %d: id %d previous %d timestamp %v", i, ev.Id, ev.PreviousEventId, ev.Timestamp)
		}
	}
	if d := got[1].StateExitedEventDetails; d == nil || aws.ToString(d.Name) != "Start" || aws.ToString(d.Output) != `{"step":{"state":"pending"}}` {
		t.Errorf("state exited details: %+v", d)
	}
	if d := got[2].LambdaFunctionSucceededEventDetails; d == nil || aws.ToString(d.Output) != `{"state":"pending"}` {
		t.Errorf("lambda succeeded details: %+v", d)
	}
	if d := got[5].StateEnteredEventDetails; d == nil || aws.ToString(d.Input) != `{"task_id":"t1"}` {
		t.Errorf("state entered details: %+v", d)
	}
	if d := got[6].ExecutionStartedEventDetails; d == nil || aws.ToString(d.Input) != `{"task_id":"t1"}` {
		t.Errorf("execution started details: %+v", d)
	}

	// Without execution data, names stay and inputs go.
	p, err := c.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: arn, IncludeExecutionData: aws.Bool(false)})
	if err != nil {
		t.Fatal(err)
	}
	if d := p.Events[1].StateEnteredEventDetails; d == nil || aws.ToString(d.Name) != "Start" || d.Input != nil {
		t.Errorf("without data, state entered details: %+v", d)
	}

	var badToken *types.InvalidToken
	if _, err := c.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: arn, NextToken: aws.String("nope")}); !errors.As(err, &badToken) {
		t.Errorf("bad token: %v, want InvalidToken", err)
	}
}

func TestInjectedFailures(t *testing.T) {
	t.Parallel()
	srv := sfntest.New(t)
	c := srv.Client()
	ctx := context.Background()
	machine := srv.AddStateMachine("task")

	// The SDK's standard retryer makes three attempts.
	srv.FailNext("DescribeStateMachine", 1, sfntest.Throttled)
	srv.FailNext("DescribeStateMachine", 1, sfntest.Unavailable)
	if _, err := c.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: aws.String(machine)}); err != nil {
		t.Fatalf("after a throttle and a 503: %v", err)
	}
	calls := srv.Calls("DescribeStateMachine")
	if len(calls) != 3 || calls[0].Failed == nil || calls[1].Failed == nil || calls[2].Failed != nil {
		t.Fatalf("calls %+v, want two failed then one served", calls)
	}

	srv.FailNext("StartExecution", 3, sfntest.Internal)
	_, err := start(t, c, machine, "t1", `{}`)
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InternalFailure" {
		t.Fatalf("three 500s: %v, want InternalFailure", err)
	}
	var re interface{ HTTPStatusCode() int }
	if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusInternalServerError {
		t.Fatalf("three 500s: status of %v", err)
	}
	if n := len(srv.Executions()); n != 0 {
		t.Fatalf("a failed call started %d executions", n)
	}
}
