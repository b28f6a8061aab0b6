package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/queue"
	"github.com/videoai/mediatasks/shared/queue/sqlitequeue"
	"github.com/videoai/mediatasks/shared/sqlitedb"
)

// The promise: kill -9 of the running server and a restart keep
// every task and every queued message. Clients submit concurrently; the
// server is killed while they still are; every task that was answered 202
// must be there after a restart, queued, with a message in the task queue
// that names it.
func TestCrashKeepsEveryAcknowledgedTaskAndMessage(t *testing.T) {
	t.Parallel()
	const (
		clients    = 8
		submits    = 300 // single submits over all clients
		batchSize  = 10
		batches    = 12          // at most: those due after the kill are not sent
		batchEvery = 15          // acknowledged single submits between batches
		killAfter  = submits / 2 // acknowledged single submits before the kill
	)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "config.yaml")
	// No rate limit in the way of the burst, and no sweeper re-sending
	// messages: the messages checked are the ones the submits wrote.
	if err := os.WriteFile(cfg, []byte("limits:\n  submits_per_minute: 1000000\n  requeue_after: 24h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, data, nil, "--config", cfg)
	key := readKeyFile(t, data)

	type acked struct {
		taskType string
		priority string
		batchID  string
	}
	var (
		mu        sync.Mutex
		ack       = map[string]acked{}
		batchIDs  []string
		next      atomic.Int64 // submits handed out
		ackCount  atomic.Int64
		failed    atomic.Int64 // submits without an answer (the kill)
		killed    atomic.Bool
		unexpect  = make(chan string, clients)
		killReady = make(chan struct{})
		killOnce  sync.Once
	)
	kinds := []struct {
		path, taskType string
		body           map[string]any
	}{
		{"/api/v1/media/images/generate", "image_generation", map[string]any{"prompt": "a lighthouse at dusk", "n": 2}},
		{"/api/v1/media/videos/generate", "video_generation", map[string]any{"prompt": "waves on rocks", "duration_seconds": 4}},
		{"/api/v1/media/audio/transcribe", "audio_transcription", map[string]any{"audio_url": "https://example.com/talk.mp3"}},
		{"/api/v1/media/subtitles/generate", "subtitle_generation", map[string]any{"audio_url": "https://example.com/talk.mp3", "format": "vtt"}},
	}
	priorities := []string{"high", "normal", "low"}

	noteAck := func() {
		if ackCount.Add(1) >= killAfter {
			killOnce.Do(func() { close(killReady) })
		}
	}
	// report records an answer that is neither 202 nor the kill's
	// connection error; the test fails on it.
	report := func(s string) {
		select {
		case unexpect <- s:
		default:
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	// One more client sends a batch each time batchEvery more single
	// submits have been acknowledged, so batches are in flight at the kill too.
	wg.Go(func() {
		c := newClient(t, srv.URL, key)
		for j := range batches {
			for ackCount.Load() < int64(j*batchEvery) {
				if ctx.Err() != nil || killed.Load() {
					return
				}
				time.Sleep(time.Millisecond)
			}
			items := make([]map[string]any, batchSize)
			for k := range items {
				kind := kinds[(j+k)%len(kinds)]
				items[k] = map[string]any{"task_type": kind.taskType, "input_data": kind.body, "priority": priorities[(j+k)%len(priorities)]}
			}
			var b struct {
				ID      string   `json:"id"`
				TaskIDs []string `json:"task_ids"`
			}
			code, err := c.do(ctx, "POST", "/api/v1/media/batches", map[string]any{"tasks": items}, &b)
			switch {
			case err != nil && killed.Load():
				failed.Add(1)
				return
			case err != nil || code != http.StatusAccepted || len(b.TaskIDs) != batchSize:
				report(fmt.Sprintf("batch %d: %d %v %+v", j, code, err, b))
				return
			}
			mu.Lock()
			batchIDs = append(batchIDs, b.ID)
			for k, id := range b.TaskIDs {
				ack[id] = acked{taskType: kinds[(j+k)%len(kinds)].taskType, priority: priorities[(j+k)%len(priorities)], batchID: b.ID}
			}
			mu.Unlock()
		}
	})
	for range clients {
		c := newClient(t, srv.URL, key)
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= submits || ctx.Err() != nil {
					return
				}
				k := kinds[int(i)%len(kinds)]
				p := priorities[int(i/4)%len(priorities)]
				body := map[string]any{"priority": p, "metadata": map[string]string{"n": fmt.Sprint(i)}}
				for f, v := range k.body {
					body[f] = v
				}
				var ta taskAnswer
				code, err := c.do(ctx, "POST", k.path, body, &ta)
				switch {
				case err != nil && killed.Load():
					failed.Add(1)
					return
				case err != nil || code != http.StatusAccepted || ta.ID == "":
					report(fmt.Sprintf("submit %d: %d %v", i, code, err))
					return
				}
				mu.Lock()
				ack[ta.ID] = acked{taskType: k.taskType, priority: p}
				mu.Unlock()
				noteAck()
			}
		})
	}

	select {
	case <-killReady:
	case s := <-unexpect:
		t.Fatalf("before the kill: %s", s)
	case <-ctx.Done():
		t.Fatal("the clients did not reach the kill point in time")
	}
	killed.Store(true)
	srv.kill9()
	wg.Wait()
	select {
	case s := <-unexpect:
		t.Fatalf("unexpected answer: %s", s)
	default:
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("acknowledged %d tasks (%d batches); %d submits lost their answer to the kill; %d never sent",
		len(ack), len(batchIDs), failed.Load(), max(0, submits-next.Load()))
	if failed.Load() == 0 {
		t.Fatal("no submit was cut off: the kill came after the clients had finished")
	}
	if len(ack) < killAfter {
		t.Fatalf("only %d acknowledged tasks", len(ack))
	}

	// Restart on the same folder: every acknowledged task is there, queued.
	srv = startServer(t, data, nil, "--config", cfg)
	if k := readKeyFile(t, data); k != key {
		t.Fatal("the restart made a new API key")
	}
	c := newClient(t, srv.URL, key)
	for id, want := range ack {
		var got taskAnswer
		c.mustDo("GET", "/api/v1/media/tasks/"+id, nil, http.StatusOK, &got)
		if got.Status != "queued" || got.TaskType != want.taskType || got.Priority != want.priority {
			t.Errorf("task %s after the restart: %+v, want queued %s %s", id, got, want.taskType, want.priority)
		}
	}
	batchOf := map[string]string{} // task id -> batch id
	for _, id := range batchIDs {
		var b struct {
			TaskIDs []string `json:"task_ids"`
		}
		c.mustDo("GET", "/api/v1/media/batches/"+id, nil, http.StatusOK, &b)
		if len(b.TaskIDs) != batchSize {
			t.Errorf("batch %s after the restart has %d tasks, want %d", id, len(b.TaskIDs), batchSize)
		}
		for _, tid := range b.TaskIDs {
			batchOf[tid] = id
		}
	}
	// /metrics agrees: at least one message per acknowledged single task
	// and per batch.
	if depth, want := queueDepth(t, srv.URL), len(ack)-len(batchOf)+len(batchIDs); depth < want {
		t.Errorf("mediatasks_queue_depth sums to %d, want at least %d", depth, want)
	}
	if code, _ := srv.stop(syscall.SIGTERM, 15*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}

	// With the server stopped, read the task queue itself: a message for
	// every acknowledged task (or its batch), at the task's priority.
	msgs := queuedTaskMessages(t, data, len(ack)+submits+batches*batchSize)
	for id, want := range ack {
		if b, ok := batchOf[id]; ok {
			if _, ok := msgs[b]; !ok {
				t.Errorf("batch %s (acknowledged) has no message in the task queue", b)
			}
			continue
		}
		got, ok := msgs[id]
		if !ok {
			t.Errorf("task %s (acknowledged) has no message in the task queue", id)
			continue
		}
		if string(got.Priority) != want.priority {
			t.Errorf("task %s: message at priority %s, want %s", id, got.Priority, want.priority)
		}
	}
}

// queuedTaskMessages receives every message of the task queue in the
// data folder's database and returns each message by its task or batch id.
// It fails the test if the queue holds more than limit messages or has
// dead letters.
func queuedTaskMessages(t *testing.T, data string, limit int) map[string]queue.Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	db, err := sqlitedb.Open(filepath.Join(data, dbFile), sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	q, err := sqlitequeue.New(ctx, db, "tasks", sqlitequeue.Options{MaxReceives: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if dead, err := q.DeadLetters(ctx, 10); err != nil || len(dead) > 0 {
		t.Errorf("dead letters: %d, %v", len(dead), err)
	}
	out := map[string]queue.Delivery{}
	total := 0
	for range limit/10 + 2 {
		ds, err := q.Receive(ctx, queue.ReceiveOptions{Max: 10, Visibility: time.Hour})
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		if len(ds) == 0 {
			return out
		}
		for _, d := range ds {
			total++
			var m struct {
				TaskID  string `json:"task_id"`
				BatchID string `json:"batch_id"`
			}
			if err := json.Unmarshal(d.Body, &m); err != nil || (m.TaskID == "") == (m.BatchID == "") {
				t.Errorf("message %s: body %q", d.ID, d.Body)
				continue
			}
			out[m.TaskID+m.BatchID] = d
		}
	}
	t.Fatalf("the task queue holds more than %d messages", limit)
	return nil
}

// queueDepth sums mediatasks_queue_depth over priorities and states.
func queueDepth(t *testing.T, base string) int {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	sum, seen := 0.0, 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "mediatasks_queue_depth{") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		sum += v
		seen++
	}
	if seen == 0 {
		t.Fatal("/metrics has no mediatasks_queue_depth")
	}
	return int(sum)
}
