package cloud_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	dynamotypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/videoai/mediatasks/shared/api"
	"github.com/videoai/mediatasks/shared/app"
	"github.com/videoai/mediatasks/shared/auth"
	"github.com/videoai/mediatasks/shared/blob/fsblob"
	"github.com/videoai/mediatasks/shared/cloud"
	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/provider/sim"
	"github.com/videoai/mediatasks/shared/queue"
	"github.com/videoai/mediatasks/shared/queue/sqlitequeue"
	"github.com/videoai/mediatasks/shared/sqlitedb"
	"github.com/videoai/mediatasks/shared/store/dynamostore"
	"github.com/videoai/mediatasks/shared/store/sqlitestore"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/testkit/awstest"
	"github.com/videoai/mediatasks/shared/webhook"
)

// maxSubmitsPerMinute lifts the per-key rate limit out of the way.
const maxSubmitsPerMinute = 1_000_000

var (
	benchClients  = flag.Int("bench.clients", 16, "concurrent clients in BenchmarkSubmit")
	benchWarmup   = flag.Int("bench.warmup", 2000, "submits made before BenchmarkSubmit measures")
	benchWebhook  = flag.Bool("bench.webhook", true, "BenchmarkTaskRequests: each task has a webhook")
	benchType     = flag.String("bench.type", "image", "BenchmarkTaskRequests: the tasks' type: image, video or transcription")
	benchCallback = flag.Bool("bench.callback", false, "BenchmarkTaskRequests: the video and transcription sims call back instead of being polled")
)

// benchTasks are the requests BenchmarkTaskRequests makes, by -bench.type:
// the path and body of one task, answered by the default sim providers
// (an image at once, a video after 3 polls, a transcript after 1).
var benchTasks = map[string]struct {
	path string
	body map[string]any
}{
	"image":         {"/images/generate", map[string]any{"prompt": "a lighthouse at dusk"}},
	"video":         {"/videos/generate", map[string]any{"prompt": "a lighthouse at dusk, waves", "duration_seconds": 5}},
	"transcription": {"/audio/transcribe", map[string]any{"audio_url": "https://media.example.com/interview.mp3"}},
}

// BenchmarkSubmit: concurrent clients submit image tasks through the API
// handler, on the AWS adapters (DynamoDB Local and fauxqs's SQS) and on
// the SQLite ones (synchronous FULL, the local default), side by side in
// one run. It reports submits/s and the p50 and p99 latency of a submit.
// The emulators run on the same two cores as the benchmark: the figures
// compare code paths, not AWS's own latency.
func BenchmarkSubmit(b *testing.B) {
	body := []byte(`{"prompt":"a lighthouse at dusk, oil painting","size":"1024x1024","n":1,"metadata":{"client":"bench"}}`)
	for _, backend := range []string{"sqlite", "aws"} {
		b.Run(backend, func(b *testing.B) {
			var h http.Handler
			var key string
			switch backend {
			case "sqlite":
				h, key = sqliteAPI(b)
			case "aws":
				env, _ := cloudEnv(b)
				cfg, err := config.Parse(fmt.Appendf(nil, "limits: {submits_per_minute: %d}", maxSubmitsPerMinute))
				if err != nil {
					b.Fatal(err)
				}
				env.Config = cfg
				awsCfg, err := awsconfig.LoadDefaultConfig(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				awsCfg.HTTPClient = &http.Client{Transport: requests}
				p, err := cloud.New(context.Background(), env, cloud.Options{AWS: &awsCfg})
				if err != nil {
					b.Fatal(err)
				}
				h, key = p.API, apiKey(b, p, "usr_bench")
			}
			submit := func() *httptest.ResponseRecorder {
				req := httptest.NewRequest("POST", api.Prefix+"/images/generate", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+key)
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				return rec
			}
			// DynamoDB Local runs on the JVM, which is several times slower
			// until its code is compiled: warm both backends the same way
			// before measuring.
			var warm sync.WaitGroup
			for range *benchClients {
				warm.Go(func() {
					for range *benchWarmup / *benchClients {
						if rec := submit(); rec.Code != http.StatusAccepted {
							panic(fmt.Sprintf("submit: %d %s", rec.Code, rec.Body))
						}
					}
				})
			}
			warm.Wait()
			requests.reset()
			var mu sync.Mutex
			var all []time.Duration
			b.SetParallelism(max(*benchClients/2, 1)) // per core: 2 cores here
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				lat := make([]time.Duration, 0, 1024)
				for pb.Next() {
					t0 := time.Now()
					rec := submit()
					lat = append(lat, time.Since(t0))
					if rec.Code != http.StatusAccepted {
						panic(fmt.Sprintf("submit: %d %s", rec.Code, rec.Body))
					}
				}
				mu.Lock()
				all = append(all, lat...)
				mu.Unlock()
			})
			elapsed := time.Since(start)
			b.StopTimer()
			if len(all) == 0 {
				return
			}
			slices.Sort(all)
			b.ReportMetric(float64(len(all))/elapsed.Seconds(), "submits/s")
			b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
			if backend == "aws" {
				// What a submit asks of AWS: the cost model's inputs.
				for service, n := range requests.counts() {
					b.ReportMetric(float64(n)/float64(len(all)), service+"-requests/op")
				}
			}
		})
	}
}

