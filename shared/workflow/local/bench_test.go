package local_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/app"
	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/sim"
	"github.com/videoai/mediatasks/shared/task"
)

var (
	benchClients = flag.Int("bench.e2e-clients", 32, "concurrent submitters in BenchmarkEndToEnd")
	benchWorkers = flag.Int("bench.e2e-workers", 0, "engine workers in BenchmarkEndToEnd (0: the default)")
	benchNormal  = flag.Bool("bench.e2e-normal", false, "BenchmarkEndToEnd with synchronous=NORMAL (no fsync per commit)")
)

// startClock wraps a provider and notes when each task's Start is called,
// to measure the platform's own delay from submit to the provider.
type startClock struct {
	provider.Provider
	mu     sync.Mutex
	starts map[string]time.Time
}

func (s *startClock) Start(ctx context.Context, req provider.Request) (provider.Response, error) {
	now := time.Now()
	s.mu.Lock()
	if _, seen := s.starts[req.TaskID]; !seen {
		s.starts[req.TaskID] = now
	}
	s.mu.Unlock()
	return s.Provider.Start(ctx, req)
}

// timedPlatform is the platform on one zero-latency sim provider whose
// Start calls are timed.
func timedPlatform(b *testing.B, workers int) (*platform, *startClock) {
	clk := &startClock{starts: map[string]time.Time{}}
	factory := func(cfg config.Provider) (provider.Provider, error) {
		p, err := sim.New(cfg)
		clk.Provider = p
		return clk, err
	}
	p := newPlatform(b, []config.Provider{{Name: "instant", Type: "timed", TaskTypes: task.Types, Weight: 1, Options: json.RawMessage(`{}`)}},
		platformOptions{factories: map[string]provider.Factory{"timed": factory}, durable: !*benchNormal, workers: workers})
	return p, clk
}

// BenchmarkEndToEnd measures tasks from submit to completed on the whole
// local platform (SQLite with durable commits, the queue, the dispatcher,
// the engine, the step actions, the blob store) with a zero-latency sim
// provider making 256x256 PNGs. It reports tasks/s and the delay from a
// task's creation to its provider's Start (p50, p99).
//
//	go test -run '^$' -bench BenchmarkEndToEnd -benchtime 2000x -count 5 ./shared/workflow/
func BenchmarkEndToEnd(b *testing.B) {
	p, clk := timedPlatform(b, *benchWorkers)
	ctx := context.Background()
	ids := make([]string, b.N)
	created := make([]time.Time, b.N)
	var next sync.WaitGroup
	work := make(chan int)
	b.ResetTimer()
	commits, writes := p.db.Commits(), p.db.Writes()
	began := time.Now()
	for range *benchClients {
		next.Go(func() {
			for i := range work {
				tk, err := p.app.SubmitTask(ctx, "alice", app.TaskSpec{Type: task.TypeImageGeneration,
					Input: json.RawMessage(fmt.Sprintf(`{"prompt":"fox %d","size":"256x256"}`, i))}, nil)
				if err != nil {
					b.Error(err)
					return
				}
				ids[i], created[i] = tk.ID, tk.CreatedAt
			}
		})
	}
	for i := range b.N {
		work <- i
	}
	close(work)
	next.Wait()
	for _, id := range ids {
		tk, err := p.app.WaitTerminal(ctx, "alice", id, 5*time.Minute)
		if err != nil || tk.Status != task.StatusCompleted {
			b.Fatalf("task %s: %v %+v", id, err, tk)
		}
	}
	elapsed := time.Since(began)
	b.StopTimer()
	b.ReportMetric(float64(p.db.Commits()-commits)/float64(b.N), "commits/task")
	b.ReportMetric(float64(p.db.Writes()-writes)/float64(b.N), "writes/task")
	delays := make([]time.Duration, 0, b.N)
	clk.mu.Lock()
	for i, id := range ids {
		delays = append(delays, clk.starts[id].Sub(created[i]))
	}
	clk.mu.Unlock()
	slices.Sort(delays)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "tasks/s")
	b.ReportMetric(float64(delays[len(delays)/2].Microseconds())/1000, "start-p50-ms")
	b.ReportMetric(float64(delays[len(delays)*99/100].Microseconds())/1000, "start-p99-ms")
}

// BenchmarkStartDelay measures the platform's own delay from a task's
// creation to its provider's Start with one task at a time: the time a
// submit spends in the queue, the dispatcher and the engine before the
// provider is called, without a backlog; with each prompt optimisation
// mode side by side (auto: the rules, cached; no LLM), so that what
// optimisation adds shows as the difference.
//
//	go test -run '^$' -bench BenchmarkStartDelay -benchtime 500x -count 5 ./shared/workflow/local/
func BenchmarkStartDelay(b *testing.B) {
	for _, mode := range []string{"none", "manual", "auto", "template"} {
		b.Run(mode, func(b *testing.B) {
			opt := ""
			switch mode {
			case "template":
				opt = `,"prompt_optimization":{"mode":"template","template":"photo"}`
			case "manual", "auto":
				opt = `,"prompt_optimization":{"mode":"` + mode + `"}`
			}
			benchStartDelay(b, opt)
		})
	}
}

func benchStartDelay(b *testing.B, opt string) {
	p, clk := timedPlatform(b, 0)
	ctx := context.Background()
	delays := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		tk, err := p.app.SubmitTask(ctx, "alice", app.TaskSpec{Type: task.TypeImageGeneration,
			Input: json.RawMessage(fmt.Sprintf(`{"prompt":"fox %d","size":"256x256"%s}`, i%50, opt))}, nil)
		if err != nil {
			b.Fatal(err)
		}
		for {
			clk.mu.Lock()
			at, ok := clk.starts[tk.ID]
			clk.mu.Unlock()
			if ok {
				delays = append(delays, at.Sub(tk.CreatedAt))
				break
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
	b.StopTimer()
	slices.Sort(delays)
	b.ReportMetric(float64(delays[len(delays)/2].Microseconds())/1000, "start-p50-ms")
	b.ReportMetric(float64(delays[len(delays)*99/100].Microseconds())/1000, "start-p99-ms")
}
