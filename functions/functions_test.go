package functions_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/golang-jwt/jwt/v5"

	"github.com/videoai/mediatasks/shared/api"
	"github.com/videoai/mediatasks/shared/blob/s3blob"
	"github.com/videoai/mediatasks/shared/cloud"
	"github.com/videoai/mediatasks/shared/provider/sim"
	"github.com/videoai/mediatasks/shared/queue/sqsqueue"
	"github.com/videoai/mediatasks/shared/store/dynamostore"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/testkit/awstest"
	"github.com/videoai/mediatasks/shared/webhook"
	"github.com/videoai/mediatasks/shared/workflow"
	"github.com/videoai/mediatasks/shared/workflow/sfnrunner/sfntest"
)

// platform is one deployment on the emulators: its table, queues and
// bucket, its state machines on a Step Functions test server, and the
// environment its functions are given.
type platform struct {
	cloud cloud.Env
	env   map[string]string
	sfn   *sfntest.Server
	sqs   *sqs.Client
	user  string
	token string // a bearer JWT of user's
}

type platformOptions struct {
	express bool   // with an Express state machine for the short task types
	config  string // MEDIATASKS_CONFIG
}

func setup(t testing.TB, opts platformOptions) *platform {
	t.Helper()
	ctx := context.Background()
	name := awstest.Name(t)
	if err := dynamostore.CreateTable(ctx, awstest.DynamoDB(t), name); err != nil {
		t.Fatal(err)
	}
	client := awstest.SQS(t)
	tasks, err := sqsqueue.CreateQueues(ctx, client, name+"-tasks", 5)
	if err != nil {
		t.Fatal(err)
	}
	hooks, err := sqsqueue.CreatePlainQueue(ctx, client, name+"-webhooks", 30)
	if err != nil {
		t.Fatal(err)
	}
	if err := s3blob.CreateBucket(ctx, awstest.S3(t), name); err != nil {
		t.Fatal(err)
	}
	sfn := sfntest.New(t)
	p := &platform{
		cloud: cloud.Env{
			Table:               name,
			Bucket:              name,
			TaskQueues:          tasks.Queues,
			TaskDeadQueues:      tasks.DeadLetters,
			WebhookQueue:        hooks.Queues[task.PriorityNormal],
			WebhookDeadQueue:    hooks.DeadLetters[task.PriorityNormal],
			TaskStateMachine:    sfn.AddStateMachine(name + "-task"),
			BatchStateMachine:   sfn.AddStateMachine(name + "-batch"),
			CursorKey:           []byte("a cursor key of at least thirty-two bytes"),
			JWTSecret:           []byte("a JWT secret of at least thirty-two bytes"),
			S3PathStyle:         true,
			WebhookAllowPrivate: true, // the receivers are on loopback
			LogLevel:            "info",
		},
		sfn:  sfn,
		sqs:  client,
		user: "usr_" + strings.ReplaceAll(name, "-", "_"),
	}
	if opts.express {
		p.cloud.ExpressStateMachine = sfn.AddStateMachine(name + "-task-express")
	}
	p.env = p.cloud.Environ()
	if opts.config != "" {
		p.env[cloud.EnvConfig] = opts.config
	}
	creds, err := awstest.Config().Credentials.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nowhere := filepath.Join(t.TempDir(), "none") // no shared AWS files
	for k, v := range map[string]string{
		"AWS_REGION":                  awstest.Region,
		"AWS_ACCESS_KEY_ID":           creds.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":       creds.SecretAccessKey,
		"AWS_ENDPOINT_URL_DYNAMODB":   awstest.DynamoDBEndpoint(t),
		"AWS_ENDPOINT_URL_SQS":        awstest.FauxqsEndpoint(t),
		"AWS_ENDPOINT_URL_S3":         awstest.FauxqsEndpoint(t),
		"AWS_ENDPOINT_URL_SFN":        sfn.URL(),
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_CONFIG_FILE":             nowhere,
		"AWS_SHARED_CREDENTIALS_FILE": nowhere,
	} {
		p.env[k] = v
	}
	p.token, err = jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Subject:   p.user,
		ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour)),
	}).SignedString(p.cloud.JWTSecret)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// start starts the named functions at once.
