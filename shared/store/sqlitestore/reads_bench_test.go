package sqlitestore_test

import (
	"context"
	"encoding/json"
	"flag"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/sqlitedb"
	"github.com/videoai/mediatasks/shared/task"
)

var readsLarge = flag.Int("bench.reads-large", 1_000_000, "tasks in the large store of BenchmarkReads")

// BenchmarkReads reads one task by id and the first page of a user's
// completed tasks, in a store of 1,000 tasks and in one of a million
// (-args -bench.reads-large=N), filled directly: the reads are meant to
// cost the same whatever the store holds. Reported with p50-µs.
//
//	go test -run '^$' -bench BenchmarkReads -benchtime 2000x ./shared/store/sqlitestore/
func BenchmarkReads(b *testing.B) {
	for _, n := range []int{1000, *readsLarge} {
		b.Run("tasks="+strconv.Itoa(n), func(b *testing.B) {
			s, _ := open(b, sqlitedb.Options{Synchronous: "NORMAL"})
			ctx := context.Background()
			ids := fill(b, s, n)
			b.Run("get", func(b *testing.B) {
				lat := make([]time.Duration, 0, b.N)
				for i := 0; b.Loop(); i++ {
					start := time.Now()
					if _, err := s.GetTask(ctx, "user_7", ids[(i*7919)%len(ids)]); err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(start))
				}
				reportP50(b, lat)
			})
			b.Run("list-completed", func(b *testing.B) {
				lat := make([]time.Duration, 0, b.N)
				for b.Loop() {
					start := time.Now()
					page, err := s.ListTasks(ctx, "user_7", task.ListFilter{Status: task.StatusCompleted, Limit: 20})
					if err != nil || len(page.Tasks) != 20 {
						b.Fatalf("page of %d, %v", len(page.Tasks), err)
					}
					lat = append(lat, time.Since(start))
				}
				reportP50(b, lat)
			})
		})
	}
}

// fill creates n completed image tasks over 10 users, a thousand per
// transaction, and returns the ids of user_7's.
func fill(b *testing.B, s interface {
	Create(context.Context, task.Creation) error
}, n int) []string {
	b.Helper()
	ctx := context.Background()
	input := json.RawMessage(`{"prompt":"a lighthouse at dusk, oil painting","size":"1024x1024","n":1}`)
	out := &task.Output{Files: []task.File{{Key: "outputs/x/0.png", ContentType: "image/png", SizeBytes: 2048}}}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var ids []string
	for at := 0; at < n; at += 1000 {
		var c task.Creation
		for i := at; i < min(at+1000, n); i++ {
			created := base.Add(time.Duration(i) * time.Millisecond)
			done := created.Add(time.Second)
			tk := &task.Task{ID: "tsk_" + strconv.Itoa(i), UserID: "user_" + strconv.Itoa(i%10), Type: task.TypeImageGeneration,
				Status: task.StatusCompleted, Priority: task.PriorityNormal, Input: input, Output: out, Provider: "sim",
				CreatedAt: created, UpdatedAt: done, StartedAt: &created, CompletedAt: &done, Version: 3}
			c.Tasks = append(c.Tasks, tk)
			if i%10 == 7 {
				ids = append(ids, tk.ID)
			}
		}
		if err := s.Create(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	return ids
}

func reportP50(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1000, "p50-µs")
	}
}