// sqliteAPI is the local server's API over SQLite, as serve builds it
// (without the workflow: submits only).
func sqliteAPI(b *testing.B) (http.Handler, string) {
	ctx := context.Background()
	dir := b.TempDir()
	db, err := sqlitedb.Open(filepath.Join(dir, "mediatasks.db"), sqlitedb.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	store, err := sqlitestore.New(ctx, db, sqlitestore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	tasks, err := sqlitequeue.New(ctx, db, "tasks", sqlitequeue.Options{})
	if err != nil {
		b.Fatal(err)
	}
	blobs, err := fsblob.New(filepath.Join(dir, "blobs"), fsblob.Options{BaseURL: "http://127.0.0.1:1", Secret: make([]byte, 32)})
	if err != nil {
		b.Fatal(err)
	}
	a, err := app.New(app.Deps{Store: sqlitestore.WithQueue{Store: store, Queue: tasks}, Tasks: tasks, Blobs: blobs,
		Limits: app.Limits{SubmitsPerMinute: maxSubmitsPerMinute}})
	if err != nil {
		b.Fatal(err)
	}
	key, rec, err := auth.NewKey("usr_bench", time.Now())
	if err != nil {
		b.Fatal(err)
	}
	if err := store.CreateAPIKey(ctx, rec); err != nil {
		b.Fatal(err)
	}
	return api.New(a, api.Options{Authenticator: &auth.Authenticator{Keys: store, KeyCacheTTL: 30 * time.Second}}), key
}

// requests counts the AWS requests the benchmark's platform makes, by
// service (the host of the emulator answering: DynamoDB Local or fauxqs),
// and by operation where the request names it.
var requests = &requestCounter{next: http.DefaultTransport}

type requestCounter struct {
	next http.RoundTripper
	mu   sync.Mutex
	n    map[string]int
}

func (c *requestCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	op := r.Header.Get("X-Amz-Target") // DynamoDB_20120810.TransactWriteItems, AmazonSQS.SendMessageBatch
	if _, after, ok := strings.Cut(op, "."); ok {
		op = after
	}
	if op == "" {
		op = r.Method
	}
	c.mu.Lock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[op]++
	c.mu.Unlock()
	return c.next.RoundTrip(r)
}

func (c *requestCounter) reset() {
	c.mu.Lock()
	c.n = nil
	c.mu.Unlock()
}

func (c *requestCounter) counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.n)
}