func (p *platform) start(t testing.TB, names ...string) map[string]*lambdaFunction {
	t.Helper()
	fns := map[string]*lambdaFunction{}
	for _, name := range names {
		fns[name] = startFunction(t, name, p.env)
	}
	return fns
}

// httpEvent is what API Gateway's HTTP API (payload 2.0, $default
// stage) sends for a request to path under the API's prefix.
func httpEvent(method, path, token string, body any) events.APIGatewayV2HTTPRequest {
	rawPath := api.Prefix + path
	ev := events.APIGatewayV2HTTPRequest{
		Version:  "2.0",
		RouteKey: method + " /api/v1/{proxy+}",
		RawPath:  rawPath,
		Headers:  map[string]string{"user-agent": "functions-test", "host": "api.example.test"},
		PathParameters: map[string]string{
			"proxy": strings.TrimPrefix(rawPath, "/api/v1/"),
		},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     method + " /api/v1/{proxy+}",
			AccountID:    "000000000000",
			Stage:        "$default",
			RequestID:    fmt.Sprintf("req-%d", time.Now().UnixNano()),
			APIID:        "api",
			DomainName:   "api.example.test",
			DomainPrefix: "api",
			Time:         time.Now().UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    time.Now().UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method: method, Path: rawPath, Protocol: "HTTP/1.1", SourceIP: "192.0.2.1", UserAgent: "functions-test",
			},
		},
	}
	if token != "" {
		ev.Headers["authorization"] = "Bearer " + token
	}
	switch b := body.(type) {
	case nil:
	case string:
		ev.Body = b
		ev.Headers["content-type"] = "application/json"
	default:
		raw, _ := json.Marshal(b) // maps of plain values
		ev.Body = string(raw)
		ev.Headers["content-type"] = "application/json"
	}
	return ev
}

// request sends an API request through fn and returns API Gateway's
// answer.
func (p *platform) request(t testing.TB, fn *lambdaFunction, method, path string, body any) events.APIGatewayV2HTTPResponse {
	t.Helper()
	var resp events.APIGatewayV2HTTPResponse
	fn.invoke(t, httpEvent(method, path, p.token, body)).decode(t, &resp)
	return resp
}

// submitImage submits an image task through the submit function.
func (p *platform) submitImage(t testing.TB, submit *lambdaFunction, fields map[string]any) task.Task {
	t.Helper()
	body := map[string]any{"prompt": "a lighthouse at dusk"}
	for k, v := range fields {
		body[k] = v
	}
	resp := p.request(t, submit, http.MethodPost, "/images/generate", body)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("submit: %d %s", resp.StatusCode, resp.Body)
	}
	var submitted task.Task
	if err := json.Unmarshal([]byte(resp.Body), &submitted); err != nil {
		t.Fatalf("submit answered %s: %v", resp.Body, err)
	}
	return submitted
}

// receive takes the messages on the queue at url (hidden for a minute),
// waiting for the first, as a Lambda event source mapping would.
func (p *platform) receive(t testing.TB, url string) []types.Message {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := p.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 60,
			MessageAttributeNames:       []string{"All"},
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		})
		if err != nil {
			t.Fatalf("receive from %s: %v", url, err)
		}
		if len(out.Messages) > 0 {
			return out.Messages
		}
		if time.Now().After(deadline) {
			t.Fatalf("no message on %s", url)
		}
	}
}

