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
)

// kill -9 of the running server and a restart lose nothing: clients
// submit tasks and batches concurrently while the workflows run them
// through poll loops; the server is killed in the middle of both; after a
// restart on the same folder every task that was answered 202 is there
// and reaches exactly one terminal status (one terminal event, the last).
func TestCrashLosesNoAcknowledgedTask(t *testing.T) {
	t.Parallel()
	const (
		clients    = 8
		submits    = 600 // single submits over all clients
		batchSize  = 10
		batches    = 12  // at most: those due after the kill are not sent
		batchEvery = 15  // acknowledged single submits between batches
		killAfter  = 480 // acknowledged single submits before the kill
	)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "config.yaml")
	// No rate limit in the way of the burst; every task polls its job a
	// few times, so the kill finds workflows waiting, polling and
	// completing.
	conf := `limits:
  submits_per_minute: 1000000
workflow:
  batch_concurrency: 4
providers:
  - name: sim-a
    type: sim
    task_types: [image_generation, video_generation, audio_transcription, subtitle_generation]
    options: {latency_ms: 5, poll_steps: 3, poll_after_ms: 100, fail_rate: 0.05, fail_with: transient}
  - name: sim-b
    type: sim
    task_types: [image_generation, video_generation, audio_transcription, subtitle_generation]
    options: {latency_ms: 5, poll_steps: 2, poll_after_ms: 100}
`
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
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

	// Restart on the same folder: every acknowledged task is there, and
	// its workflow, resumed or started, brings it to one terminal status.
	srv = startServer(t, data, nil, "--config", cfg)
	if k := readKeyFile(t, data); k != key {
		t.Fatal("the restart made a new API key")
	}
	c := newClient(t, srv.URL, key)
	statuses := map[string]int{}
	deadline := time.Now().Add(3 * time.Minute)
	for id, want := range ack {
		var got taskAnswer
		for {
			c.mustDo("GET", "/api/v1/media/tasks/"+id, nil, http.StatusOK, &got)
			if terminal(got.Status) || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		statuses[got.Status]++
		if !terminal(got.Status) || got.TaskType != want.taskType || got.Priority != want.priority {
			t.Errorf("task %s after the restart: %+v, want %s %s, terminal", id, got, want.taskType, want.priority)
			continue
		}
		evs := c.eventTypes(id)
		ends := 0
		for _, e := range evs {
			if e == "task.completed" || e == "task.failed" || e == "task.canceled" {
				ends++
			}
		}
		if n := len(evs); ends != 1 || n == 0 || evs[n-1] != "task."+got.Status {
			t.Errorf("task %s (%s): events %v, want exactly one terminal event, last", id, got.Status, evs)
		}
	}
	t.Logf("after the restart: %v", statuses)
	// The kill found workflows in flight, and the restart resumed them.
	resumed := 0
	for _, line := range strings.Split(srv.stderr.String(), "\n") {
		var l struct {
			Msg   string `json:"msg"`
			Count int    `json:"count"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "workflow: resumed executions" {
			resumed = l.Count
		}
	}
	t.Logf("executions resumed after the restart: %d", resumed)
	if resumed == 0 {
		t.Error("no execution was resumed: the kill found no workflow in flight")
	}
	for _, id := range batchIDs {
		var b struct {
			TaskIDs []string `json:"task_ids"`
			Status  string   `json:"status"`
		}
		for {
			c.mustDo("GET", "/api/v1/media/batches/"+id, nil, http.StatusOK, &b)
			if b.Status == "completed" || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if len(b.TaskIDs) != batchSize || b.Status != "completed" {
			t.Errorf("batch %s after the restart: %d tasks, %s; want %d, completed", id, len(b.TaskIDs), b.Status, batchSize)
		}
	}
	// The last messages are deleted just after their tasks end.
	depth := queueDepth(t, srv.URL)
	for end := time.Now().Add(20 * time.Second); depth != 0 && time.Now().Before(end); depth = queueDepth(t, srv.URL) {
		time.Sleep(100 * time.Millisecond)
	}
	if depth != 0 {
		t.Errorf("mediatasks_queue_depth sums to %d once every task ended, want 0", depth)
	}
	if code, _ := srv.stop(syscall.SIGTERM, 15*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
}

// eventTypes reads the event stream of a task that has ended (the stream
// closes after its terminal event) and returns the types, in order.
func (c *client) eventTypes(id string) []string {
	c.t.Helper()
	req, err := http.NewRequest("GET", c.base+"/api/v1/media/tasks/"+id+"/events", nil)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("events of %s: %v", id, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("events of %s: %d", id, resp.StatusCode)
	}
	var types []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if typ, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
			types = append(types, typ)
		}
	}
	if err := sc.Err(); err != nil {
		c.t.Fatalf("events of %s: %v", id, err)
	}
	return types
}

func terminal(status string) bool {
	return status == "completed" || status == "failed" || status == "canceled"
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
