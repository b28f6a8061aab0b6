// Package sfntest is a Step Functions service for tests: an HTTP server
// that speaks the AWS JSON 1.0 protocol of Step Functions (the one the SDK's
// sfn client uses) for StartExecution, StopExecution, DescribeExecution,
// GetExecutionHistory, DescribeStateMachine and the task token calls
// (SendTaskSuccess, SendTaskFailure, SendTaskHeartbeat), with the
// semantics AWS gives a Standard workflow, and the start of an Express one
// (every start is an execution of its own, named or not). It runs no
// state machine: a test moves an execution along by appending history
// events and ending it, and may make the next calls fail (throttling,
// server errors). It records every call.
//
// None of the Step Functions emulators that run here serves the API over
// HTTP (aws-local-stepfunctions is a library that runs definitions), so the
// few operations the runner needs are served by hand.
package sfntest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/google/uuid"

	"github.com/videoai/mediatasks/shared/testkit/awstest"
)

// Account is the account of the state machines the server holds.
const Account = "123456789012"

// Execution statuses, as on the wire.
const (
	StatusRunning   = "RUNNING"
	StatusSucceeded = "SUCCEEDED"
	StatusFailed    = "FAILED"
	StatusTimedOut  = "TIMED_OUT"
	StatusAborted   = "ABORTED"
)

// Failure is an error answer the server gives instead of serving a call.
type Failure struct {
	Status  int    // HTTP status
	Type    string // the __type of the body
	Message string
}

// Failures that the SDK's standard retryer retries.
var (
	Throttled   = Failure{Status: http.StatusBadRequest, Type: "ThrottlingException", Message: "Rate exceeded"}
	Unavailable = Failure{Status: http.StatusServiceUnavailable, Type: "ServiceUnavailable", Message: "Service Unavailable"}
	Internal    = Failure{Status: http.StatusInternalServerError, Type: "InternalFailure", Message: "Internal Failure"}
)

// Call is one request the server received.
type Call struct {
	Op   string          // the operation: StartExecution, ...
	Body json.RawMessage // the request's JSON
	// Failed is the injected failure it was answered with, if any.
	Failed *Failure
}

// Event is one history event. Details are the event's details object as
// on the wire (its keys are the API's: "name", "input", "output", "error",
// ...); the server puts it under the key the event type uses, and numbers
// the events.
type Event struct {
	Type    string // a history event type: "TaskStateEntered", "LambdaFunctionSucceeded", ...
	Details map[string]any
}

// StateEntered is a <kind>StateEntered event (kind: Task, Wait, Choice,
// Pass, Succeed, Map ...) of the state name with its input JSON.
func StateEntered(kind, name, input string) Event {
	return Event{Type: kind + "StateEntered", Details: map[string]any{
		"name": name, "input": input, "inputDetails": map[string]any{"truncated": false},
	}}
}

// StateExited is a <kind>StateExited event of the state name with its
// output JSON.
func StateExited(kind, name, output string) Event {
	return Event{Type: kind + "StateExited", Details: map[string]any{
		"name": name, "output": output, "outputDetails": map[string]any{"truncated": false},
	}}
}

// LambdaScheduled, LambdaStarted and LambdaSucceeded are the events of a
// Task state whose resource is a Lambda function's ARN.
func LambdaScheduled(resource, input string) Event {
	return Event{Type: "LambdaFunctionScheduled", Details: map[string]any{
		"resource": resource, "input": input, "inputDetails": map[string]any{"truncated": false},
	}}
}

// LambdaStarted: see LambdaScheduled.
func LambdaStarted() Event { return Event{Type: "LambdaFunctionStarted"} }

// LambdaSucceeded: see LambdaScheduled.
func LambdaSucceeded(output string) Event {
	return Event{Type: "LambdaFunctionSucceeded", Details: map[string]any{
		"output": output, "outputDetails": map[string]any{"truncated": false},
	}}
}