// sqsEvent is the event a Lambda event source mapping makes of messages
// received from the queue at url.
func sqsEvent(url string, msgs ...types.Message) events.SQSEvent {
	var ev events.SQSEvent
	for _, m := range msgs {
		rec := events.SQSMessage{
			MessageId:     aws.ToString(m.MessageId),
			ReceiptHandle: aws.ToString(m.ReceiptHandle),
			Body:          aws.ToString(m.Body),
			Md5OfBody:     aws.ToString(m.MD5OfBody),
			Attributes:    m.Attributes,
			// arn:aws:sqs:REGION:ACCOUNT:NAME, NAME the URL's last part.
			EventSourceARN:    "arn:aws:sqs:" + awstest.Region + ":000000000000:" + url[strings.LastIndexByte(url, '/')+1:],
			EventSource:       "aws:sqs",
			AWSRegion:         awstest.Region,
			MessageAttributes: map[string]events.SQSMessageAttribute{},
		}
		for k, v := range m.MessageAttributes {
			rec.MessageAttributes[k] = events.SQSMessageAttribute{StringValue: v.StringValue, DataType: aws.ToString(v.DataType)}
		}
		ev.Records = append(ev.Records, rec)
	}
	return ev
}

// problem is the API's problem+json answer.
type problem struct {
	Status int          `json:"status"`
	Title  string       `json:"title"`
	Errors []fieldError `json:"errors"`
}

type fieldError struct {
	Field string `json:"field"`
}

func header(resp events.APIGatewayV2HTTPResponse, name string) string {
	for k, v := range resp.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	for k, v := range resp.MultiValueHeaders {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// The submit function takes an API Gateway request: the task is written
// to DynamoDB, where the status function reads it, and its message is on
// the normal-priority task queue. Each serves its own methods only (the
// stack routes the others elsewhere), and a 400 names the field at fault.
func TestSubmitFunction(t *testing.T) {
	t.Parallel()
	p := setup(t, platformOptions{})
	fns := p.start(t, "submit", "status")
	submit, status := fns["submit"], fns["status"]

	submitted := p.submitImage(t, submit, nil)
	if submitted.ID == "" || submitted.Status != task.StatusQueued || submitted.Type != task.TypeImageGeneration {
		t.Fatalf("submitted %+v, want a queued image_generation task with an id", submitted)
	}

	resp := p.request(t, status, http.MethodGet, "/tasks/"+submitted.ID, nil)
	var read task.Task
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(resp.Body), &read) != nil {
		t.Fatalf("status of %s: %d %s", submitted.ID, resp.StatusCode, resp.Body)
	}
	if read.ID != submitted.ID || read.Status != task.StatusQueued {
		t.Fatalf("status function read %s %s, want %s queued", read.ID, read.Status, submitted.ID)
	}

	msgs := p.receive(t, p.cloud.TaskQueues[task.PriorityNormal])
	var body struct {
		TaskID string `json:"task_id"`
	}
	if len(msgs) != 1 || json.Unmarshal([]byte(aws.ToString(msgs[0].Body)), &body) != nil || body.TaskID != submitted.ID {
		t.Fatalf("normal task queue holds %d messages, first %q; want the one of %s", len(msgs), aws.ToString(msgs[0].Body), submitted.ID)
	}

	resp = p.request(t, submit, http.MethodGet, "/tasks/"+submitted.ID, nil)
	if resp.StatusCode != http.StatusMethodNotAllowed || header(resp, "Allow") != http.MethodPost {
		t.Fatalf("GET to submit: %d, Allow %q; want 405, Allow POST", resp.StatusCode, header(resp, "Allow"))
	}

	resp = p.request(t, status, http.MethodPost, "/tasks/"+submitted.ID+"/cancel", nil)
	if resp.StatusCode != http.StatusMethodNotAllowed || header(resp, "Allow") != "GET, HEAD" {
		t.Fatalf("POST to status: %d, Allow %q; want 405, Allow GET, HEAD", resp.StatusCode, header(resp, "Allow"))
	}

	resp = p.request(t, submit, http.MethodPost, "/images/generate", `{"prompt": "a lighthouse", "n": 9}`)
	var prob problem
	if resp.StatusCode != http.StatusBadRequest || !strings.HasPrefix(header(resp, "Content-Type"), "application/problem+json") ||
		json.Unmarshal([]byte(resp.Body), &prob) != nil {
		t.Fatalf("bad submit: %d %q %s; want 400 problem+json", resp.StatusCode, header(resp, "Content-Type"), resp.Body)
	}
	if !slices.Contains(prob.Errors, fieldError{Field: "n"}) {
		t.Fatalf("bad submit's problem does not name the field n: %s", resp.Body)
	}
}

// The process function starts the workflow of each task message an SQS
// event brings, named by the task id: on the Express state machine for
// an image task when there is one, else on the Standard one.
func TestProcessFunctionStartsWorkflows(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		express bool
		machine func(cloud.Env) string
	}{
		"standard": {express: false, machine: func(e cloud.Env) string { return e.TaskStateMachine }},
		"express":  {express: true, machine: func(e cloud.Env) string { return e.ExpressStateMachine }},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := setup(t, platformOptions{express: tc.express})
			fns := p.start(t, "submit", "process")
			submitted := p.submitImage(t, fns["submit"], nil)
			url := p.cloud.TaskQueues[task.PriorityNormal]

			var resp events.SQSEventResponse
			fns["process"].invoke(t, sqsEvent(url, p.receive(t, url)...)).decode(t, &resp)
			if len(resp.BatchItemFailures) != 0 {
				t.Fatalf("batchItemFailures %+v, want none", resp.BatchItemFailures)
			}
			var started []sfntest.Execution
			for _, e := range p.sfn.Executions() {
				if e.Name == submitted.ID {
					started = append(started, e)
				}
			}
			if len(started) != 1 {
				t.Fatalf("%d executions named %s, want 1 (all: %+v)", len(started), submitted.ID, p.sfn.Executions())
			}
			if want := tc.machine(p.cloud); started[0].StateMachineARN != want {
				t.Fatalf("execution on %s, want %s", started[0].StateMachineARN, want)
			}
			var input struct {
				TaskID string `json:"task_id"`
			}
			if json.Unmarshal([]byte(started[0].Input), &input) != nil || input.TaskID != submitted.ID {
				t.Fatalf("execution input %s, want the task id %s", started[0].Input, submitted.ID)
			}
		})
	}
}

