package cloud_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/api"
	"github.com/videoai/mediatasks/shared/auth"
	"github.com/videoai/mediatasks/shared/blob/s3blob"
	"github.com/videoai/mediatasks/shared/cloud"
	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/queue"
	"github.com/videoai/mediatasks/shared/queue/sqsqueue"
	"github.com/videoai/mediatasks/shared/sfnlocal/engine"
	"github.com/videoai/mediatasks/shared/sqlitedb"
	"github.com/videoai/mediatasks/shared/store/dynamostore"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/testkit/awstest"
	"github.com/videoai/mediatasks/shared/webhook"
	"github.com/videoai/mediatasks/shared/workflow"
	"github.com/videoai/mediatasks/shared/workflow/local"
	"github.com/videoai/mediatasks/shared/workflow/sfnrunner/sfntest"
)

func TestMain(m *testing.M) { os.Exit(awstest.Main(m)) }

// cloudEnv makes the table, queues and bucket of one platform on the
// emulators, and state machines on a Step Functions test server, and
// returns the environment a function would be given, with the SDK
// pointed at the emulators through its own AWS_ENDPOINT_URL_<SERVICE>.
func cloudEnv(t testing.TB) (cloud.Env, *sfntest.Server) {
	t.Helper()
	ctx := context.Background()
	name := awstest.Name(t)
	if err := dynamostore.CreateTable(ctx, awstest.DynamoDB(t), name); err != nil {
		t.Fatal(err)
	}
	tasks, err := sqsqueue.CreateQueues(ctx, awstest.SQS(t), name+"-tasks", 5)
	if err != nil {
		t.Fatal(err)
	}
	hooks, err := sqsqueue.CreatePlainQueue(ctx, awstest.SQS(t), name+"-webhooks", 30)
	if err != nil {
		t.Fatal(err)
	}
	if err := s3blob.CreateBucket(ctx, awstest.S3(t), name); err != nil {
		t.Fatal(err)
	}
	sfn := sfntest.New(t)
	env := cloud.Env{
		Table:               name,
		Bucket:              name,
		TaskQueues:          tasks.Queues,
		TaskDeadQueues:      tasks.DeadLetters,
		WebhookQueue:        hooks.Queues[task.PriorityNormal],
		WebhookDeadQueue:    hooks.DeadLetters[task.PriorityNormal],
		TaskStateMachine:    sfn.AddStateMachine("mediatasks-task"),
		ExpressStateMachine: sfn.AddExpressStateMachine("mediatasks-task-express"),
		BatchStateMachine:   sfn.AddStateMachine("mediatasks-batch"),
		CursorKey:           []byte("a cursor key of at least thirty-two bytes"),
		S3PathStyle:         true,
		WebhookAllowPrivate: true, // the receiver is on loopback
		LogLevel:            "warn",
	}
	for k, v := range env.Environ() {
		t.Setenv(k, v)
	}
	creds, err := awstest.Config().Credentials.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"AWS_REGION":                  awstest.Region,
		"AWS_ACCESS_KEY_ID":           creds.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":       creds.SecretAccessKey,
		"AWS_ENDPOINT_URL_DYNAMODB":   awstest.DynamoDBEndpoint(t),
		"AWS_ENDPOINT_URL_SQS":        awstest.FauxqsEndpoint(t),
		"AWS_ENDPOINT_URL_S3":         awstest.FauxqsEndpoint(t),
		"AWS_ENDPOINT_URL_SFN":        sfn.URL(),
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_CONFIG_FILE":             filepath.Join(t.TempDir(), "none"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(t.TempDir(), "none"),
	} {
		t.Setenv(k, v)
	}
	return env, sfn
}

