package webhook_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/videoai/mediatasks/shared/sqlitedb"
	"github.com/videoai/mediatasks/shared/store/sqlitestore"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/webhook"
)

// benchRig is a running deliverer over a SQLite store with durable
// commits (synchronous FULL) on real time, and a local receiver that
// notes when each webhook-id arrives.
type benchRig struct {
	store    *sqlitestore.Store
	wake     *webhook.Signal
	url      string
	received atomic.Int64
	mu       sync.Mutex
	arrived  map[string]time.Time
	wait     map[string]chan struct{}
}

func newBenchRig(b *testing.B) *benchRig {
	b.Helper()
	db, err := sqlitedb.Open(filepath.Join(b.TempDir(), "mediatasks.db"), sqlitedb.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	r := &benchRig{arrived: map[string]time.Time{}, wait: map[string]chan struct{}{}}
	r.wake = webhook.NewSignal()
	if r.store, err = sqlitestore.New(context.Background(), db, sqlitestore.Options{OnDeliveries: r.wake.Notify}); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		at := time.Now()
		id := req.Header.Get(webhook.HeaderID)
		r.mu.Lock()
		r.arrived[id] = at
		if ch := r.wait[id]; ch != nil {
			close(ch)
			delete(r.wait, id)
		}
		r.mu.Unlock()
		r.received.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(srv.Close)
	r.url = srv.URL + "/hooks"
	return r
}

// start runs a deliverer until the benchmark ends.
func (r *benchRig) start(b *testing.B) {
	d, err := webhook.New(webhook.Options{Store: r.store, AllowPrivate: true, Wake: r.wake})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
}

// submit stores n tasks in one write, each with a delivery of its
// task.queued event, and returns their webhook-ids.
func (r *benchRig) submit(b *testing.B, n int) []string {
	now := time.Now()
	c := task.Creation{}
	ids := make([]string, n)
	for i := range n {
		tk := &task.Task{ID: uuid.NewString(), UserID: "bench", Type: task.TypeImageGeneration, Status: task.StatusQueued,
			Priority: task.PriorityNormal, Input: json.RawMessage(`{"prompt":"a lighthouse at dawn"}`),
			WebhookURL: r.url, WebhookEvents: []task.EventType{task.EventTaskQueued}, CreatedAt: now, UpdatedAt: now, Version: 1}
		ev := task.NewTaskEvent(tk, task.EventTaskQueued, now)
		c.Tasks, c.Events = append(c.Tasks, tk), append(c.Events, ev)
		ids[i] = ev.ID
	}
	if err := r.store.Create(context.Background(), c); err != nil {
		b.Fatal(err)
	}
	return ids
}

// BenchmarkDeliver reports deliveries/s from a backlog, and the delay
// from a delivery's commit to its receipt (p50, p99): alone (one at a
// time) and under load (8 submitters).
//
//	go test -run '^$' -bench BenchmarkDeliver -benchtime 2000x -count 6 ./shared/webhook/
func BenchmarkDeliver(b *testing.B) {
	b.Run("Backlog", func(b *testing.B) {
		r := newBenchRig(b)
		for left := b.N; left > 0; left -= 50 {
			r.submit(b, min(left, 50))
		}
		b.ResetTimer()
		began := time.Now()
		r.start(b)
		for r.received.Load() < int64(b.N) {
			time.Sleep(time.Millisecond)
		}
		b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "deliveries/s")
	})
	latency := func(b *testing.B, submitters int) {
		r := newBenchRig(b)
		r.start(b)
		delays := make([]time.Duration, 0, b.N)
		var mu sync.Mutex
		var next atomic.Int64
		b.ResetTimer()
		var wg sync.WaitGroup
		for range submitters {
			wg.Go(func() {
				for next.Add(1) <= int64(b.N) {
					id := r.submitOne(b)
					committed := time.Now() // Create returns once the write is durable
					r.mu.Lock()
					at, ok := r.arrived[id]
					var ch chan struct{}
					if !ok {
						ch = make(chan struct{})
						r.wait[id] = ch
					}
					r.mu.Unlock()
					if ch != nil {
						<-ch
						r.mu.Lock()
						at = r.arrived[id]
						r.mu.Unlock()
					}
					mu.Lock()
					delays = append(delays, max(at.Sub(committed), 0))
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		b.StopTimer()
		slices.Sort(delays)
		pct := func(p float64) float64 {
			return float64(delays[min(len(delays)-1, int(p*float64(len(delays))))]) / float64(time.Millisecond)
		}
		b.ReportMetric(pct(0.50), "p50-ms")
		b.ReportMetric(pct(0.99), "p99-ms")
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
	}
	b.Run("Latency/alone", func(b *testing.B) { latency(b, 1) })
	b.Run("Latency/loaded", func(b *testing.B) { latency(b, 8) })
}

func (r *benchRig) submitOne(b *testing.B) string { return r.submit(b, 1)[0] }