// The process function runs the step actions the state machines invoke,
// answering a step's failure with its name as the error type (what the
// definitions' Retry and Catch match), and sweeps on its schedule.
func TestProcessFunctionRunsSteps(t *testing.T) {
	t.Parallel()
	p := setup(t, platformOptions{})
	fns := p.start(t, "submit", "status", "process")
	process := fns["process"]
	submitted := p.submitImage(t, fns["submit"], nil)

	var step workflow.Step
	process.invoke(t, map[string]any{"action": workflow.ActionStart, "task_id": submitted.ID, "tried": []string{}}).decode(t, &step)
	switch {
	case step.Provider == "":
		t.Fatalf("start answered %+v: no provider", step)
	case step.State == "done" && (step.Output == nil || len(step.Output.Files) == 0) && step.OutputKey == "":
		t.Fatalf("start answered done without an output: %+v", step)
	case step.State != "done" && step.State != "pending":
		t.Fatalf("start answered state %q, want done or pending", step.State)
	}
	resp := p.request(t, fns["status"], http.MethodGet, "/tasks/"+submitted.ID, nil)
	var running task.Task
	if json.Unmarshal([]byte(resp.Body), &running) != nil || running.Status != task.StatusRunning || running.Provider != step.Provider {
		t.Fatalf("after start the task is %d %s; want running on %s", resp.StatusCode, resp.Body, step.Provider)
	}

	inv := process.invoke(t, json.RawMessage(`{"action":"nope"}`))
	if inv.ErrorType != workflow.ErrNameBadInput {
		t.Fatalf("unknown action answered %+v, want error type %s", inv, workflow.ErrNameBadInput)
	}

	inv = process.invoke(t, json.RawMessage(`{"version":"0","id":"e1","source":"aws.events","account":"000000000000",`+
		`"time":"2026-01-01T00:00:00Z","region":"us-east-1","resources":[],"detail-type":"Scheduled Event","detail":{}}`))
	if inv.ErrorType != "" {
		t.Fatalf("scheduled sweep failed: %s: %s", inv.ErrorType, inv.ErrorMessage)
	}
}

// receiver is a webhook endpoint that records what it is sent and
// answers with status.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	requests []receivedHook
}