// apiKey stores a new API key of user's in the platform's table.
func apiKey(t testing.TB, p *cloud.Platform, user string) string {
	t.Helper()
	key, rec, err := auth.NewKey(user, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Store.CreateAPIKey(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	return key
}

func call(t testing.TB, h http.Handler, method, path, key string, body any) *httptest.ResponseRecorder {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req := httptest.NewRequest(method, path, r)
	req.Header.Set("Authorization", "Bearer "+key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// A task runs end to end on the AWS adapters: submitted through the API
// handler into DynamoDB and SQS, started as a Step Functions execution by
// the dispatcher, its steps run by the same task workflow definition
// calling the step actions, its output stored in S3 and served by a
// presigned URL, and its webhook delivery queued on SQS and delivered,
// signed, from the queue.
func TestTaskEndToEnd(t *testing.T) {
	env, sfn := cloudEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := cloud.FromEnv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p.Env.Table != env.Table {
		t.Fatalf("platform on table %q, want %q", p.Env.Table, env.Table)
	}
	key := apiKey(t, p, "usr_cloud")

	// Health: every component answers, the state machines among them,
	// and the providers are listed.
	rec := call(t, p.API, "GET", api.Prefix+"/health", "", nil)
	var health struct {
		Status     string                    `json:"status"`
		Components map[string]map[string]any `json:"components"`
		Providers  map[string]map[string]any `json:"providers"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &health); err != nil || rec.Code != http.StatusOK || health.Status != "ok" {
		t.Fatalf("health: %d %s", rec.Code, rec.Body)
	}
	for _, c := range []string{"store", "queue", "blobs", "workflows", "webhook_queue"} {
		if health.Components[c]["status"] != "up" {
			t.Errorf("health of %s: %v", c, health.Components[c])
		}
	}
	if len(health.Providers) == 0 {
		t.Errorf("health lists no provider: %s", rec.Body)
	}

	var (
		mu       sync.Mutex
		received []*http.Request
		bodies   [][]byte
	)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		received, bodies = append(received, r), append(bodies, b)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()

	// Submit: 202 with the task, queued.
	rec = call(t, p.API, "POST", api.Prefix+"/images/generate", key, map[string]any{
		"prompt": "a lighthouse at dusk", "webhook_url": receiver.URL + "/hooks",
	})
	if rec.Code != http.StatusAccepted {
		t.Fatalf("submit: %d %s", rec.Code, rec.Body)
	}
	var submitted task.Task
	if err := json.Unmarshal(rec.Body.Bytes(), &submitted); err != nil {
		t.Fatal(err)
	}
	if submitted.Status != task.StatusQueued {
		t.Fatalf("submitted task is %s", submitted.Status)
	}

	// The dispatcher takes the SQS message and starts the execution,
	// named by the task id, with the task workflow's input.
	dispatchCtx, stopDispatch := context.WithCancel(ctx)
	var bg sync.WaitGroup
	defer bg.Wait()
	defer stopDispatch()
	bg.Go(func() { p.App.RunDispatcher(dispatchCtx) })
	var exec sfntest.Execution
	eventually(t, 30*time.Second, func() error {
		for _, e := range sfn.Executions() {
			if e.Name == submitted.ID {
				exec = e
				return nil
			}
		}
		return fmt.Errorf("no execution named %s among %d", submitted.ID, len(sfn.Executions()))
	})
	if exec.StateMachineARN != env.ExpressStateMachine {
		t.Fatalf("execution of %s, want the Express task state machine", exec.StateMachineARN)
	}
	// A duplicated message starts a second Express execution of the task
	// (Express starts are not idempotent by name).
	if err := p.Runner.Start(ctx, &submitted); err != nil {
		t.Fatal(err)
	}
	var execs []string
	for _, e := range sfn.Executions() {
		if e.Name == submitted.ID {
			execs = append(execs, e.ARN)
		}
	}
	if len(execs) != 2 {
		t.Fatalf("%d executions of the task, want 2", len(execs))
	}

	// Step Functions' part: the same task.asl.json, run here by the
	// local engine, invoking the step actions as the process function
	// would; both executions run at once.
	bg.Go(func() { playStepFunctions(dispatchCtx, t, p, sfn, env) })

	// Completed, read back through the API from DynamoDB, with its file
	// in S3 behind a presigned URL.
	var done task.Task
	getUntil(t, p, key, "/tasks/"+submitted.ID, &done, func() error {
		if done.Status != task.StatusCompleted {
			return fmt.Errorf("task is %s", done.Status)
		}
		return nil
	})
	if done.Output == nil || len(done.Output.Files) == 0 {
		t.Fatalf("completed task without output files: %+v", done.Output)
	}
	// One execution claimed the task and called the provider; the other
	// ended at its start. The claim holds the Express deadline.
	stored, err := p.Store.GetTask(ctx, "", submitted.ID)
	if err != nil {
		t.Fatal(err)
	}
	if done.Attempts != 1 || len(done.AttemptHistory) != 1 {
		t.Fatalf("%d attempts %+v, want the one of the execution that claimed the task", done.Attempts, done.AttemptHistory)
	}
	if k := stored.Run.Key; k != task.RunKey(execs[0]) && k != task.RunKey(execs[1]) || stored.Run.Deadline == nil ||
		stored.Run.Deadline.Before(*stored.StartedAt) || stored.Run.Deadline.After(stored.StartedAt.Add(5*time.Minute+time.Second)) {
		t.Fatalf("task run %+v started %s, want one of the executions' keys, until 5 minutes after its start", stored.Run, stored.StartedAt)
	}
	file := done.Output.Files[0]
	if !strings.HasPrefix(file.URL, awstest.FauxqsEndpoint(t)+"/"+env.Bucket+"/outputs/") || !strings.Contains(file.URL, "X-Amz-Signature=") {
		t.Fatalf("file URL %s is not a presigned URL of the bucket's outputs", file.URL)
	}
	resp, err := http.Get(file.URL)
	if err != nil {
		t.Fatal(err)
	}
	png, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("download: %d, %d bytes", resp.StatusCode, len(png))
	}

	// The completion's webhook delivery is recorded and its message is on
	// the webhook queue; the message delivers it, signed.
	msgs := receiveSome(t, p.Webhooks)
	var qm webhook.QueueMessage
	if err := json.Unmarshal(msgs[0].Body, &qm); err != nil {
		t.Fatal(err)
	}
	dl, err := p.Store.GetDelivery(ctx, "usr_cloud", qm.DeliveryID)
	if err != nil {
		t.Fatal(err)
	}
	if dl.EventType != task.EventTaskCompleted || dl.SubjectID != submitted.ID || dl.Status != webhook.StatusPending {
		t.Fatalf("delivery %+v, want the pending task.completed of %s", dl, submitted.ID)
	}
	for _, m := range msgs {
		if err := p.Deliverer.HandleMessage(ctx, p.Webhooks, m); err != nil {
			t.Fatal(err)
		}
	}
	if dl, err = p.Store.GetDelivery(ctx, "usr_cloud", qm.DeliveryID); err != nil || dl.Status != webhook.StatusDelivered {
		t.Fatalf("delivery after its message: %+v, %v", dl.Status, err)
	}
	secrets, err := p.Store.WebhookSecrets(ctx, "usr_cloud", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(received) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(received))
	}
	v, err := webhook.NewVerifier(secrets...)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(received[0].Header, bodies[0]); err != nil {
		t.Fatalf("webhook signature: %v", err)
	}
	if received[0].Header.Get(webhook.HeaderID) != dl.EventID {
		t.Fatalf("webhook-id %q, want %q", received[0].Header.Get(webhook.HeaderID), dl.EventID)
	}
}

// A missing or malformed variable is named in the error.
func TestReadEnvNamesWhatIsWrong(t *testing.T) {
	t.Parallel()
	_, err := cloud.ReadEnv(func(name string) string {
		switch name {
		case cloud.EnvTable:
			return "t"
		case cloud.EnvS3PathStyle:
			return "maybe"
		case cloud.EnvConfig:
			return "limits: {batch_max: -1}"
		case cloud.EnvJWTSecret:
			return "short"
		case cloud.EnvPublicBaseURL:
			return "api.example.com" // no scheme
		}
		return ""
	})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{cloud.EnvBucket, cloud.EnvCursorKey, cloud.EnvTaskQueuePrefix + "HIGH", cloud.EnvTaskDeadPrefix + "LOW",
		cloud.EnvWebhookQueue, cloud.EnvTaskStateMachine, cloud.EnvS3PathStyle, cloud.EnvConfig, cloud.EnvJWTSecret, cloud.EnvPublicBaseURL} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), cloud.EnvTable+" is not set") {
		t.Errorf("error names a variable that is set: %v", err)
	}
}

// A batch limit beyond what DynamoDB commits at once is refused at start,
// naming the setting, rather than failing every large batch.
func TestBatchLimitWithinDynamoDB(t *testing.T) {
	env, _ := cloudEnv(t)
	cfg, err := config.Parse([]byte("limits: {batch_max: 98}"))
	if err != nil {
		t.Fatal(err)
	}
	env.Config = cfg
	_, err = cloud.New(context.Background(), env, cloud.Options{})
	if err == nil || !strings.Contains(err.Error(), "limits.batch_max") {
		t.Fatalf("New with batch_max 98: %v, want an error naming limits.batch_max", err)
	}
}

// receiveSome receives from q, hiding what it takes for a minute, until
// it has at least one message.
func receiveSome(t testing.TB, q queue.Queue) []queue.Delivery {
	t.Helper()
	var got []queue.Delivery
	eventually(t, 30*time.Second, func() error {
		msgs, err := q.Receive(context.Background(), queue.ReceiveOptions{Max: 10, Visibility: time.Minute, Wait: time.Second})
		if err != nil {
			return err
		}
		got = append(got, msgs...)
		if len(got) == 0 {
			return fmt.Errorf("no message")
		}
		return nil
	})
	return got
}

// getUntil reads path from the API into v until ready accepts it.
func getUntil[T any](t testing.TB, p *cloud.Platform, key, path string, v *T, ready func() error) {
	t.Helper()
	eventually(t, 90*time.Second, func() error {
		rec := call(t, p.API, "GET", api.Prefix+path, key, nil)
		if rec.Code != http.StatusOK {
			return fmt.Errorf("get %s: %d %s", path, rec.Code, rec.Body)
		}
		var zero T
		*v = zero
		if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
			return err
		}
		return ready()
	})
}

func eventually(t testing.TB, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A task whose queue message was lost (the process died between the
// task's write and the send) is found by the sweep once it has been
// queued for limits.requeue_after, and its message is sent again.
func TestSweepResendsALostMessage(t *testing.T) {
	env, _ := cloudEnv(t)
	ctx := context.Background()
	clock := struct {
		sync.Mutex
		now time.Time
	}{now: time.Now()}
	now := func() time.Time { clock.Lock(); defer clock.Unlock(); return clock.now }
	p, err := cloud.New(ctx, env, cloud.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	key := apiKey(t, p, "usr_sweep")
	rec := call(t, p.API, "POST", api.Prefix+"/images/generate", key, map[string]any{"prompt": "a harbour"})
	if rec.Code != http.StatusAccepted {
		t.Fatalf("submit: %d %s", rec.Code, rec.Body)
	}
	var submitted task.Task
	if err := json.Unmarshal(rec.Body.Bytes(), &submitted); err != nil {
		t.Fatal(err)
	}
	takeMessage := func() []queue.Delivery {
		t.Helper()
		got := receiveSome(t, p.Tasks)
		for _, m := range got {
			if err := p.Tasks.Delete(ctx, m.Receipt); err != nil {
				t.Fatal(err)
			}
		}
		return got
	}
	takeMessage() // lost: taken and never started

	if err := p.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := p.Tasks.Receive(ctx, queue.ReceiveOptions{Max: 10, Visibility: time.Minute}); err != nil || len(got) != 0 {
		t.Fatalf("the sweep re-sent %d messages of a task queued a moment ago (%v)", len(got), err)
	}
	clock.Lock()
	clock.now = clock.now.Add(p.App.Limits().RequeueAfter + time.Second)
	clock.Unlock()
	if err := p.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	got := takeMessage()
	if len(got) != 1 || !strings.Contains(string(got[0].Body), submitted.ID) {
		t.Fatalf("after the sweep: %d messages, first %q; want the task's", len(got), got[0].Body)
	}
}

// A task whose Express execution ended without finishing it (its start
// step ran, then nothing) is failed by the sweep once its claim's
// deadline and the grace have passed, through the ordinary status change
// (its event, its webhook delivery), and counted as ExpressRunsLost; a
// task whose run is not over yet is left alone.
func TestSweepFailsATaskLostWithItsExpressRun(t *testing.T) {
	env, _ := cloudEnv(t)
	ctx := context.Background()
	clock := struct {
		sync.Mutex
		now time.Time
	}{now: time.Now().UTC()}
	now := func() time.Time { clock.Lock(); defer clock.Unlock(); return clock.now }
	advance := func(d time.Duration) { clock.Lock(); clock.now = clock.now.Add(d); clock.Unlock() }
	var metrics bytes.Buffer
	p, err := cloud.New(ctx, env, cloud.Options{Now: now, MetricsOut: &metrics})
	if err != nil {
		t.Fatal(err)
	}
	key := apiKey(t, p, "usr_lost")
	// started submits an image task and runs its Express execution's
	// start step, after which the execution is lost.
	started := func(prompt string) task.Task {
		t.Helper()
		rec := call(t, p.API, "POST", api.Prefix+"/images/generate", key, map[string]any{"prompt": prompt, "webhook_url": "https://example.com/hooks"})
		if rec.Code != http.StatusAccepted {
			t.Fatalf("submit: %d %s", rec.Code, rec.Body)
		}
		var tk task.Task
		if err := json.Unmarshal(rec.Body.Bytes(), &tk); err != nil {
			t.Fatal(err)
		}
		execution := strings.Replace(env.ExpressStateMachine, ":stateMachine:", ":express:", 1) + ":" + tk.ID + ":" + prompt
		in, _ := json.Marshal(map[string]any{"action": "start", "task_id": tk.ID, "tried": []string{}, "execution": execution})
		if _, err := p.Actions.Invoke(ctx, in); err != nil {
			t.Fatal(err)
		}
		return tk
	}
	lost := started("lost")
	advance(10 * time.Minute)
	fresh := started("fresh")
	sweep := func() {
		t.Helper()
		if _, err := p.ProcessFunction()(ctx, json.RawMessage(`{"detail-type":"Scheduled Event","source":"aws.events"}`)); err != nil {
			t.Fatal(err)
		}
	}
	status := func(id string) *task.Task {
		t.Helper()
		tk, err := p.Store.GetTask(ctx, "", id)
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}

	// 10 minutes after the lost run's claim: its 5 minutes have passed,
	// the grace for a step still in flight has not.
	sweep()
	if got := status(lost.ID); got.Status != task.StatusRunning {
		t.Fatalf("within the grace the lost task is %s, want running", got.Status)
	}

	advance(p.App.Limits().LostRunGrace - 5*time.Minute + time.Second)
	sweep()
	got := status(lost.ID)
	if got.Status != task.StatusFailed || got.Error == nil || got.Error.Code != "workflow_timeout" || !got.Error.Retryable {
		t.Fatalf("lost task %s with error %+v, want failed with workflow_timeout", got.Status, got.Error)
	}
	evs, err := p.Store.ListEvents(ctx, lost.ID, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if last := evs[len(evs)-1]; last.Type != task.EventTaskFailed {
		t.Fatalf("lost task's last event %s, want %s", last.Type, task.EventTaskFailed)
	}
	deliveries, err := p.Store.ListDeliveries(ctx, "usr_lost", webhook.Filter{SubjectID: lost.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(deliveries.Deliveries) == 0 || deliveries.Deliveries[0].EventType != task.EventTaskFailed {
		t.Fatalf("lost task's deliveries %+v, want its task.failed first", deliveries.Deliveries)
	}
	if got := status(fresh.ID); got.Status != task.StatusRunning || got.Error != nil {
		t.Fatalf("the task whose run is not over is %s (%+v), want running", got.Status, got.Error)
	}
	if !strings.Contains(metrics.String(), `"ExpressRunsLost":1`) {
		t.Fatalf("metrics after the sweep:\n%s\nwant ExpressRunsLost 1", metrics.String())
	}
}

// expressMachine is the engine's name of the Express task machine.
const expressMachine = "task_express"

// playStepFunctions runs, on the local engine, every execution the
// platform starts on the Step Functions test server: the same ASL files,
// the same step actions, as Step Functions and the process function
// would. The engine names an execution by its name, which the starts of
// one Express task share (each is an execution of its own): each runs
// here under a name of its own, and its steps are given the test
// server's execution id as $$.Execution.Id, as Step Functions gives it.
// It returns when ctx ends.
func playStepFunctions(ctx context.Context, t testing.TB, p *cloud.Platform, sfn *sfntest.Server, env cloud.Env) {
	db, err := sqlitedb.Open(filepath.Join(t.TempDir(), "engine.db"), sqlitedb.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Error(err)
		return
	}
	defer db.Close()
	var mu sync.Mutex
	serverIDs := map[string]string{} // engine execution name -> the test server's execution ARN
	invoke := func(ctx context.Context, input json.RawMessage) (json.RawMessage, error) {
		var in map[string]any
		if json.Unmarshal(input, &in) == nil {
			if id, ok := in["execution"].(string); ok {
				mu.Lock()
				server, found := serverIDs[id[strings.LastIndex(id, ":")+1:]]
				mu.Unlock()
				if found {
					in["execution"] = server
					input, _ = json.Marshal(in)
				}
			}
		}
		out, err := p.Actions.Invoke(ctx, input)
		var se *workflow.StepError
		if errors.As(err, &se) {
			return nil, &engine.TaskError{Name: se.Name, Cause: se.Cause}
		}
		return out, err
	}
	// AwaitCallback calls the function through lambda:invoke, whose
	// Parameters carry its input as Payload.
	invokePayload := func(ctx context.Context, input json.RawMessage) (json.RawMessage, error) {
		var call struct{ Payload json.RawMessage }
		if err := json.Unmarshal(input, &call); err != nil {
			return nil, err
		}
		return invoke(ctx, call.Payload)
	}
	e, err := engine.New(ctx, db, engine.Options{Workers: 4,
		Resources: map[string]engine.Action{local.Substitutions[workflow.ProcessFunctionArn]: invoke, workflow.InvokeWaitForTaskToken: invokePayload}})
	if err != nil {
		t.Error(err)
		return
	}
	// The Express machine runs its own variant of the task definition,
	// as in the stack.
	for name, def := range map[string][]byte{workflow.TaskMachine: workflow.TaskDefinition, expressMachine: workflow.ExpressTaskDefinition,
		workflow.BatchMachine: workflow.BatchDefinition} {
		if err := e.Load(name, def, local.Substitutions); err != nil {
			t.Error(err)
			return
		}
	}
	// A callback's SendTaskSuccess (through sfnrunner, to the test
	// server) ends the wait of the engine that issued the token.
	sfn.HandleTokens(func(a sfntest.TokenAnswer) error {
		var err error
		switch a.Op {
		case "SendTaskSuccess":
			err = e.SendTaskSuccess(ctx, a.Token, json.RawMessage(a.Output))
		case "SendTaskFailure":
			err = e.SendTaskFailure(ctx, a.Token, a.Error, a.Cause)
		default:
			err = e.SendTaskHeartbeat(ctx, a.Token)
		}
		if errors.Is(err, engine.ErrTaskTokenNotFound) {
			return sfntest.ErrTokenGone
		}
		return err
	})
	defer sfn.HandleTokens(nil)
	var run sync.WaitGroup
	defer run.Wait()
	run.Go(func() { _ = e.Run(ctx) })
	started := map[string]bool{}
	for ctx.Err() == nil {
		for _, x := range sfn.Executions() {
			if started[x.ARN] {
				continue
			}
			started[x.ARN] = true
			machine, name := workflow.TaskMachine, x.Name
			switch x.StateMachineARN {
			case env.BatchStateMachine:
				machine = workflow.BatchMachine
			case env.ExpressStateMachine:
				machine, name = expressMachine, name+"."+x.ARN[strings.LastIndex(x.ARN, ":")+1:]
			}
			mu.Lock()
			serverIDs[name] = x.ARN
			mu.Unlock()
			if _, _, err := e.Start(ctx, machine, name, json.RawMessage(x.Input)); err != nil && ctx.Err() == nil {
				t.Errorf("start %s: %v", name, err)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A batch on the AWS adapters: its tasks run under the batch's workflow,
// the batch's counters move in DynamoDB as they end, batch.completed is
// written once and its webhook delivery queued; a task canceled before
// it starts stays canceled, its execution stopped.
func TestBatchEndToEnd(t *testing.T) {
	env, sfn := cloudEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := cloud.FromEnv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	key := apiKey(t, p, "usr_batch")
	hook := "http://127.0.0.1:9/hooks" // never reached: the test reads the queue
	items := make([]map[string]any, 6)
	for i := range items {
		items[i] = map[string]any{"task_type": "image_generation", "input_data": map[string]any{"prompt": fmt.Sprintf("lighthouse %d", i)}}
	}
	rec := call(t, p.API, "POST", api.Prefix+"/batches", key, map[string]any{"tasks": items, "webhook_url": hook})
	if rec.Code != http.StatusAccepted {
		t.Fatalf("batch submit: %d %s", rec.Code, rec.Body)
	}
	var sub task.Batch
	if err := json.Unmarshal(rec.Body.Bytes(), &sub); err != nil || len(sub.TaskIDs) != len(items) {
		t.Fatalf("batch answer %s: %v", rec.Body, err)
	}
	// One task is canceled before anything starts.
	canceled := sub.TaskIDs[0]
	if rec := call(t, p.API, "POST", api.Prefix+"/tasks/"+canceled+"/cancel", key, nil); rec.Code != http.StatusOK {
		t.Fatalf("cancel: %d %s", rec.Code, rec.Body)
	}

	runCtx, stop := context.WithCancel(ctx)
	var bg sync.WaitGroup
	defer bg.Wait()
	defer stop()
	bg.Go(func() { p.App.RunDispatcher(runCtx) })
	bg.Go(func() { playStepFunctions(runCtx, t, p, sfn, env) })

	var batch task.Batch
	getUntil(t, p, key, "/batches/"+sub.ID, &batch, func() error {
		if batch.Status != task.BatchCompleted {
			return fmt.Errorf("batch is %s: %+v", batch.Status, batch.Counts)
		}
		return nil
	})
	if batch.Counts[task.StatusCompleted] != len(items)-1 || batch.Counts[task.StatusCanceled] != 1 {
		t.Fatalf("batch counts %+v, want %d completed and 1 canceled", batch.Counts, len(items)-1)
	}
	rec = call(t, p.API, "GET", api.Prefix+"/tasks/"+canceled, key, nil)
	if !strings.Contains(rec.Body.String(), `"status":"canceled"`) {
		t.Fatalf("canceled task now %s", rec.Body)
	}

	// Every ended task and the batch have their deliveries, batch.completed
	// once, each with a message on the webhook queue.
	want := map[string]task.EventType{sub.ID: task.EventBatchCompleted}
	for i, id := range sub.TaskIDs {
		want[id] = task.EventTaskCompleted
		if i == 0 {
			want[id] = task.EventTaskCanceled
		}
	}
	seen := map[string]int{}
	eventually(t, 30*time.Second, func() error {
		msgs, err := p.Webhooks.Receive(ctx, queue.ReceiveOptions{Max: 10, Visibility: 5 * time.Minute, Wait: time.Second})
		if err != nil {
			return err
		}
		for _, m := range msgs {
			var qm webhook.QueueMessage
			if err := json.Unmarshal(m.Body, &qm); err != nil {
				return err
			}
			dl, err := p.Store.GetDelivery(ctx, "usr_batch", qm.DeliveryID)
			if err != nil {
				return err
			}
			if want[dl.SubjectID] != dl.EventType {
				return fmt.Errorf("delivery of %s for %s", dl.EventType, dl.SubjectID)
			}
			seen[dl.SubjectID]++
		}
		if len(seen) < len(want) {
			return fmt.Errorf("messages for %d of %d subjects", len(seen), len(want))
		}
		return nil
	})
	if seen[sub.ID] != 1 {
		t.Fatalf("batch.completed queued %d times", seen[sub.ID])
	}
}
