package local_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/app"
	"github.com/videoai/mediatasks/shared/blob/tieredblob"
	"github.com/videoai/mediatasks/shared/config"
	mtplatform "github.com/videoai/mediatasks/shared/platform"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/sim"
	"github.com/videoai/mediatasks/shared/queue/sqlitequeue"
	"github.com/videoai/mediatasks/shared/sfnlocal/engine"
	"github.com/videoai/mediatasks/shared/sqlitedb"
	"github.com/videoai/mediatasks/shared/store/sqlitestore"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/workflow"
	"github.com/videoai/mediatasks/shared/workflow/local"
)

// platform is the whole local platform in process: the app on the SQLite
// adapters, the provider registry, the step actions and the engine, with
// the dispatcher and the engine running.
type platform struct {
	app       *app.App
	store     *sqlitestore.Store
	queue     *sqlitequeue.Queue
	blobs     *tieredblob.Store
	runner    *local.Runner
	providers *provider.Registry
	db        *sqlitedb.DB
}

type platformOptions struct {
	batchConcurrency int
	workers          int
	maxInProgress    int
	maxPerType       int
	factories        map[string]provider.Factory
	durable          bool // synchronous=FULL, as the server runs; else NORMAL
}

// newPlatform starts the platform over the given providers. Retry delays
// are drawn as zero (full jitter from a source that answers 0), so retries
// happen at once and the tests need no clock.
func newPlatform(t testing.TB, providers []config.Provider, o platformOptions) *platform {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	mode := "NORMAL"
	if o.durable {
		mode = "FULL"
	}
	db, err := sqlitedb.Open(filepath.Join(dir, "test.db"), sqlitedb.Options{Synchronous: mode})
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlitestore.New(ctx, db, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	q, err := sqlitequeue.New(ctx, db, "tasks", sqlitequeue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The server's blob store: small outputs in the database, large in files.
	blobs, err := tieredblob.New(ctx, db, filepath.Join(dir, "blobs"), tieredblob.Options{BaseURL: "http://127.0.0.1:1", Secret: make([]byte, 32), NoSync: !o.durable})
	if err != nil {
		t.Fatal(err)
	}
	var runner *local.Runner
	cfg := config.Default()
	cfg.Providers = providers
	p, err := mtplatform.Build(mtplatform.Adapters{
		Store:         sqlitestore.WithQueue{Store: st, Queue: q},
		Tasks:         q,
		Blobs:         blobs,
		ProviderTypes: o.factories,
		Runner: func(d mtplatform.RunnerDeps) (app.Runner, []mtplatform.Service, error) {
			var err error
			runner, err = local.New(ctx, db, local.Options{
				Actions: d.Actions, BatchConcurrency: o.batchConcurrency, Workers: o.workers, MaxInProgress: o.maxInProgress, MaxInProgressPerType: o.maxPerType,
				Rand: func() float64 { return 0 },
			})
			if err != nil {
				return nil, nil, err
			}
			return runner, []mtplatform.Service{{Name: "engine", Run: runner.Run}}, nil
		},
		Config: cfg,
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { mtplatform.Run(ctx, slog.New(slog.DiscardHandler), p.Services...) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		db.Close()
	})
	a, reg := p.App, p.Providers
	return &platform{app: a, store: st, queue: q, blobs: blobs, runner: runner, providers: reg, db: db}
}

func simProvider(name string, opts string, types ...task.Type) config.Provider {
	if len(types) == 0 {
		types = task.Types
	}
	return config.Provider{Name: name, Type: "sim", TaskTypes: types, Weight: 1, Options: json.RawMessage(opts)}
}

func (p *platform) submit(t *testing.T, typ task.Type, input string) *task.Task {
	t.Helper()
	tk, err := p.app.SubmitTask(context.Background(), "alice", app.TaskSpec{Type: typ, Input: json.RawMessage(input)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func (p *platform) waitTerminal(t *testing.T, id string) *task.Task {
	t.Helper()
	tk, err := p.app.WaitTerminal(context.Background(), "alice", id, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !tk.Status.Terminal() {
		t.Fatalf("task %s is still %s after 60 s: %+v", id, tk.Status, tk)
	}
	return tk
}

// Every task type completes on the default sim providers, and its output
// is an object in the blob store.
func TestEveryTaskTypeCompletesOnTheDefaultProviders(t *testing.T) {
	t.Parallel()
	defaults := sim.DefaultConfigs()
	for i := range defaults {
		// The demo settings wait between polls; the test need not.
		defaults[i].Options = json.RawMessage(`{"poll_steps": 2, "poll_after_ms": 0}`)
	}
	p := newPlatform(t, defaults, platformOptions{})
	inputs := map[task.Type]string{
		task.TypeImageGeneration:    `{"prompt":"a red fox in the snow","size":"256x256","n":2}`,
		task.TypeVideoGeneration:    `{"prompt":"waves at dusk","duration_seconds":2,"aspect_ratio":"16:9"}`,
		task.TypeAudioTranscription: `{"audio_url":"https://example.com/a.wav","language":"en"}`,
		task.TypeSubtitleGeneration: `{"audio_url":"https://example.com/a.wav","format":"vtt","max_line_chars":42}`,
	}
	wantType := map[task.Type]string{
		task.TypeImageGeneration:    "image/png",
		task.TypeVideoGeneration:    "image/gif",
		task.TypeAudioTranscription: "application/json",
		task.TypeSubtitleGeneration: "text/vtt",
	}
	for typ, in := range inputs {
		t.Run(string(typ), func(t *testing.T) {
			t.Parallel()
			tk := p.waitTerminal(t, p.submit(t, typ, in).ID)
			if tk.Status != task.StatusCompleted {
				t.Fatalf("status %s, error %+v", tk.Status, tk.Error)
			}
			if tk.Output == nil || len(tk.Output.Files) == 0 {
				t.Fatalf("no output: %+v", tk.Output)
			}
			if tk.Output.Extra["simulated"] != true {
				t.Errorf("output extra = %v, want simulated: true", tk.Output.Extra)
			}
			if typ == task.TypeImageGeneration && len(tk.Output.Files) != 2 {
				t.Errorf("n=2 gave %d files", len(tk.Output.Files))
			}
			if tk.Provider == "" || tk.Attempts != 1 || len(tk.AttemptHistory) != 1 {
				t.Errorf("provider %q, attempts %d, history %+v", tk.Provider, tk.Attempts, tk.AttemptHistory)
			}
			if tk.Progress != 1 {
				t.Errorf("progress %v, want 1", tk.Progress)
			}
			stored, err := p.store.GetTask(context.Background(), "alice", tk.ID)
			if err != nil {
				t.Fatal(err)
			}
			f := stored.Output.Files[0]
			if f.ContentType != wantType[typ] {
				t.Errorf("content type %q, want %q", f.ContentType, wantType[typ])
			}
			rc, obj, err := p.blobs.Get(context.Background(), f.Key)
			if err != nil {
				t.Fatalf("output file %s: %v", f.Key, err)
			}
			body, _ := io.ReadAll(rc)
			rc.Close()
			if int64(len(body)) != obj.Size || obj.Size != f.SizeBytes || obj.Size == 0 {
				t.Errorf("file of %d bytes, object %d, task says %d", len(body), obj.Size, f.SizeBytes)
			}
			evs, err := p.app.Events(context.Background(), "alice", tk.ID, 0)
			if err != nil {
				t.Fatal(err)
			}
			var types []task.EventType
			for _, e := range evs {
				types = append(types, e.Type)
			}
			if !slices.Contains(types, task.EventTaskStarted) || types[len(types)-1] != task.EventTaskCompleted {
				t.Errorf("events %v", types)
			}
			if typ == task.TypeVideoGeneration && !slices.Contains(types, task.EventTaskProgress) {
				t.Errorf("a polled job recorded no progress: events %v", types)
			}
		})
	}
}

// With one provider failing 30% of its calls (transient) beside a healthy
// one, every task completes; retries and failovers show in the attempts.
func TestTransientFailuresAreRetriedAndFailedOver(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, []config.Provider{
		simProvider("flaky", `{"fail_rate": 0.3, "fail_with": "transient", "seed": 7}`, task.TypeImageGeneration),
		simProvider("steady", `{}`, task.TypeImageGeneration),
	}, platformOptions{})
	const n = 200
	ids := make([]string, n)
	for i := range ids {
		ids[i] = p.submit(t, task.TypeImageGeneration, fmt.Sprintf(`{"prompt":"fox %d","size":"256x256"}`, i)).ID
	}
	var retried, failedOver int
	for _, id := range ids {
		tk := p.waitTerminal(t, id)
		if tk.Status != task.StatusCompleted {
			t.Errorf("task %s: %s %+v (attempts %+v)", id, tk.Status, tk.Error, tk.AttemptHistory)
			continue
		}
		if tk.Attempts != len(tk.AttemptHistory) {
			t.Errorf("task %s: attempts %d, history of %d", id, tk.Attempts, len(tk.AttemptHistory))
		}
		last := tk.AttemptHistory[len(tk.AttemptHistory)-1]
		if last.Outcome != "started" || last.Provider != tk.Provider {
			t.Errorf("task %s: last attempt %+v, provider %s", id, last, tk.Provider)
		}
		for i, at := range tk.AttemptHistory[:len(tk.AttemptHistory)-1] {
			if at.Outcome != "transient" || at.Provider != "flaky" {
				t.Errorf("task %s: attempt %d %+v, want a transient failure of flaky", id, i, at)
			}
		}
		if len(tk.AttemptHistory) > 1 {
			retried++
			if tk.Provider == "steady" {
				failedOver++
			}
		}
	}
	t.Logf("%d tasks: %d retried, %d completed on the other provider", n, retried, failedOver)
	if retried == 0 {
		t.Fatal("no task was retried: the flaky provider never failed")
	}
}

// A task pinned to a provider that fails permanently ends failed with
// that provider's error: it is never failed over to another.
func TestPinnedProviderFailingPermanentlyFailsTheTask(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, []config.Provider{
		simProvider("broken", `{"fail_rate": 1, "fail_with": "permanent"}`, task.TypeImageGeneration),
		simProvider("steady", `{}`, task.TypeImageGeneration),
	}, platformOptions{})
	tk := p.waitTerminal(t, p.submit(t, task.TypeImageGeneration, `{"prompt":"a fox","provider":"broken"}`).ID)
	if tk.Status != task.StatusFailed || tk.Error == nil {
		t.Fatalf("status %s, error %+v", tk.Status, tk.Error)
	}
	if !strings.Contains(tk.Error.Message, "broken") || tk.Error.Retryable {
		t.Errorf("error %+v, want broken's permanent error", tk.Error)
	}
	for _, at := range tk.AttemptHistory {
		if at.Provider != "broken" || at.Outcome != "permanent" {
			t.Errorf("attempt %+v: a pinned task called another provider or succeeded", at)
		}
	}
	if tk.Attempts != 1 {
		t.Errorf("attempts %d, want 1 (a permanent error is not retried)", tk.Attempts)
	}

	// Unpinned, the same task fails over to the steady provider.
	tk = p.waitTerminal(t, p.submit(t, task.TypeImageGeneration, `{"prompt":"a fox"}`).ID)
	if tk.Status != task.StatusCompleted || tk.Provider != "steady" {
		t.Fatalf("unpinned: status %s on %q, history %+v", tk.Status, tk.Provider, tk.AttemptHistory)
	}
}

// gate is a provider whose jobs stay pending until released, counting the
// jobs in flight, so a test can observe a concurrency cap.
type gate struct {
	name               string
	mu                 sync.Mutex
	active, maxActive  int
	release            chan struct{}
	started, cancelled atomic.Int64
}

func (g *gate) Name() string           { return g.name }
func (g *gate) TaskTypes() []task.Type { return task.Types }

func (g *gate) Start(ctx context.Context, req provider.Request) (provider.Response, error) {
	g.mu.Lock()
	g.active++
	g.maxActive = max(g.maxActive, g.active)
	g.mu.Unlock()
	g.started.Add(1)
	return provider.Response{Job: "job-" + req.TaskID, PollAfter: 0}, nil
}

func (g *gate) Poll(ctx context.Context, req provider.Request, job string) (provider.Response, error) {
	select {
	case <-g.release:
	case <-time.After(20 * time.Millisecond):
		return provider.Response{Progress: 0.5}, nil
	case <-ctx.Done():
		return provider.Response{}, ctx.Err()
	}
	g.mu.Lock()
	g.active--
	g.mu.Unlock()
	return provider.Response{Result: &provider.Result{Files: []provider.File{{ContentType: "text/plain", Ext: ".txt", Data: []byte(job)}}}}, nil
}

func (g *gate) Cancel(ctx context.Context, req provider.Request, job string) error {
	g.cancelled.Add(1)
	return nil
}

func (g *gate) maxInFlight() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.maxActive
}

func gateFactory(g *gate) provider.Factory {
	return func(cfg config.Provider) (provider.Provider, error) { g.name = cfg.Name; return g, nil }
}

// A batch of 50 runs at most its concurrency cap of tasks at once,
// completes, and emits batch.completed.
func TestBatchRunsUnderItsConcurrencyCap(t *testing.T) {
	t.Parallel()
	g := &gate{release: make(chan struct{})}
	p := newPlatform(t, []config.Provider{{Name: "gate", Type: "gate", TaskTypes: task.Types, Weight: 1}},
		platformOptions{batchConcurrency: 4, factories: map[string]provider.Factory{"gate": gateFactory(g)}})
	specs := make([]app.TaskSpec, 50)
	for i := range specs {
		specs[i] = app.TaskSpec{Type: task.TypeImageGeneration, Input: json.RawMessage(fmt.Sprintf(`{"prompt":"fox %d"}`, i))}
	}
	s, err := p.app.SubmitBatch(context.Background(), "alice", app.BatchSpec{Tasks: specs}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Once the cap is reached, release the jobs one by one, while the
	// engine keeps starting new ones.
	for deadline := time.Now().Add(30 * time.Second); g.maxInFlight() < 4 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 50 {
			select {
			case g.release <- struct{}{}:
			case <-time.After(60 * time.Second):
				return
			}
		}
	}()
	<-done
	for _, id := range s.Batch.TaskIDs {
		if tk := p.waitTerminal(t, id); tk.Status != task.StatusCompleted {
			t.Errorf("task %s: %s %+v", id, tk.Status, tk.Error)
		}
	}
	if got := g.maxInFlight(); got != 4 {
		t.Errorf("at most %d tasks ran at once, want the cap of 4", got)
	}
	if got := g.started.Load(); got != 50 {
		t.Errorf("%d jobs started, want 50", got)
	}
	var b *task.Batch
	for range 100 {
		if b, err = p.app.GetBatch(context.Background(), "alice", s.Batch.ID); err != nil {
			t.Fatal(err)
		}
		if b.Status == task.BatchCompleted {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if b.Status != task.BatchCompleted || b.Counts[task.StatusCompleted] != 50 {
		t.Fatalf("batch %+v", b)
	}
	evs, err := p.store.ListEvents(context.Background(), s.Batch.ID, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Type != task.EventBatchCompleted {
		t.Fatalf("batch events %+v, want one batch.completed", evs)
	}
	// The execution ends just after its last step (finalize_batch) returns.
	var ex engine.Execution
	for range 200 {
		if ex, err = p.runner.Engine().Describe(context.Background(), workflow.BatchMachine, s.Batch.ID); err != nil {
			t.Fatal(err)
		}
		if ex.Status != engine.StatusRunning {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	if ex.Status != engine.StatusSucceeded {
		t.Errorf("batch execution %s: %s %s", ex.Status, ex.Error, ex.Cause)
	}
}

// Cancelling a running task stops its workflow and its provider's job; a
// result that would arrive later is dropped.
func TestCancelStopsARunningTask(t *testing.T) {
	t.Parallel()
	g := &gate{release: make(chan struct{})}
	p := newPlatform(t, []config.Provider{{Name: "gate", Type: "gate", TaskTypes: task.Types, Weight: 1}},
		platformOptions{factories: map[string]provider.Factory{"gate": gateFactory(g)}})
	tk := p.submit(t, task.TypeVideoGeneration, `{"prompt":"waves"}`)
	deadline := time.Now().Add(30 * time.Second)
	for g.started.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if g.started.Load() == 0 {
		t.Fatal("the job never started")
	}
	if _, err := p.app.Cancel(context.Background(), "alice", tk.ID); err != nil {
		t.Fatal(err)
	}
	ex, err := p.runner.Engine().Describe(context.Background(), workflow.TaskMachine, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Stopped, or ended by a poll that found the task canceled first.
	if ex.Status != "ABORTED" && ex.Status != "SUCCEEDED" {
		t.Errorf("execution %s, want ABORTED (or SUCCEEDED, a poll having seen the cancel first)", ex.Status)
	}
	// Canceled by the stop, by a poll in flight that found the task
	// canceled (or both: a provider's cancel is idempotent), or, when the
	// stop came while the provider's Start was in flight, as soon as that
	// Start returns its job (the engine's Dropped): maybe after Cancel.
	for deadline := time.Now().Add(30 * time.Second); g.cancelled.Load() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the provider's job was not canceled")
		}
	}
	// A release now would complete the job: nothing polls it any more,
	// and the task stays canceled.
	select {
	case g.release <- struct{}{}:
		t.Error("the stopped workflow still polled its job")
	case <-time.After(200 * time.Millisecond):
	}
	got, err := p.app.GetTask(context.Background(), "alice", tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != task.StatusCanceled || got.Output != nil {
		t.Fatalf("task after cancel: %s, output %+v", got.Status, got.Output)
	}
}

// Past workflow.max_in_progress, tasks wait in the queue: with long jobs
// holding the bound, the rest stay visible there, and a workflow that
// ends lets the next one in.
func TestWorkflowsInProgressAreBounded(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, []config.Provider{simProvider("slow", `{"latency_ms":0,"poll_steps":1000,"poll_after_ms":100}`, task.TypeVideoGeneration)},
		platformOptions{maxInProgress: 2, maxPerType: 2})
	ctx := context.Background()
	var ids []string
	for range 6 {
		ids = append(ids, p.submit(t, task.TypeVideoGeneration, `{"prompt":"waves"}`).ID)
	}
	running := func() []string {
		var out []string
		for _, id := range ids {
			if tk, err := p.app.Task(ctx, id); err == nil && tk.Status == task.StatusRunning {
				out = append(out, id)
			}
		}
		return out
	}
	waitUntil(t, func() bool { return len(running()) == 2 })
	if room := p.runner.Room(); room != 0 {
		t.Errorf("Room = %d with the bound reached", room)
	}
	st, err := p.queue.Stats(ctx)
	if err != nil || total(st.Visible) != 4 {
		t.Fatalf("queue %+v (%v): want the other 4 tasks waiting there", st, err)
	}
	if _, err := p.app.Cancel(ctx, "alice", running()[0]); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool {
		st, err := p.queue.Stats(ctx)
		return err == nil && total(st.Visible) == 3 && len(running()) == 2
	})
	for _, id := range ids {
		_, _ = p.app.Cancel(ctx, "alice", id)
	}
}

// One task type's slow work leaves room for the others: with a bound of
// 8 in progress and 6 per type, 12 image tasks hung on their provider run
// 6 at a time while the other 6 wait in the queue, and video tasks start
// in the 2 slots left and complete.
func TestOneTypeLeavesRoomForTheOthers(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, []config.Provider{
		simProvider("hangs", `{"latency_ms":0,"fail_rate":1,"fail_with":"hang"}`, task.TypeImageGeneration),
		simProvider("videos", `{"latency_ms":0,"poll_steps":1,"poll_after_ms":10}`, task.TypeVideoGeneration),
	}, platformOptions{maxInProgress: 8, maxPerType: 6})
	ctx := context.Background()
	var images []string
	for range 12 {
		images = append(images, p.submit(t, task.TypeImageGeneration, `{"prompt":"a fox"}`).ID)
	}
	running := func() int {
		n := 0
		for _, id := range images {
			if tk, err := p.app.Task(ctx, id); err == nil && tk.Status == task.StatusRunning {
				n++
			}
		}
		return n
	}
	waitUntil(t, func() bool { return running() == 6 })
	if r := p.runner.RoomFor(task.TypeImageGeneration); r != 0 {
		t.Errorf("RoomFor(image) = %d with 6 running", r)
	}
	if r := p.runner.Room(); r != 2 {
		t.Errorf("Room = %d, want the 2 left", r)
	}
	for range 4 {
		v := p.submit(t, task.TypeVideoGeneration, `{"prompt":"waves"}`)
		if got := p.waitTerminal(t, v.ID); got.Status != task.StatusCompleted {
			t.Fatalf("video %s beside 6 hung images: %s %+v", v.ID, got.Status, got.Error)
		}
	}
	if n := running(); n != 6 {
		t.Errorf("%d image tasks running, want their share of 6", n)
	}
	// A message found without room is sent again and then deleted: for a
	// moment both are there. Wait for the queue to settle on the 6.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		st, err := p.queue.Stats(ctx)
		if err == nil && total(st.Visible)+total(st.InFlight) == 6 && st.Dead == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue %+v (%v): want the other 6 images waiting there", st, err)
		}
	}
	for _, id := range images {
		_, _ = p.app.Cancel(ctx, "alice", id)
	}
}

func total(m map[task.Priority]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// waitUntil polls cond; the bound only keeps a broken platform from
// hanging the test.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("gave up waiting")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A provider that hangs takes only its own capacity: with every engine
// worker's worth of image tasks hung on it, video tasks on another
// provider still run to the end.
func TestAHangingProviderLeavesOthersFlowing(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, []config.Provider{
		simProvider("hangs", `{"latency_ms":0,"fail_rate":1,"fail_with":"hang"}`, task.TypeImageGeneration),
		simProvider("videos", `{"latency_ms":0,"poll_steps":1,"poll_after_ms":10}`, task.TypeVideoGeneration),
	}, platformOptions{workers: 2, maxInProgress: 16})
	ctx := context.Background()
	var images []string
	for range 6 {
		images = append(images, p.submit(t, task.TypeImageGeneration, `{"prompt":"a fox"}`).ID)
	}
	waitUntil(t, func() bool {
		n := 0
		for _, id := range images {
			if tk, err := p.app.Task(ctx, id); err == nil && tk.Status == task.StatusRunning {
				n++
			}
		}
		return n == len(images)
	})
	for range 3 {
		v := p.submit(t, task.TypeVideoGeneration, `{"prompt":"waves"}`)
		if got := p.waitTerminal(t, v.ID); got.Status != task.StatusCompleted {
			t.Fatalf("video %s: %s %+v", v.ID, got.Status, got.Error)
		}
	}
	for _, id := range images {
		_, _ = p.app.Cancel(ctx, "alice", id)
	}
}