type receivedHook struct {
	header http.Header
	body   []byte
}

func newReceiver(t testing.TB, status int) *receiver {
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.requests = append(r.requests, receivedHook{header: req.Header.Clone(), body: b})
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) received() []receivedHook {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.requests)
}

// The webhook function delivers, signed, the delivery a cancel queued;
// a delivery the receiver refuses with a 5xx keeps its message for the
// next attempt.
func TestWebhookFunction(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		answer int
		kept   bool
	}{
		"delivered":        {answer: http.StatusNoContent, kept: false},
		"kept for a retry": {answer: http.StatusInternalServerError, kept: true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := setup(t, platformOptions{})
			fns := p.start(t, "submit", "status", "webhook")
			hooks := newReceiver(t, tc.answer)
			submitted := p.submitImage(t, fns["submit"], map[string]any{"webhook_url": hooks.URL + "/hooks"})
			if resp := p.request(t, fns["submit"], http.MethodPost, "/tasks/"+submitted.ID+"/cancel", nil); resp.StatusCode != http.StatusOK {
				t.Fatalf("cancel: %d %s", resp.StatusCode, resp.Body)
			}

			msgs := p.receive(t, p.cloud.WebhookQueue)
			if len(msgs) != 1 {
				t.Fatalf("%d messages on the webhook queue, want the cancel's one", len(msgs))
			}
			var resp events.SQSEventResponse
			fns["webhook"].invoke(t, sqsEvent(p.cloud.WebhookQueue, msgs...)).decode(t, &resp)

			got := hooks.received()
			if len(got) != 1 {
				t.Fatalf("receiver got %d requests, want 1", len(got))
			}
			kept := []string{}
			for _, f := range resp.BatchItemFailures {
				kept = append(kept, f.ItemIdentifier)
			}
			want := []string{}
			if tc.kept {
				want = []string{aws.ToString(msgs[0].MessageId)}
			}
			if !slices.Equal(kept, want) {
				t.Fatalf("batchItemFailures %v, want %v", resp.BatchItemFailures, want)
			}
			if tc.kept {
				return
			}

			hook := got[0]
			for _, h := range []string{webhook.HeaderID, webhook.HeaderTimestamp, webhook.HeaderSignature} {
				if hook.header.Get(h) == "" {
					t.Errorf("webhook without its %s header", h)
				}
			}
			var body webhook.Body
			if err := json.Unmarshal(hook.body, &body); err != nil || body.EventType != task.EventTaskCanceled || !strings.Contains(string(body.Data), submitted.ID) {
				t.Fatalf("webhook body %s (%v), want task.canceled of %s", hook.body, err, submitted.ID)
			}
			secretResp := p.request(t, fns["status"], http.MethodGet, "/webhooks/secret", nil)
			var secret struct {
				Secret   string   `json:"secret"`
				Previous []string `json:"previous"`
			}
			if secretResp.StatusCode != http.StatusOK || json.Unmarshal([]byte(secretResp.Body), &secret) != nil || secret.Secret == "" {
				t.Fatalf("webhook secret: %d %s", secretResp.StatusCode, secretResp.Body)
			}
			v, err := webhook.NewVerifier(secret.Secret)
			if err != nil {
				t.Fatal(err)
			}
			if err := v.Verify(hook.header, hook.body); err != nil {
				t.Fatalf("signature does not verify with the user's secret: %v", err)
			}
		})
	}
}

