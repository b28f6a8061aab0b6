package dynamostore_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/videoai/mediatasks/shared/app/budgettest"
	"github.com/videoai/mediatasks/shared/store/dynamostore"
	"github.com/videoai/mediatasks/shared/store/storetest"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/testkit/awstest"
	"github.com/videoai/mediatasks/shared/webhook"
)

func TestMain(m *testing.M) { os.Exit(awstest.Main(m)) }

// open returns a store over a fresh table of DynamoDB Local, with a clock
// the test can set (opts.Now, or real time, until it does).
func open(tb testing.TB, opts dynamostore.Options) (*dynamostore.Store, func(time.Time)) {
	tb.Helper()
	db := awstest.DynamoDB(tb)
	table := awstest.Name(tb)
	if err := dynamostore.CreateTable(context.Background(), db, table); err != nil {
		tb.Fatal(err)
	}
	var fixed atomic.Pointer[time.Time]
	base := opts.Now
	if base == nil {
		base = time.Now
	}
	opts.Now = func() time.Time {
		if at := fixed.Load(); at != nil {
			return *at
		}
		return base()
	}
	return dynamostore.New(db, table, opts), func(at time.Time) { fixed.Store(&at) }
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Adapter {
		s, setNow := open(t, dynamostore.Options{})
		// PurgeExpired stays nil: the table's TTL expires records.
		return storetest.Adapter{Store: s, Keys: s, SetNow: setNow}
	})
}

// The suite also passes on real time, as the store runs in the cloud.
func TestConformanceOnRealTime(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Adapter {
		s, _ := open(t, dynamostore.Options{})
		return storetest.Adapter{Store: s, Keys: s}
	})
}

func newTask(id, user string, at time.Time) *task.Task {
	return &task.Task{ID: id, UserID: user, Type: task.TypeImageGeneration, Status: task.StatusQueued,
		Priority: task.PriorityNormal, Input: json.RawMessage(`{"prompt":"a harbour at dawn"}`),
		CreatedAt: at, UpdatedAt: at, Version: 1}
}

func createTasks(t *testing.T, s *dynamostore.Store, tasks ...*task.Task) {
	t.Helper()
	c := task.Creation{Tasks: tasks}
	for _, tk := range tasks {
		c.Events = append(c.Events, task.NewTaskEvent(tk, task.EventTaskQueued, tk.CreatedAt))
	}
	if err := s.Create(context.Background(), c); err != nil {
		t.Fatalf("Create: %v", err)
	}
}

// A cursor is opaque and tamper-proof: one changed byte, a cursor of
// another user or of a store with another key is refused, and a cursor
// carries no partition, so it can never list another user's tasks.
func TestCursorIsTamperProof(t *testing.T) {
	t.Parallel()
	s, _ := open(t, dynamostore.Options{CursorKey: []byte("first key")})
	ctx := context.Background()
	now := time.Now().UTC()
	createTasks(t, s, newTask("tsk_a1", "alice", now), newTask("tsk_a2", "alice", now.Add(time.Millisecond)),
		newTask("tsk_b1", "bob", now))
	page, err := s.ListTasks(ctx, "alice", task.ListFilter{Limit: 1})
	if err != nil || page.NextCursor == "" {
		t.Fatalf("first page: %v, cursor %q", err, page.NextCursor)
	}
	next, err := s.ListTasks(ctx, "alice", task.ListFilter{Limit: 1, Cursor: page.NextCursor})
	if err != nil || len(next.Tasks) != 1 || next.Tasks[0].ID != "tsk_a1" {
		t.Fatalf("second page: %v, %v", err, next.Tasks)
	}

	raw, err := base64.RawURLEncoding.DecodeString(page.NextCursor)
	if err != nil {
		t.Fatal(err)
	}
	other := dynamostore.New(awstest.DynamoDB(t), s.Table(), dynamostore.Options{CursorKey: []byte("second key")})
	cases := map[string]struct {
		store  *dynamostore.Store
		user   string
		cursor string
	}{
		"another user's":       {s, "bob", page.NextCursor},
		"another key's":        {other, "alice", page.NextCursor},
		"last byte changed":    {s, "alice", flipLast(raw)},
		"position only":        {s, "alice", base64.RawURLEncoding.EncodeToString(raw[16:])},
		"truncated":            {s, "alice", page.NextCursor[:len(page.NextCursor)-2]},
		"padded base64":        {s, "alice", base64.URLEncoding.EncodeToString(raw) + "="},
		"a key of another row": {s, "alice", base64.RawURLEncoding.EncodeToString(append(raw[:16:16], "0000000000000000000#tsk_b1"...))},
	}
	for name, tc := range cases {
		if _, err := tc.store.ListTasks(ctx, tc.user, task.ListFilter{Cursor: tc.cursor}); !errors.Is(err, task.ErrBadCursor) {
			t.Errorf("%s: error = %v, want ErrBadCursor", name, err)
		}
	}
}