// BenchmarkTaskRequests runs tasks (images by default, -bench.type) end to end on the AWS adapters
// (the task workflow played by the local engine, as in TestTaskEndToEnd),
// each with a webhook delivered from its queue message, and reports the
// AWS requests one task costs, by operation: the inputs of the cost
// model. ReceiveMessage includes the dispatcher's and the webhook
// consumer's idle long polls, which in Lambda the event source mappings
// make instead; Step Functions' own transitions are not requests and are
// not counted here.
func BenchmarkTaskRequests(b *testing.B) {
	env, sfn := cloudEnv(b)
	// The sims, as in Lambda, whatever binaries this machine has.
	env.Config = config.Default()
	env.Config.Providers = sim.DefaultConfigs()
	var front *callbackFront
	if *benchCallback {
		// The long jobs' sims call back when they end, at the API's
		// public URL: a front server over the platform's API handler.
		for i, p := range env.Config.Providers {
			switch p.TaskTypes[0] {
			case task.TypeVideoGeneration:
				env.Config.Providers[i].Options = json.RawMessage(`{"latency_ms":100,"callback_after_ms":3000}`)
			case task.TypeAudioTranscription:
				env.Config.Providers[i].Options = json.RawMessage(`{"latency_ms":200,"callback_after_ms":1000}`)
			}
		}
		front = newCallbackFront()
		defer front.Close()
		env.PublicBaseURL = front.URL
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	awsCfg.HTTPClient = &http.Client{Transport: requests}
	capacity := &capacityMeter{}
	awsCfg.APIOptions = append(awsCfg.APIOptions, capacity.register)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := cloud.New(ctx, env, cloud.Options{AWS: &awsCfg})
	if err != nil {
		b.Fatal(err)
	}
	key := apiKey(b, p, "usr_bench")
	if front != nil {
		front.serve(p.API)
	}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer receiver.Close()

	var bg sync.WaitGroup
	defer bg.Wait()
	defer cancel()
	bg.Go(func() { p.App.RunDispatcher(ctx) })
	bg.Go(func() { playStepFunctions(ctx, b, p, sfn, env) })
	bg.Go(func() {
		for ctx.Err() == nil {
			msgs, err := p.Webhooks.Receive(ctx, queue.ReceiveOptions{Max: 10, Visibility: time.Minute, Wait: time.Second})
			if err != nil {
				continue
			}
			for _, m := range msgs {
				_ = p.Deliverer.HandleMessage(ctx, p.Webhooks, m)
			}
		}
	})

	// The benchmark watches the tasks through a client of its own, whose
	// requests are not counted.
	observer := dynamostore.New(awstest.DynamoDB(b), env.Table, dynamostore.Options{CursorKey: env.CursorKey})
	kind, ok := benchTasks[*benchType]
	if !ok {
		b.Fatalf("-bench.type %q: image, video or transcription", *benchType)
	}
	requests.reset()
	capacity.reset()
	b.ResetTimer()
	ids := make([]string, 0, b.N)
	for range b.N {
		body := maps.Clone(kind.body)
		if *benchWebhook {
			body["webhook_url"] = receiver.URL + "/hooks"
		}
		rec := call(b, p.API, "POST", api.Prefix+kind.path, key, body)
		if rec.Code != http.StatusAccepted {
			b.Fatalf("submit: %d %s", rec.Code, rec.Body)
		}
		var tk task.Task
		if err := json.Unmarshal(rec.Body.Bytes(), &tk); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, tk.ID)
	}
	for _, id := range ids {
		completed := completedEventID(b, observer, id)
		if !*benchWebhook {
			continue
		}
		eventually(b, 5*time.Minute, func() error {
			d, err := observer.GetDelivery(ctx, "usr_bench", webhook.DeliveryID(completed))
			if err != nil {
				return err
			}
			if d.Status != webhook.StatusDelivered {
				return fmt.Errorf("delivery %s", d.Status)
			}
			return nil
		})
	}
	b.StopTimer()
	counts := requests.counts()
	read, write := capacity.units()
	cancel()
	for op, n := range counts {
		b.ReportMetric(float64(n)/float64(b.N), op+"/task")
	}
	b.ReportMetric(read/float64(b.N), "RCU/task")
	b.ReportMetric(write/float64(b.N), "WCU/task")
	for by, w := range capacity.writesBy() {
		if w > 0 {
			b.ReportMetric(w/float64(b.N), "WCU-"+strings.ReplaceAll(by, ":", "-")+"/task")
		}
	}
}