// Execution is what the server holds of one execution.
type Execution struct {
	ARN             string
	StateMachineARN string
	Name            string
	Input           string
	Status          string
	Output          string // SUCCEEDED
	Error, Cause    string // FAILED, ABORTED (as StopExecution gave them)
	StartDate       time.Time
	StopDate        time.Time // zero while RUNNING
	Events          []Event
}

type stateMachine struct {
	arn, name  string
	definition string
	created    time.Time
	express    bool
}

// Server is the Step Functions service.
type Server struct {
	t    testing.TB
	http *httptest.Server

	mu         sync.Mutex
	machines   map[string]*stateMachine // by ARN
	executions map[string]*Execution    // by ARN
	failures   map[string][]Failure     // by operation: the next answers
	calls      []Call
	tokens     map[string]*token       // issued by IssueToken
	tokenSink  func(TokenAnswer) error // HandleTokens
}

// TokenAnswer is a SendTaskSuccess, SendTaskFailure or SendTaskHeartbeat
// call: Output for a success, Error and Cause for a failure.
type TokenAnswer struct {
	Op                   string // SendTaskSuccess, SendTaskFailure, SendTaskHeartbeat
	Token                string
	Output, Error, Cause string
}

type token struct {
	execution string
	answered  *TokenAnswer
}

// ErrTokenGone is what a HandleTokens handler returns for a token no task
// waits on any more: the server answers TaskTimedOut, as AWS does.
var ErrTokenGone = errors.New("the task of this token does not exist anymore")

// New starts a server, stopped when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		t:          t,
		machines:   map[string]*stateMachine{},
		executions: map[string]*Execution{},
		failures:   map[string][]Failure{},
		tokens:     map[string]*token{},
	}
	s.http = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.http.Close)
	return s
}

// URL is the endpoint to give the SDK client as BaseEndpoint.
func (s *Server) URL() string { return s.http.URL }

// Client returns an SDK client of the server. Its retryer is the SDK's
// standard one (same attempts, same errors retried) with a backoff of a
// millisecond, so that tests of retried failures do not wait seconds.
func (s *Server) Client() *sfn.Client {
	return sfn.NewFromConfig(awstest.Config(), func(o *sfn.Options) {
		o.BaseEndpoint = aws.String(s.URL())
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
		})
	})
}

// AddStateMachine creates a Standard state machine of that name and
// returns its ARN.
func (s *Server) AddStateMachine(name string) string { return s.addStateMachine(name, false) }

// AddExpressStateMachine creates an Express state machine of that name
// and returns its ARN. Its StartExecution is not idempotent: each start
// is a new execution, arn:...:express:MACHINE:NAME:UUID, whatever its
// name.
func (s *Server) AddExpressStateMachine(name string) string { return s.addStateMachine(name, true) }

func (s *Server) addStateMachine(name string, express bool) string {
	a := arn.ARN{Partition: "aws", Service: "states", Region: awstest.Region, AccountID: Account, Resource: "stateMachine:" + name}.String()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.machines[a] = &stateMachine{arn: a, name: name, definition: `{"StartAt":"Done","States":{"Done":{"Type":"Succeed"}}}`, created: time.Now(), express: express}
	return a
}

// FailNext makes the next times calls of op (e.g. "StartExecution") fail
// with f, before any other effect.
func (s *Server) FailNext(op string, times int, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range times {
		s.failures[op] = append(s.failures[op], f)
	}
}

// Calls returns the calls received so far, of every operation or of those
// named.
func (s *Server) Calls(ops ...string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if len(ops) == 0 || slices.Contains(ops, c.Op) {
			out = append(out, c)
		}
	}
	return out
}

// Execution returns a copy of the execution of that ARN.
func (s *Server) Execution(executionARN string) (Execution, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.executions[executionARN]
	if !ok {
		return Execution{}, false
	}
	c := *e
	c.Events = append([]Event(nil), e.Events...)
	return c, true
}