func flipLast(raw []byte) string {
	changed := append([]byte(nil), raw...)
	changed[len(changed)-1] ^= 1
	return base64.RawURLEncoding.EncodeToString(changed)
}

// A batch too large for one transaction is written in stages; when its
// commit is refused, the events written ahead of it are deleted again,
// and a batch larger than the store takes is refused before any write.
func TestStagedCreation(t *testing.T) {
	t.Parallel()
	s, _ := open(t, dynamostore.Options{})
	ctx := context.Background()
	now := time.Now().UTC()
	batchOf := func(prefix string, n int) task.Creation {
		b := &task.Batch{ID: "bat_" + prefix, UserID: "u", Status: task.BatchRunning, Counts: task.NewCounts(n),
			CreatedAt: now, UpdatedAt: now, Version: 1}
		c := task.Creation{Batch: b}
		for i := range n {
			tk := newTask(prefix+"_"+strconv.Itoa(i), "u", now)
			tk.BatchID = b.ID
			b.TaskIDs = append(b.TaskIDs, tk.ID)
			c.Tasks = append(c.Tasks, tk)
			c.Events = append(c.Events, task.NewTaskEvent(tk, task.EventTaskQueued, now))
		}
		return c
	}

	// The last task's id is taken (by a task stored without events): the
	// events go first, then the commit is refused and they are deleted.
	if err := s.Create(ctx, task.Creation{Tasks: []*task.Task{newTask("dup_59", "u", now)}}); err != nil {
		t.Fatal(err)
	}
	c := batchOf("dup", 60)
	if err := s.Create(ctx, c); !errors.Is(err, task.ErrDuplicateID) {
		t.Fatalf("Create with a taken id: error = %v, want ErrDuplicateID", err)
	}
	for _, tk := range c.Tasks {
		if events, err := s.ListEvents(ctx, tk.ID, 0, 10); err != nil || len(events) != 0 {
			t.Fatalf("events of %s after a refused creation: %d, %v", tk.ID, len(events), err)
		}
	}
	if _, err := s.GetBatch(ctx, "", c.Batch.ID); !errors.Is(err, task.ErrNotFound) {
		t.Fatalf("batch of a refused creation: %v", err)
	}

	c = batchOf("big", dynamostore.MaxCreateTasks)
	rec := task.IdempotencyRecord{UserID: "u", Key: "k", RequestHash: "h", StatusCode: 202, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	c.Idempotency = &rec
	if err := s.Create(ctx, c); err != nil {
		t.Fatalf("Create of %d tasks: %v", dynamostore.MaxCreateTasks, err)
	}
	page, err := s.ListTasks(ctx, "u", task.ListFilter{BatchID: c.Batch.ID, Limit: 100})
	if err != nil || len(page.Tasks) != dynamostore.MaxCreateTasks {
		t.Fatalf("listed %d tasks of the batch, %v", len(page.Tasks), err)
	}
	for _, tk := range []*task.Task{c.Tasks[0], c.Tasks[len(c.Tasks)-1]} {
		if events, err := s.ListEvents(ctx, tk.ID, 0, 10); err != nil || len(events) != 1 {
			t.Fatalf("events of %s: %d, %v", tk.ID, len(events), err)
		}
	}

	// 60 tasks whose webhooks want task.queued: 180 delivery writes and
	// their counters, most of them after the commit.
	hooked := batchOf("hooked", 60)
	hooked.Events = nil
	for _, tk := range hooked.Tasks {
		tk.WebhookURL, tk.WebhookEvents = "https://example.com/hooks", []task.EventType{task.EventTaskQueued}
		hooked.Events = append(hooked.Events, task.NewTaskEvent(tk, task.EventTaskQueued, now))
	}
	if err := s.Create(ctx, hooked); err != nil {
		t.Fatalf("Create of 60 tasks with deliveries: %v", err)
	}
	for _, e := range hooked.Events {
		if _, err := s.GetDelivery(ctx, "u", webhook.DeliveryID(e.ID)); err != nil {
			t.Fatalf("delivery of %s: %v", e.ID, err)
		}
	}

	tooLarge := batchOf("huge", dynamostore.MaxCreateTasks+1)
	tooLarge.Idempotency = &task.IdempotencyRecord{UserID: "u", Key: "k2", RequestHash: "h", StatusCode: 202, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.Create(ctx, tooLarge); !errors.Is(err, dynamostore.ErrCreationTooLarge) {
		t.Fatalf("Create of %d tasks: error = %v, want ErrCreationTooLarge", len(tooLarge.Tasks), err)
	}
	if _, err := s.GetTask(ctx, "", tooLarge.Tasks[0].ID); !errors.Is(err, task.ErrNotFound) {
		t.Fatalf("task of a refused creation: %v", err)
	}
	if events, err := s.ListEvents(ctx, tooLarge.Tasks[0].ID, 0, 10); err != nil || len(events) != 0 {
		t.Fatalf("events of a refused creation: %d, %v", len(events), err)
	}
}

// collider stands between the store and DynamoDB Local and refuses the
// next transactions it is told to, as DynamoDB refuses a transaction that
// collides with another one on an item they share (DynamoDB Local runs
// transactions one at a time and never does): cancellation reason
// TransactionConflict on the last action, None on the others.
type collider struct {
	refuse  atomic.Int64 // transactions still to refuse
	refused atomic.Int64
}

func (c *collider) client(t *testing.T) *dynamodb.Client {
	t.Helper()
	target, err := url.Parse(awstest.DynamoDBEndpoint(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".TransactWriteItems") || c.refuse.Add(-1) < 0 {
			proxy.ServeHTTP(w, r)
			return
		}
		c.refused.Add(1)
		body, _ := io.ReadAll(r.Body)
		var req struct{ TransactItems []json.RawMessage }
		if err := json.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		reasons := make([]map[string]string, len(req.TransactItems))
		codes := make([]string, len(reasons))
		for i := range reasons {
			codes[i] = "None"
			if i == len(reasons)-1 {
				codes[i] = "TransactionConflict"
			}
			reasons[i] = map[string]string{"Code": codes[i]}
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]any{
			"__type":              "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
			"Message":             fmt.Sprintf("Transaction cancelled, please refer cancellation reasons for specific reasons [%s]", strings.Join(codes, ", ")),
			"CancellationReasons": reasons,
		})
	}))
	t.Cleanup(server.Close)
	return dynamodb.NewFromConfig(awstest.Config(), func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(server.URL)
		o.DisableValidateResponseChecksum = true
	})
}