// The INIT of each function under the emulator, which runs it on the
// first invocation (here each a request that needs no AWS call), and the
// time from the emulator's start to that first answer: medians of a few
// cold starts. Logged, not asserted on: these machines are shared. Not
// parallel, so that the other tests do not load the machine meanwhile.
func TestColdStart(t *testing.T) {
	const starts = 5
	p := setup(t, platformOptions{})
	first := map[string]struct {
		event any
		check func(invocation) error
	}{
		"submit": {httpEvent(http.MethodGet, "/health", "", nil), func(inv invocation) error {
			return wantStatus(inv, http.StatusMethodNotAllowed)
		}},
		"status": {httpEvent(http.MethodGet, "/openapi.json", "", nil), func(inv invocation) error {
			return wantStatus(inv, http.StatusOK)
		}},
		"process": {json.RawMessage(`{"action":"nope"}`), func(inv invocation) error {
			if inv.ErrorType != workflow.ErrNameBadInput {
				return fmt.Errorf("answered %+v, want %s", inv, workflow.ErrNameBadInput)
			}
			return nil
		}},
		"webhook": {json.RawMessage(`{"Records":[]}`), func(inv invocation) error {
			if inv.ErrorType != "" || !strings.Contains(string(inv.Result), `"batchItemFailures":[]`) {
				return fmt.Errorf("answered %+v, want no failures", inv)
			}
			return nil
		}},
	}
	for _, name := range functionNames {
		var inits, answers []time.Duration
		for range starts {
			fn := startFunction(t, name, p.env)
			inv := fn.invoke(t, first[name].event)
			answers = append(answers, time.Since(fn.started))
			if err := first[name].check(inv); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			d, err := fn.initDuration()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			inits = append(inits, d)
			fn.stop()
		}
		t.Logf("%-8s INIT median %6.2f ms (min %6.2f, max %6.2f); emulator start to first answer median %6.2f ms",
			name, ms(median(inits)), ms(slices.Min(inits)), ms(slices.Max(inits)), ms(median(answers)))
	}
	t.Logf("build of the four bootstraps and the emulator: %s", build.took.Round(time.Millisecond))
}

func median(ds []time.Duration) time.Duration {
	s := slices.Sorted(slices.Values(ds))
	return s[len(s)/2]
}

