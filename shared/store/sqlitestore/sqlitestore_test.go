package sqlitestore_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/queue"
	"github.com/videoai/mediatasks/shared/queue/sqlitequeue"
	"github.com/videoai/mediatasks/shared/sqlitedb"
	"github.com/videoai/mediatasks/shared/store/sqlitestore"
	"github.com/videoai/mediatasks/shared/store/storetest"
	"github.com/videoai/mediatasks/shared/task"
)

// open returns a store on a fresh database in the test's temporary folder,
// with a clock the test can set (real time until it does).
func open(tb testing.TB, opts sqlitedb.Options) (*sqlitestore.Store, func(time.Time)) {
	tb.Helper()
	return openStore(tb, opts, sqlitestore.Options{})
}

// openStore is open with the store's own options: its clock is open's,
// on storeOpts.Now (time.Now when nil) until the test sets it.
func openStore(tb testing.TB, opts sqlitedb.Options, storeOpts sqlitestore.Options) (*sqlitestore.Store, func(time.Time)) {
	tb.Helper()
	db, err := sqlitedb.Open(filepath.Join(tb.TempDir(), "mediatasks.db"), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	var fixed atomic.Pointer[time.Time]
	base := storeOpts.Now
	if base == nil {
		base = time.Now
	}
	storeOpts.Now = func() time.Time {
		if at := fixed.Load(); at != nil {
			return *at
		}
		return base()
	}
	s, err := sqlitestore.New(context.Background(), db, storeOpts)
	if err != nil {
		tb.Fatal(err)
	}
	return s, func(at time.Time) { fixed.Store(&at) }
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Adapter {
		s, setNow := open(t, sqlitedb.Options{})
		return storetest.Adapter{Store: s, Keys: s, SetNow: setNow, PurgeExpired: s.PurgeExpired}
	})
}

// The suite also passes on real time, as a store without a settable clock
// would run it.
func TestConformanceOnRealTime(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Adapter {
		s, _ := open(t, sqlitedb.Options{})
		return storetest.Adapter{Store: s, Keys: s}
	})
}

// Reopening a database applies no migration twice and keeps the records.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mediatasks.db")
	ctx := context.Background()
	tk := &task.Task{ID: "tsk_1", UserID: "u", Type: task.TypeImageGeneration, Status: task.StatusQueued,
		Priority: task.PriorityNormal, CreatedAt: time.Now(), UpdatedAt: time.Now(), Version: 1}
	for i := range 2 {
		db, err := sqlitedb.Open(path, sqlitedb.Options{})
		if err != nil {
			t.Fatal(err)
		}
		s, err := sqlitestore.New(ctx, db, sqlitestore.Options{})
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if i == 0 {
			if err := s.Create(ctx, task.Creation{Tasks: []*task.Task{tk}}); err != nil {
				t.Fatal(err)
			}
		} else if _, err := s.GetTask(ctx, "u", tk.ID); err != nil {
			t.Fatalf("after reopening: %v", err)
		}
		db.Close()
	}
}