// Transactions that collide with concurrent ones are run again by the
// store: a submit and the status changes of a batch's tasks succeed.
func TestCollisionsAreRetried(t *testing.T) {
	t.Parallel()
	var c collider
	table := awstest.Name(t)
	if err := dynamostore.CreateTable(context.Background(), awstest.DynamoDB(t), table); err != nil {
		t.Fatal(err)
	}
	s := dynamostore.New(c.client(t), table, dynamostore.Options{})
	ctx := context.Background()
	now := time.Now().UTC()
	b := &task.Batch{ID: "bat_c", UserID: "u", Status: task.BatchRunning, Counts: task.NewCounts(2), CreatedAt: now, UpdatedAt: now, Version: 1}
	first, second := newTask("tsk_c1", "u", now), newTask("tsk_c2", "u", now)
	first.BatchID, second.BatchID, b.TaskIDs = b.ID, b.ID, []string{first.ID, second.ID}

	c.refuse.Store(3)
	if err := s.Create(ctx, task.Creation{Tasks: []*task.Task{first, second}, Batch: b}); err != nil {
		t.Fatalf("Create through 3 collisions: %v", err)
	}
	move := func(prev *task.Task, to task.Status, collisions int64) *task.Task {
		t.Helper()
		next := prev.Clone()
		ev, err := next.Transition(to, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		c.refuse.Store(collisions)
		if err := s.UpdateTask(ctx, prev, next, ev); err != nil {
			t.Fatalf("UpdateTask %s -> %s through %d collisions: %v", prev.Status, to, collisions, err)
		}
		return next
	}
	move(move(first, task.StatusRunning, 4), task.StatusCompleted, 2)
	move(second, task.StatusCanceled, 5) // the last task: the batch completes
	if got := c.refused.Load(); got != 3+4+2+5 {
		t.Fatalf("%d transactions refused, want 14", got)
	}
	got, err := s.GetBatch(ctx, "u", b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != task.BatchCompleted || got.Version != 4 || got.Counts[task.StatusCompleted] != 1 || got.Counts[task.StatusCanceled] != 1 {
		t.Errorf("batch: status %s, version %d, counts %v", got.Status, got.Version, got.Counts)
	}
	if events, err := s.ListEvents(ctx, b.ID, 0, 10); err != nil || len(events) != 1 || events[0].Seq != 4 {
		t.Errorf("batch events: %v, %v; want one batch.completed at 4", events, err)
	}
	if events, err := s.ListEvents(ctx, first.ID, 0, 10); err != nil || len(events) != 2 {
		t.Errorf("events of %s: %d, %v; want 2", first.ID, len(events), err)
	}
}

// BenchmarkCreate measures the submit path: one task, its queued event and
// an idempotency record per Create, from parallel clients. Reported with
// creates/s. DynamoDB Local is no measure of DynamoDB's latency: the
// figure compares versions of this store, not runtimes.
func BenchmarkCreate(b *testing.B) {
	s, _ := open(b, dynamostore.Options{})
	ctx := context.Background()
	input := json.RawMessage(`{"prompt":"a lighthouse at dusk, oil painting","width":1024,"height":1024}`)
	var n atomic.Int64
	b.SetParallelism(16) // clients per core: submits arrive concurrently
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := strconv.FormatInt(n.Add(1), 10)
			now := time.Now()
			tk := newTask("tsk_"+i, "user_"+strconv.Itoa(int(n.Load()%50)), now)
			tk.Input, tk.Metadata = input, map[string]string{"order": i}
			rec := task.IdempotencyRecord{UserID: tk.UserID, Key: "key_" + i, RequestHash: "h", StatusCode: 202,
				Body: []byte(`{"id":"tsk_` + i + `"}`), CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
			c := task.Creation{Tasks: []*task.Task{tk}, Events: []task.Event{task.NewTaskEvent(tk, task.EventTaskQueued, now)}, Idempotency: &rec}
			if err := s.Create(ctx, c); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "creates/s")
}

// Stats's durations cover each provider's most recent completed tasks
// (Options.DurationSample), so that its cost does not grow with a user's
// history; events and duration items carry the TTL that ends them.
func TestStatsSampleAndRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, setNow := open(t, dynamostore.Options{DurationSample: 3})
	base := time.Date(2031, 3, 14, 12, 0, 0, 0, time.UTC)
	setNow(base)
	var ids []string
	for i := range 5 {
		tk := newTask(fmt.Sprintf("tsk_sample_%d", i), "usr_sample", base)
		createTasks(t, s, tk)
		started := base.Add(time.Duration(i) * time.Minute)
		running := *tk
		running.Status, running.Provider, running.StartedAt, running.Version = task.StatusRunning, "sim-image", &started, 2
		if err := s.UpdateTask(ctx, tk, &running); err != nil {
			t.Fatal(err)
		}
		// Task i runs i+1 seconds; later tasks complete later.
		completed := started.Add(time.Duration(i+1) * time.Second)
		done := running
		done.Status, done.CompletedAt, done.Version = task.StatusCompleted, &completed, 3
		if err := s.UpdateTask(ctx, &running, &done); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tk.ID)
	}
	st, err := s.Stats(ctx, "usr_sample")
	if err != nil {
		t.Fatal(err)
	}
	p := st.Providers["sim-image"]
	// The three most recent ran 3, 4 and 5 s: mean 4, nearest-rank p95 5.
	if p.Completed != 5 || p.MeanSeconds != 4 || p.P95Seconds != 5 {
		t.Fatalf("provider stats %+v, want 5 completed, mean 4 s and p95 5 s over the last 3", p)
	}

	out, err := awstest.DynamoDB(t).Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(s.Table()),
		KeyConditionExpression:    aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: "EVENT#" + ids[0]}},
	})
	if err != nil || len(out.Items) == 0 {
		t.Fatalf("events of %s: %d items (%v)", ids[0], len(out.Items), err)
	}
	for _, it := range out.Items {
		ttl, ok := it[dynamostore.TTLAttribute].(*types.AttributeValueMemberN)
		if !ok {
			t.Fatalf("event item without %s: %v", dynamostore.TTLAttribute, it)
		}
		created, _ := strconv.ParseInt(it["created_at"].(*types.AttributeValueMemberN).Value, 10, 64)
		want := time.Unix(0, created).Add(dynamostore.EventRetention)
		if got, _ := strconv.ParseInt(ttl.Value, 10, 64); got < want.Unix() || got > want.Unix()+1 {
			t.Fatalf("event expires at %d, want %d (created + %s)", got, want.Unix(), dynamostore.EventRetention)
		}
	}
}

