package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/sfnlocal/engine"
	"github.com/videoai/mediatasks/shared/sqlitedb"
)

// benchDef is the platform's common path: start a task, route on its
// answer, complete it.
const benchDef = `{"StartAt":"Start","States":{
	"Start":{"Type":"Task","Resource":"start","Parameters":{"action":"start","task_id.$":"$.task_id"},"ResultPath":"$.step","Next":"Route"},
	"Route":{"Type":"Choice","Choices":[{"Variable":"$.step.state","StringEquals":"done","Next":"Complete"}],"Default":"Complete"},
	"Complete":{"Type":"Task","Resource":"complete","Parameters":{"action":"complete","task_id.$":"$.task_id","step.$":"$.step"},"ResultPath":null,"End":true}}}`

// BenchmarkExecutions runs b.N executions of benchDef, started from many
// goroutines at once, with Actions that answer at once; it reports
// executions per second end to end (durable start to durable end).
func BenchmarkExecutions(b *testing.B) {
	for _, sync := range []string{"FULL", "NORMAL"} {
		b.Run("sync="+sync, func(b *testing.B) { benchExecutions(b, sync) })
	}
}

func benchExecutions(b *testing.B, synchronous string) {
	db, err := sqlitedb.Open(filepath.Join(b.TempDir(), "wf.db"), sqlitedb.Options{Synchronous: synchronous})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var completed atomic.Int64
	resources := map[string]engine.Action{
		"start": func(context.Context, json.RawMessage) (json.RawMessage, error) {
			return json.RawMessage(`{"state":"done","provider":"p1"}`), nil
		},
		"complete": func(context.Context, json.RawMessage) (json.RawMessage, error) {
			completed.Add(1)
			return json.RawMessage(`{}`), nil
		},
	}
	e, err := engine.New(context.Background(), db, engine.Options{Resources: resources})
	if err != nil {
		b.Fatal(err)
	}
	if err := e.Load("task", []byte(benchDef), nil); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	const starters = 64
	commits := db.Commits()
	b.ResetTimer()
	began := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range starters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				input := json.RawMessage(fmt.Sprintf(`{"task_id":"t%d"}`, i))
				if _, _, err := e.Start(ctx, "task", fmt.Sprintf("t%d", i), input); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for completed.Load() < int64(b.N) && ctx.Err() == nil {
		time.Sleep(time.Millisecond) // the counter is cheap to poll; Stats reads the table
	}
	for {
		st, err := e.Stats(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if st.Executions[engine.StatusSucceeded] == b.N {
			break
		}
		if st.Executions[engine.StatusFailed] > 0 {
			b.Fatalf("failed executions: %+v", st)
		}
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(began)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "executions/s")
	b.ReportMetric(float64(db.Commits()-commits)/float64(b.N), "commits/execution")
}