// BenchmarkCreate measures the submit path: one task, its queued event and
// an idempotency record per Create, from parallel clients, so that commits
// are grouped as under load. Reported with creates/s.
func BenchmarkCreate(b *testing.B) {
	for _, sync := range []string{"FULL", "NORMAL"} {
		b.Run("synchronous="+sync, func(b *testing.B) {
			s, _ := open(b, sqlitedb.Options{Synchronous: sync})
			ctx := context.Background()
			input := json.RawMessage(`{"prompt":"a lighthouse at dusk, oil painting","width":1024,"height":1024}`)
			var n atomic.Int64
			b.SetParallelism(16) // clients per core: submits arrive concurrently
			b.ResetTimer()
			start, cpuStart := time.Now(), processCPU(b)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := strconv.FormatInt(n.Add(1), 10)
					now := time.Now()
					tk := &task.Task{ID: "tsk_" + i, UserID: "user_" + strconv.Itoa(int(n.Load()%50)),
						Type: task.TypeImageGeneration, Status: task.StatusQueued, Priority: task.PriorityNormal,
						Input: input, Metadata: map[string]string{"order": i}, CreatedAt: now, UpdatedAt: now, Version: 1}
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
			b.ReportMetric(float64((processCPU(b)-cpuStart).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// The counts per status follow every create and status change.
func TestCountByStatus(t *testing.T) {
	t.Parallel()
	s, _ := open(t, sqlitedb.Options{Synchronous: "NORMAL"})
	ctx := context.Background()
	now := time.Now().UTC()
	var tasks []*task.Task
	for i := range 5 {
		tk := &task.Task{ID: "count-" + strconv.Itoa(i), UserID: "u" + strconv.Itoa(i%2), Type: task.TypeImageGeneration,
			Status: task.StatusQueued, Priority: task.PriorityNormal, Input: json.RawMessage(`{}`),
			CreatedAt: now, UpdatedAt: now, Version: 1}
		tasks = append(tasks, tk)
	}
	if err := s.Create(ctx, task.Creation{Tasks: tasks}); err != nil {
		t.Fatal(err)
	}
	move := func(tk *task.Task, to task.Status) {
		t.Helper()
		next := tk.Clone()
		if _, err := next.Transition(to, now); err != nil {
			t.Fatal(err)
		}
		if err := s.UpdateTask(ctx, tk, next); err != nil {
			t.Fatal(err)
		}
		*tk = *next
	}
	move(tasks[0], task.StatusRunning)
	move(tasks[0], task.StatusCompleted)
	move(tasks[1], task.StatusRunning)
	move(tasks[2], task.StatusCanceled)
	// A progress update keeps the status: no count moves.
	next := tasks[1].Clone()
	next.SetProgress(0.5, now)
	if err := s.UpdateTask(ctx, tasks[1], next); err != nil {
		t.Fatal(err)
	}
	got, err := s.CountByStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[task.Status]int{task.StatusQueued: 2, task.StatusRunning: 1, task.StatusCompleted: 1, task.StatusFailed: 0, task.StatusCanceled: 1}
	for st, n := range want {
		if got[st] != n {
			t.Errorf("%s: %d, want %d (all: %v)", st, got[st], n, got)
		}
	}
}

// Purging deletes in chunks, every expired record and no live one.
func TestPurgeExpiredInChunks(t *testing.T) {
	t.Parallel()
	s, _ := open(t, sqlitedb.Options{Synchronous: "NORMAL"})
	ctx := context.Background()
	now := time.Now().UTC()
	var wg sync.WaitGroup
	for i := range 2100 {
		wg.Go(func() {
			expires := now.Add(-time.Minute)
			if i%100 == 0 {
				expires = now.Add(time.Hour)
			}
			if err := s.PutIdempotency(ctx, task.IdempotencyRecord{UserID: "u", Key: "k" + strconv.Itoa(i),
				RequestHash: "h", StatusCode: 202, CreatedAt: now.Add(-2 * time.Minute), ExpiresAt: expires}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	n, err := s.PurgeExpired(ctx, now)
	if err != nil || n != 2079 {
		t.Fatalf("purged %d, %v; want 2079", n, err)
	}
	if _, err := s.GetIdempotency(ctx, "u", "k100"); err != nil {
		t.Fatalf("a live record was purged: %v", err)
	}
}

// With the queue beside it, a created task and its message commit
// together, and a receiver waiting on the queue is woken by the commit,
// not by its next poll.
func TestCreateWithMessagesWakesReceivers(t *testing.T) {
	t.Parallel()
	db, err := sqlitedb.Open(filepath.Join(t.TempDir(), "mediatasks.db"), sqlitedb.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	st, err := sqlitestore.New(ctx, db, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	q, err := sqlitequeue.New(ctx, db, "tasks", sqlitequeue.Options{PollInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	tk := &task.Task{ID: "with-message", UserID: "u", Type: task.TypeImageGeneration, Status: task.StatusQueued,
		Priority: task.PriorityHigh, Input: json.RawMessage(`{}`), CreatedAt: now, UpdatedAt: now, Version: 1}
	timer := time.AfterFunc(100*time.Millisecond, func() {
		err := sqlitestore.WithQueue{Store: st, Queue: q}.CreateWithMessages(ctx, task.Creation{Tasks: []*task.Task{tk}},
			[]queue.Message{{Priority: task.PriorityHigh, Body: []byte(tk.ID)}})
		if err != nil {
			t.Error(err)
		}
	})
	defer timer.Stop()
	start := time.Now()
	got, err := q.Receive(ctx, queue.ReceiveOptions{Wait: 10 * time.Second})
	if err != nil || len(got) != 1 || string(got[0].Body) != tk.ID {
		t.Fatalf("received %+v, %v", got, err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("woken after %s", took)
	}
	if _, err := st.GetTask(ctx, "u", tk.ID); err != nil {
		t.Fatal(err)
	}
}