// A staged creation (49 to 97 tasks) whose commit lands but whose answer
// never reaches the caller (its context ended: the client left, a
// timeout) keeps the events it wrote first: the committed tasks have
// their task.queued events.
func TestStagedCommitOfUnknownOutcomeKeepsEvents(t *testing.T) {
	target, _ := url.Parse(awstest.DynamoDBEndpoint(t))
	proxy := httputil.NewSingleHostReverseProxy(target)
	committed := make(chan struct{}, 1)
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		isCommit := strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".TransactWriteItems") && bytes.Contains(body, []byte(`"BATCH#`))
		if !isCommit {
			proxy.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		proxy.ServeHTTP(rec, r) // DynamoDB commits
		committed <- struct{}{}
		time.Sleep(2 * time.Second) // the answer is late: the caller gave up
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	}))
	defer server.Close()
	db := dynamodb.NewFromConfig(awstest.Config(), func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(server.URL)
		o.DisableValidateResponseChecksum = true
	})
	table := awstest.Name(t)
	if err := dynamostore.CreateTable(context.Background(), awstest.DynamoDB(t), table); err != nil {
		t.Fatal(err)
	}
	s := dynamostore.New(db, table, dynamostore.Options{})

	now := time.Now().UTC()
	n := 60
	b := &task.Batch{ID: "bat_amb", UserID: "u", Status: task.BatchRunning, Counts: task.NewCounts(n), CreatedAt: now, UpdatedAt: now, Version: 1}
	c := task.Creation{Batch: b}
	for i := range n {
		tk := newTask("tsk_amb_"+strconv.Itoa(i), "u", now)
		tk.BatchID = b.ID
		b.TaskIDs = append(b.TaskIDs, tk.ID)
		c.Tasks = append(c.Tasks, tk)
		c.Events = append(c.Events, task.NewTaskEvent(tk, task.EventTaskQueued, now))
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-committed; cancel() }()
	err := s.Create(ctx, c)
	if err == nil {
		t.Fatal("Create succeeded though its caller gave up before the answer")
	}

	plain := dynamostore.New(awstest.DynamoDB(t), table, dynamostore.Options{})
	if _, err := plain.GetBatch(context.Background(), "u", b.ID); err != nil {
		t.Fatalf("batch: %v (the commit did not land; test setup problem)", err)
	}
	tk, err := plain.GetTask(context.Background(), "u", c.Tasks[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	events, err := plain.ListEvents(context.Background(), tk.ID, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 {
		t.Errorf("task %s is stored (status %s) but has %d events, want its task.queued event", tk.ID, tk.Status, len(events))
	}
}

// A type filter that matches nothing in a long history reads a bounded
// number of items a page, and hands back a cursor to go on from where it
// stopped; walking the cursors finds the match past the first budget.
func TestRareTypeListingIsBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := open(t, dynamostore.Options{})
	base := time.Date(2031, 3, 14, 12, 0, 0, 0, time.UTC)
	rare := newTask("tsk_rare", "usr_long", base)
	rare.Type = task.TypeAudioTranscription
	createTasks(t, s, rare)
	var batch []*task.Task
	for i := range 1200 { // newer than the rare one: read first
		batch = append(batch, newTask(fmt.Sprintf("tsk_img_%04d", i), "usr_long", base.Add(time.Duration(i+1)*time.Second)))
		if len(batch) == 40 {
			createTasks(t, s, batch...)
			batch = nil
		}
	}
	f := task.ListFilter{Type: task.TypeAudioTranscription, Limit: 5}
	first, err := s.ListTasks(ctx, "usr_long", f)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Tasks) != 0 || first.NextCursor == "" {
		t.Fatalf("first page: %d tasks, cursor %q; want none yet and a cursor to go on", len(first.Tasks), first.NextCursor)
	}
	f.Cursor = first.NextCursor
	second, err := s.ListTasks(ctx, "usr_long", f)
	if err != nil {
		t.Fatal(err)
	}
	if len(second.Tasks) != 1 || second.Tasks[0].ID != rare.ID || second.NextCursor != "" {
		t.Fatalf("second page: %v, cursor %q; want the rare task and no cursor", ids(second.Tasks), second.NextCursor)
	}
}