// callbackFront serves the platform's API at a URL known before the
// platform is built (the process function is given it for providers'
// callbacks).
type callbackFront struct {
	*httptest.Server
	api atomic.Pointer[http.Handler]
}

func newCallbackFront() *callbackFront {
	f := &callbackFront{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := f.api.Load()
		if h == nil {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		(*h).ServeHTTP(w, r)
	}))
	return f
}

func (f *callbackFront) serve(h http.Handler) { f.api.Store(&h) }

// capacityMeter asks DynamoDB for the capacity each request consumes
// (ReturnConsumedCapacity INDEXES: the table's and each index's share)
// and adds it up: the cost model's DynamoDB line, as DynamoDB itself
// reckons it, and where its write units go (by operation and by index).
type capacityMeter struct {
	mu          sync.Mutex
	read, write float64
	writes      map[string]float64 // by "operation" and by "index:<name>"
}

func (c *capacityMeter) register(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("capacityMeter",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			if f := reflect.ValueOf(in.Parameters).Elem().FieldByName("ReturnConsumedCapacity"); f.IsValid() && f.CanSet() {
				f.Set(reflect.ValueOf(dynamotypes.ReturnConsumedCapacityIndexes))
			}
			out, md, err := next.HandleInitialize(ctx, in)
			if err == nil {
				c.add(out.Result)
			}
			return out, md, err
		}), middleware.Before)
}

// add sums an output's ConsumedCapacity: one, or one per table.
func (c *capacityMeter) add(result any) {
	v := reflect.ValueOf(result)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return
	}
	var all []dynamotypes.ConsumedCapacity
	switch cc := v.Elem().FieldByName("ConsumedCapacity"); {
	case !cc.IsValid():
		return
	case cc.Kind() == reflect.Slice:
		all, _ = cc.Interface().([]dynamotypes.ConsumedCapacity)
	case !cc.IsNil():
		if one, ok := cc.Interface().(*dynamotypes.ConsumedCapacity); ok {
			all = append(all, *one)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.writes == nil {
		c.writes = map[string]float64{}
	}
	op := strings.TrimSuffix(reflect.TypeOf(result).Elem().Name(), "Output")
	for _, u := range all {
		r, w := aws.ToFloat64(u.ReadCapacityUnits), aws.ToFloat64(u.WriteCapacityUnits)
		if r == 0 && w == 0 { // only the total is given: a read or a write by the operation
			if u.CapacityUnits != nil && isWriteResult(result) {
				w = *u.CapacityUnits
			} else {
				r = aws.ToFloat64(u.CapacityUnits)
			}
		}
		c.read += r
		c.write += w
		c.writes[op] += w
		for name, idx := range u.GlobalSecondaryIndexes {
			c.writes["index:"+name] += aws.ToFloat64(idx.WriteCapacityUnits)
		}
	}
}

func isWriteResult(result any) bool {
	name := reflect.TypeOf(result).Elem().Name()
	for _, w := range []string{"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"} {
		if strings.HasPrefix(name, w) {
			return true
		}
	}
	return false
}

func (c *capacityMeter) reset() {
	c.mu.Lock()
	c.read, c.write, c.writes = 0, 0, nil
	c.mu.Unlock()
}

// writesBy returns the write units by operation and by index.
func (c *capacityMeter) writesBy() map[string]float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.writes)
}

func (c *capacityMeter) units() (read, write float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.read, c.write
}

// completedEventID waits for the task to complete and returns the id of
// its task.completed event.
func completedEventID(tb testing.TB, store *dynamostore.Store, id string) string {
	tb.Helper()
	var evID string
	eventually(tb, 5*time.Minute, func() error {
		events, err := store.ListEvents(context.Background(), id, 0, 100)
		if err != nil {
			return err
		}
		for _, e := range events {
			switch e.Type {
			case task.EventTaskCompleted:
				evID = e.ID
				return nil
			case task.EventTaskFailed, task.EventTaskCanceled:
				tb.Fatalf("task %s: %s %s", id, e.Type, e.Data)
			}
		}
		return fmt.Errorf("task %s not completed", id)
	})
	return evID
}