func wantStatus(inv invocation, code int) error {
	var resp events.APIGatewayV2HTTPResponse
	if inv.ErrorType != "" || json.Unmarshal(inv.Result, &resp) != nil || resp.StatusCode != code {
		return fmt.Errorf("answered %+v, want status %d", inv, code)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkSubmitWarm submits image tasks through the warm submit
// function under the emulator: API Gateway event in, a DynamoDB write and
// an SQS send, 202 out.
func BenchmarkSubmitWarm(b *testing.B) {
	p := setup(b, platformOptions{config: "limits: {submits_per_minute: 1000000}"})
	submit := startFunction(b, "submit", p.env)
	event := httpEvent(http.MethodPost, "/images/generate", p.token, map[string]any{"prompt": "a lighthouse at dusk"})
	p.submitImage(b, submit, nil) // INIT, and the first connections
	took := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		inv, err := submit.tryInvoke(event)
		took = append(took, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		if err := wantStatus(inv, http.StatusAccepted); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(ms(took[len(took)/2]), "p50-ms")
	b.ReportMetric(ms(took[min(len(took)*99/100, len(took)-1)]), "p99-ms")
}

// benchType is the tasks' type in BenchmarkTaskInvocations.
var benchType = flag.String("bench.type", "image", "BenchmarkTaskInvocations: the tasks' type: image, video or transcription")

// benchConfig is BenchmarkTaskInvocations' configuration (JSON, which is
// YAML): the default sims, as a Lambda has them (no local binaries),
// whatever this machine has, and no submit rate in the way.
func benchConfig(b *testing.B) string {
	var providers []map[string]any
	for _, p := range sim.DefaultConfigs() {
		providers = append(providers, map[string]any{"name": p.Name, "type": p.Type, "task_types": p.TaskTypes, "options": p.Options})
	}
	cfg, err := json.Marshal(map[string]any{"limits": map[string]any{"submits_per_minute": 1_000_000}, "providers": providers})
	if err != nil {
		b.Fatal(err)
	}
	return string(cfg)
}

// BenchmarkTaskInvocations runs tasks (images by default, -bench.type)
// with a webhook through the warm functions, one invocation of each kind
// a task makes in the cloud, and reports each kind's median wall time
// and how many of each a task makes: the Lambda lines of the cost model
// (the process function's "start" includes the provider's answer, here
// the sim's 300 ms for an image; a video's 3 polls and a transcript's 1
// answer at once).
func BenchmarkTaskInvocations(b *testing.B) {
	kinds := map[string]struct {
		path string
		body map[string]any
	}{
		"image":         {"/images/generate", map[string]any{"prompt": "a lighthouse at dusk"}},
		"video":         {"/videos/generate", map[string]any{"prompt": "a lighthouse at dusk, waves", "duration_seconds": 5}},
		"transcription": {"/audio/transcribe", map[string]any{"audio_url": "https://media.example.com/interview.mp3"}},
	}
	kind, ok := kinds[*benchType]
	if !ok {
		b.Fatalf("-bench.type %q: image, video or transcription", *benchType)
	}
	p := setup(b, platformOptions{config: benchConfig(b)})
	fns := p.start(b, "submit", "status", "process", "webhook")
	hooks := newReceiver(b, http.StatusNoContent)
	took := map[string][]time.Duration{}
	timed := func(kind string, fn *lambdaFunction, event any) invocation {
		start := time.Now()
		inv := fn.invoke(b, event)
		took[kind] = append(took[kind], time.Since(start))
		if inv.ErrorType != "" {
			b.Fatalf("%s: %s: %s", kind, inv.ErrorType, inv.ErrorMessage)
		}
		return inv
	}
	run := func() {
		body := maps.Clone(kind.body)
		body["webhook_url"] = hooks.URL + "/hooks"
		var resp events.APIGatewayV2HTTPResponse
		timed("submit", fns["submit"], httpEvent(http.MethodPost, kind.path, p.token, body)).decode(b, &resp)
		var submitted task.Task
		if resp.StatusCode != http.StatusAccepted || json.Unmarshal([]byte(resp.Body), &submitted) != nil {
			b.Fatalf("submit: %d %s", resp.StatusCode, resp.Body)
		}
		queueURL := p.cloud.TaskQueues[task.PriorityNormal]
		timed("dispatch", fns["process"], sqsEvent(queueURL, p.receive(b, queueURL)...))
		var step workflow.Step
		timed("start", fns["process"], map[string]any{"action": workflow.ActionStart, "task_id": submitted.ID, "tried": []string{}}).decode(b, &step)
		for step.State == "pending" {
			timed("poll", fns["process"], map[string]any{"action": workflow.ActionPoll, "task_id": submitted.ID,
				"provider": step.Provider, "job": step.Job, "polls": step.Polls}).decode(b, &step)
		}
		timed("complete", fns["process"], map[string]any{"action": workflow.ActionComplete, "task_id": submitted.ID, "step": step})
		timed("webhook", fns["webhook"], sqsEvent(p.cloud.WebhookQueue, p.receive(b, p.cloud.WebhookQueue)...))
		timed("status", fns["status"], httpEvent(http.MethodGet, "/tasks/"+submitted.ID, p.token, nil)).decode(b, &resp)
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status: %d %s", resp.StatusCode, resp.Body)
		}
	}
	run() // INIT and the first connections
	clear(took)
	logged := functionLogBytes(b, fns)
	b.ResetTimer()
	for range b.N {
		run()
	}
	b.StopTimer()
	for kind, ds := range took {
		b.ReportMetric(ms(median(ds)), kind+"-ms")
		b.ReportMetric(float64(len(ds))/float64(b.N), kind+"/task")
	}
	b.ReportMetric(float64(functionLogBytes(b, fns)-logged)/float64(b.N), "log-bytes/task")
}

// functionLogBytes is what the functions wrote to their logs so far (JSON
// lines: their own logs and EMF metrics; the emulator's lines are not
// JSON), which CloudWatch Logs would ingest.
func functionLogBytes(tb testing.TB, fns map[string]*lambdaFunction) int {
	tb.Helper()
	n := 0
	for _, fn := range fns {
		b, err := os.ReadFile(fn.logPath)
		if err != nil {
			tb.Fatal(err)
		}
		for _, line := range bytes.Split(b, []byte("\n")) {
			if bytes.HasPrefix(line, []byte("{")) {
				n += len(line) + 1
			}
		}
	}
	return n
}