func ids(tasks []*task.Task) []string {
	out := make([]string, 0, len(tasks))
	for _, t := range tasks {
		out = append(out, t.ID)
	}
	return out
}

// A task too large for one item (over 400 KB) is refused with
// task.ErrTooLarge, the caller's error, not a raw AWS one; so is a batch
// over a transaction's 4 MB.
func TestTooLargeToStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := open(t, dynamostore.Options{})
	now := time.Now().UTC()
	big, err := json.Marshal(map[string]any{"prompt": incompressible(250_000)}) // 750 KB, about 450 KB deflated
	if err != nil {
		t.Fatal(err)
	}
	tk := newTask("tsk_too_big", "usr_big", now)
	tk.Input = big
	err = s.Create(ctx, task.Creation{Tasks: []*task.Task{tk}, Events: []task.Event{task.NewTaskEvent(tk, task.EventTaskQueued, now)}})
	if !errors.Is(err, task.ErrTooLarge) {
		t.Fatalf("create of a 750 KB task: %v, want ErrTooLarge", err)
	}

	input, err := json.Marshal(map[string]any{"prompt": incompressible(27_000)}) // 81 KB, about 49 KB deflated
	if err != nil {
		t.Fatal(err)
	}
	b := &task.Batch{ID: "bat_too_big", UserID: "usr_big", Status: task.BatchRunning, Counts: task.NewCounts(45),
		CreatedAt: now, UpdatedAt: now, Version: 1}
	c := task.Creation{Batch: b}
	for i := range 45 { // 45 tasks and 45 events of 49 KB: over 4 MB
		tk := newTask(fmt.Sprintf("tsk_big_%02d", i), "usr_big", now)
		tk.Input, tk.BatchID = input, b.ID
		b.TaskIDs = append(b.TaskIDs, tk.ID)
		c.Tasks = append(c.Tasks, tk)
		c.Events = append(c.Events, task.NewTaskEvent(tk, task.EventTaskQueued, now))
	}
	if err := s.Create(ctx, c); !errors.Is(err, task.ErrTooLarge) {
		t.Fatalf("create of a 4.4 MB batch: %v, want ErrTooLarge", err)
	}
}

// incompressible is n random CJK characters (3 bytes each in UTF-8):
// text the store's compression cannot shrink much.
func incompressible(n int) string {
	r := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	for range n {
		b.WriteRune(rune(0x4E00 + r.IntN(0x5000)))
	}
	return b.String()
}

func TestBudgetConformance(t *testing.T) {
	budgettest.Run(t, func(t *testing.T) budgettest.Adapter {
		st, _ := open(t, dynamostore.Options{})
		return st
	})
}