// Executions returns copies of all executions.
func (s *Server) Executions() []Execution {
	s.mu.Lock()
	arns := make([]string, 0, len(s.executions))
	for a := range s.executions {
		arns = append(arns, a)
	}
	s.mu.Unlock()
	out := make([]Execution, 0, len(arns))
	for _, a := range arns {
		e, _ := s.Execution(a)
		out = append(out, e)
	}
	return out
}

// Append adds events to the history of a running execution, as its state
// machine would when it moves on.
func (s *Server) Append(executionARN string, events ...Event) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.executions[executionARN]
	if !ok {
		s.t.Fatalf("sfntest: no execution %s", executionARN)
		return
	}
	e.Events = append(e.Events, events...)
}

// End ends a running execution with status (SUCCEEDED, FAILED, TIMED_OUT
// or ABORTED) and appends the history event that says so. detail is the
// output of a success, the cause of a failure.
func (s *Server) End(executionARN, status, detail string) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.executions[executionARN]
	if !ok {
		s.t.Fatalf("sfntest: no execution %s", executionARN)
		return
	}
	if e.Status != StatusRunning {
		s.t.Fatalf("sfntest: execution %s is already %s", executionARN, e.Status)
		return
	}
	var ev Event
	switch status {
	case StatusSucceeded:
		e.Output = detail
		ev = Event{Type: "ExecutionSucceeded", Details: map[string]any{"output": detail, "outputDetails": map[string]any{"truncated": false}}}
	case StatusFailed:
		e.Error, e.Cause = "States.TaskFailed", detail
		ev = Event{Type: "ExecutionFailed", Details: map[string]any{"error": e.Error, "cause": detail}}
	case StatusTimedOut:
		e.Error, e.Cause = "States.Timeout", detail
		ev = Event{Type: "ExecutionTimedOut", Details: map[string]any{"error": e.Error, "cause": detail}}
	case StatusAborted:
		e.Cause = detail
		ev = Event{Type: "ExecutionAborted", Details: map[string]any{"cause": detail}}
	default:
		s.t.Fatalf("sfntest: %q is not a closed status", status)
		return
	}
	e.Status, e.StopDate = status, time.Now()
	e.Events = append(e.Events, ev)
}

// apiError is a modeled error answer.
type apiError struct {
	status int
	typ    string
	msg    string
}

// Step Functions names its modeled errors in this namespace in __type
// (the SDK keeps what follows '#').
const errorNamespace = "com.amazonaws.swf.service.v2.model#"

func clientError(typ, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: errorNamespace + typ, msg: fmt.Sprintf(format, args...)}
}

const targetPrefix = "AWSStepFunctions."

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-amzn-RequestId", uuid.NewString())
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	switch {
	case r.Method != http.MethodPost || r.URL.Path != "/":
		writeError(w, &apiError{status: http.StatusNotFound, typ: "UnknownOperationException", msg: "not found"})
		return
	case !ok:
		writeError(w, &apiError{status: http.StatusBadRequest, typ: "UnknownOperationException", msg: "missing or foreign X-Amz-Target"})
		return
	case r.Header.Get("Content-Type") != "application/x-amz-json-1.0":
		writeError(w, &apiError{status: http.StatusBadRequest, typ: "SerializationException", msg: "Content-Type must be application/x-amz-json-1.0"})
		return
	case !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 "):
		writeError(w, &apiError{status: http.StatusBadRequest, typ: "MissingAuthenticationTokenException", msg: "request is not signed"})
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil || !json.Valid(body) {
		writeError(w, &apiError{status: http.StatusBadRequest, typ: "SerializationException", msg: "body is not JSON"})
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	call := Call{Op: op, Body: body}
	if q := s.failures[op]; len(q) > 0 {
		f := q[0]
		s.failures[op] = q[1:]
		call.Failed = &f
		s.calls = append(s.calls, call)
		writeError(w, &apiError{status: f.Status, typ: f.Type, msg: f.Message})
		return
	}
	s.calls = append(s.calls, call)

	var (
		out  any
		aerr *apiError
	)
	switch op {
	case "StartExecution":
		out, aerr = decodeAnd(body, s.startExecution)
	case "StopExecution":
		out, aerr = decodeAnd(body, s.stopExecution)
	case "DescribeExecution":
		out, aerr = decodeAnd(body, s.describeExecution)
	case "GetExecutionHistory":
		out, aerr = decodeAnd(body, s.getExecutionHistory)
	case "DescribeStateMachine":
		out, aerr = decodeAnd(body, s.describeStateMachine)
	case "SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat":
		out, aerr = s.answerToken(op, body)
	default:
		aerr = &apiError{status: http.StatusBadRequest, typ: "UnknownOperationException", msg: "sfntest does not serve " + op}
	}
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	b, err := json.Marshal(out)
	if err != nil {
		writeError(w, &apiError{status: http.StatusInternalServerError, typ: "InternalFailure", msg: err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	_, _ = w.Write(b)
}

func decodeAnd[In any](body []byte, fn func(In) (any, *apiError)) (any, *apiError) {
	var in In
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, &apiError{status: http.StatusBadRequest, typ: "SerializationException", msg: err.Error()}
	}
	return fn(in)
}

func writeError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(e.status)
	b, _ := json.Marshal(map[string]string{"__type": e.typ, "message": e.msg}) // strings: cannot fail
	_, _ = w.Write(b)
}

type startExecutionInput struct {
	StateMachineArn string  `json:"stateMachineArn"`
	Name            *string `json:"name"`
	Input           *string `json:"input"`
}

func (s *Server) startExecution(in startExecutionInput) (any, *apiError) {
	m, aerr := s.machine(in.StateMachineArn)
	if aerr != nil {
		return nil, aerr
	}
	name := uuid.NewString() // AWS names an unnamed execution with a UUID
	if in.Name != nil {
		name = *in.Name
	}
	if err := validName(name); err != nil {
		return nil, clientError("InvalidName", "Invalid Name: '%s' (%v)", name, err)
	}
	input := "{}"
	if in.Input != nil {
		input = *in.Input
	}
	if !json.Valid([]byte(input)) {
		return nil, clientError("InvalidExecutionInput", "Invalid State Machine Execution Input: the input is not JSON")
	}
	if len(input) > 256*1024 {
		return nil, clientError("InvalidExecutionInput", "Invalid State Machine Execution Input: larger than 256 KiB")
	}
	execARN := executionARN(m.arn, name)
	if m.express {
		execARN = expressExecutionARN(m.arn, name)
	}
	if e, ok := s.executions[execARN]; ok {
		// Standard workflows: the same name and input as a running
		// execution answers that execution; a closed one, or another
		// input, is refused.
		if e.Status == StatusRunning && e.Input == input {
			return startExecutionOutput(e), nil
		}
		return nil, clientError("ExecutionAlreadyExists", "Execution Already Exists: '%s'", execARN)
	}
	e := &Execution{
		ARN: execARN, StateMachineARN: m.arn, Name: name, Input: input,
		Status: StatusRunning, StartDate: time.Now(),
		Events: []Event{{Type: "ExecutionStarted", Details: map[string]any{
			"input": input, "inputDetails": map[string]any{"truncated": false},
			"roleArn": "arn:aws:iam::" + Account + ":role/states",
		}}},
	}
	s.executions[execARN] = e
	return startExecutionOutput(e), nil
}

func startExecutionOutput(e *Execution) any {
	return map[string]any{"executionArn": e.ARN, "startDate": epoch(e.StartDate)}
}

type stopExecutionInput struct {
	ExecutionArn string  `json:"executionArn"`
	Error        *string `json:"error"`
	Cause        *string `json:"cause"`
}

func (s *Server) stopExecution(in stopExecutionInput) (any, *apiError) {
	e, aerr := s.execution(in.ExecutionArn)
	if aerr != nil {
		return nil, aerr
	}
	// Stopping a closed execution changes nothing and is no error.
	if e.Status == StatusRunning {
		e.Status, e.StopDate = StatusAborted, time.Now()
		details := map[string]any{}
		if in.Error != nil {
			e.Error = *in.Error
			details["error"] = e.Error
		}
		if in.Cause != nil {
			e.Cause = *in.Cause
			details["cause"] = e.Cause
		}
		e.Events = append(e.Events, Event{Type: "ExecutionAborted", Details: details})
	}
	return map[string]any{"stopDate": epoch(e.StopDate)}, nil
}

type executionArnInput struct {
	ExecutionArn string `json:"executionArn"`
}

func (s *Server) describeExecution(in executionArnInput) (any, *apiError) {
	e, aerr := s.execution(in.ExecutionArn)
	if aerr != nil {
		return nil, aerr
	}
	out := map[string]any{
		"executionArn": e.ARN, "stateMachineArn": e.StateMachineARN, "name": e.Name,
		"status": e.Status, "startDate": epoch(e.StartDate),
		"input": e.Input, "inputDetails": map[string]any{"included": true},
		"redriveCount": 0, "redriveStatus": "NOT_REDRIVABLE",
	}
	if e.Status != StatusRunning {
		out["stopDate"] = epoch(e.StopDate)
	}
	if e.Status == StatusSucceeded {
		out["output"] = e.Output
		out["outputDetails"] = map[string]any{"included": true}
	}
	if e.Error != "" {
		out["error"] = e.Error
	}
	if e.Cause != "" {
		out["cause"] = e.Cause
	}
	return out, nil
}

type getExecutionHistoryInput struct {
	ExecutionArn         string  `json:"executionArn"`
	MaxResults           int     `json:"maxResults"`
	NextToken            *string `json:"nextToken"`
	ReverseOrder         bool    `json:"reverseOrder"`
	IncludeExecutionData *bool   `json:"includeExecutionData"`
}

func (s *Server) getExecutionHistory(in getExecutionHistoryInput) (any, *apiError) {
	e, aerr := s.execution(in.ExecutionArn)
	if aerr != nil {
		return nil, aerr
	}
	limit := in.MaxResults
	switch {
	case limit == 0:
		limit = 100
	case limit < 0 || limit > 1000:
		return nil, clientError("ValidationException", "maxResults must be between 0 and 1000")
	}
	from := 0
	if in.NextToken != nil {
		n, err := strconv.Atoi(*in.NextToken)
		if err != nil || n < 0 || n > len(e.Events) {
			return nil, clientError("InvalidToken", "Invalid Token: '%s'", *in.NextToken)
		}
		from = n
	}
	withData := in.IncludeExecutionData == nil || *in.IncludeExecutionData
	// Events are numbered from 1 in the order they happened; each names
	// the one before it.
	order := make([]int, len(e.Events))
	for i := range order {
		order[i] = i
		if in.ReverseOrder {
			order[i] = len(e.Events) - 1 - i
		}
	}
	events := []map[string]any{}
	end := min(from+limit, len(order))
	for _, i := range order[from:end] {
		ev := e.Events[i]
		m := map[string]any{
			"id": i + 1, "previousEventId": i, "type": ev.Type,
			// Events carry no time of their own here: the execution's
			// start, plus their rank in milliseconds, keeps them ordered.
			"timestamp": epoch(e.StartDate.Add(time.Duration(i) * time.Millisecond)),
		}
		if ev.Details != nil {
			details := ev.Details
			if !withData {
				details = withoutData(details)
			}
			m[detailsKey(ev.Type)] = details
		}
		events = append(events, m)
	}
	out := map[string]any{"events": events}
	if end < len(order) {
		out["nextToken"] = strconv.Itoa(end)
	}
	return out, nil
}

type stateMachineArnInput struct {
	StateMachineArn string `json:"stateMachineArn"`
}

func (s *Server) describeStateMachine(in stateMachineArnInput) (any, *apiError) {
	m, aerr := s.machine(in.StateMachineArn)
	if aerr != nil {
		return nil, aerr
	}
	return map[string]any{
		"stateMachineArn": m.arn, "name": m.name, "status": "ACTIVE", "definition": m.definition,
		"roleArn": "arn:aws:iam::" + Account + ":role/states", "type": machineType(m), "creationDate": epoch(m.created),
	}, nil
}

func (s *Server) machine(a string) (*stateMachine, *apiError) {
	p, err := arn.Parse(a)
	if err != nil || p.Service != "states" || !strings.HasPrefix(p.Resource, "stateMachine:") {
		return nil, clientError("InvalidArn", "Invalid Arn: '%s'", a)
	}
	// A version or alias of a machine (stateMachine:NAME:QUALIFIER) runs
	// the machine here.
	p.Resource = strings.Join(strings.SplitN(p.Resource, ":", 3)[:2], ":")
	m, ok := s.machines[p.String()]
	if !ok {
		return nil, clientError("StateMachineDoesNotExist", "State Machine Does Not Exist: '%s'", a)
	}
	return m, nil
}

func (s *Server) execution(a string) (*Execution, *apiError) {
	p, err := arn.Parse(a)
	if err != nil || p.Service != "states" || !strings.HasPrefix(p.Resource, "execution:") {
		return nil, clientError("InvalidArn", "Invalid Arn: '%s'", a)
	}
	e, ok := s.executions[a]
	if !ok {
		return nil, clientError("ExecutionDoesNotExist", "Execution Does Not Exist: '%s'", a)
	}
	return e, nil
}

// executionARN is arn:PARTITION:states:REGION:ACCOUNT:execution:MACHINE:NAME.
func executionARN(machineARN, name string) string {
	p, _ := arn.Parse(machineARN) // the caller checked it
	machine, _, _ := strings.Cut(strings.TrimPrefix(p.Resource, "stateMachine:"), ":")
	p.Resource = "execution:" + machine + ":" + name
	return p.String()
}

// expressExecutionARN is the ARN of one start of an Express machine:
// arn:PARTITION:states:REGION:ACCOUNT:express:MACHINE:NAME:UUID.
func expressExecutionARN(machineARN, name string) string {
	p, _ := arn.Parse(machineARN) // the caller checked it
	machine, _, _ := strings.Cut(strings.TrimPrefix(p.Resource, "stateMachine:"), ":")
	p.Resource = "express:" + machine + ":" + name + ":" + uuid.NewString()
	return p.String()
}

func machineType(m *stateMachine) string {
	if m.express {
		return "EXPRESS"
	}
	return "STANDARD"
}

// validName applies the rules AWS documents for execution names: 1 to 80
// characters, none of them white space, brackets, wildcards, the special
// characters " # % \ ^ | ~ ` $ & , ; : /, control characters or
// non-characters.
func validName(name string) error {
	if !utf8.ValidString(name) {
		return fmt.Errorf("not UTF-8")
	}
	if n := utf8.RuneCountInString(name); n < 1 || n > 80 {
		return fmt.Errorf("%d characters, 1 to 80 allowed", n)
	}
	for _, r := range name {
		switch {
		case unicode.IsSpace(r):
			return fmt.Errorf("white space")
		case strings.ContainsRune("<>{}[]?*\"#%\\^|~`$&,;:/", r):
			return fmt.Errorf("character %q", r)
		case r <= 0x1f, r >= 0x7f && r <= 0x9f, r == 0xfffe, r == 0xffff, r == 0x10ffff:
			return fmt.Errorf("control or invalid character %U", r)
		}
	}
	return nil
}

// detailsKey is the key of an event type's details: every
// <kind>StateEntered shares stateEnteredEventDetails (and so for Exited);
// the others are named after their type.
func detailsKey(eventType string) string {
	switch {
	case strings.HasSuffix(eventType, "StateEntered"):
		return "stateEnteredEventDetails"
	case strings.HasSuffix(eventType, "StateExited"):
		return "stateExitedEventDetails"
	}
	return strings.ToLower(eventType[:1]) + eventType[1:] + "EventDetails"
}

// withoutData drops the input and output of an event's details, as
// includeExecutionData=false does.
func withoutData(details map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range details {
		switch k {
		case "input", "output", "inputDetails", "outputDetails":
		default:
			out[k] = v
		}
	}
	return out
}

// epoch is a time as the protocol carries it: seconds since 1970, with
// milliseconds.
func epoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

// IssueToken makes a task token for a task of the execution, as a
// waitForTaskToken state issues one; the token calls then answer it.
func (s *Server) IssueToken(executionARN string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := "AAAA" + strings.ReplaceAll(uuid.NewString()+uuid.NewString(), "-", "")
	s.tokens[t] = &token{execution: executionARN}
	return t
}

// Answered is the first answer the token got, if any.
func (s *Server) Answered(tok string) (TokenAnswer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tokens[tok]; ok && t.answered != nil {
		return *t.answered, true
	}
	return TokenAnswer{}, false
}

// HandleTokens hands every token call to h instead of the tokens
// IssueToken makes: for a test that runs the executions elsewhere (on the
// local engine), whose tokens the server does not know. h's ErrTokenGone
// is answered TaskTimedOut, any other error InvalidToken.
func (s *Server) HandleTokens(h func(TokenAnswer) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenSink = h
}

type tokenInput struct {
	TaskToken *string `json:"taskToken"`
	Output    *string `json:"output"`
	Error     string  `json:"error"`
	Cause     string  `json:"cause"`
}

// answerToken serves the token calls with AWS's checks: a token of 1 to
// 2,048 characters, a success's output JSON of at most 256 KiB, an error
// of at most 256 characters and a cause of at most 32,768; an unknown
// token is InvalidToken, one already answered (or whose execution ended)
// TaskTimedOut.
func (s *Server) answerToken(op string, body []byte) (any, *apiError) {
	var in tokenInput
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, &apiError{status: http.StatusBadRequest, typ: "SerializationException", msg: err.Error()}
	}
	if in.TaskToken == nil || len(*in.TaskToken) < 1 || len(*in.TaskToken) > 2048 {
		return nil, clientError("InvalidToken", "Invalid Token: taskToken must be 1 to 2048 characters")
	}
	a := TokenAnswer{Op: op, Token: *in.TaskToken, Error: in.Error, Cause: in.Cause}
	switch op {
	case "SendTaskSuccess":
		if in.Output == nil || len(*in.Output) > 256<<10 || !json.Valid([]byte(*in.Output)) {
			return nil, clientError("InvalidOutput", "Invalid Output: the output must be JSON of at most 256 KiB")
		}
		a.Output = *in.Output
	case "SendTaskFailure":
		if len(in.Error) > 256 || len(in.Cause) > 32768 {
			return nil, clientError("ValidationException", "error or cause too long")
		}
	}
	if s.tokenSink != nil {
		err := s.tokenSink(a)
		switch {
		case errors.Is(err, ErrTokenGone):
			return nil, clientError("TaskTimedOut", "Task Timed Out: 'Provided task does not exist anymore'")
		case err != nil:
			return nil, clientError("InvalidToken", "Invalid Token: %v", err)
		}
		return map[string]any{}, nil
	}
	t, ok := s.tokens[a.Token]
	if !ok {
		return nil, clientError("InvalidToken", "Invalid Token: 'Invalid token'")
	}
	if t.answered != nil {
		return nil, clientError("TaskTimedOut", "Task Timed Out: 'Provided task does not exist anymore'")
	}
	if e, ok := s.executions[t.execution]; !ok || e.Status != StatusRunning {
		return nil, clientError("TaskDoesNotExist", "Task Does Not Exist: the execution is not running")
	}
	if op != "SendTaskHeartbeat" {
		t.answered = &a
	}
	return map[string]any{}, nil
}
