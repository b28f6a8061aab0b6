package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/webhook"
)

// kill -9 again and again while clients submit tasks with webhooks: after
// four kills in the middle of submits, runs and deliveries, and a last
// restart, every task answered 202 completes exactly once (one terminal
// event, the last) and its task.completed event reaches the receiver,
// every request of it under one webhook-id, each signed.
func TestKill9LoopDuringSubmitsWithWebhooks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(`webhooks:
  retry_schedule: ["1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s"]
  timeout_seconds: 2
providers:
  - name: sim-image
    type: sim
    task_types: [image_generation]
    options: {latency_ms: 150}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	recv := newReceiver(t)
	recv.accept.Store(true)
	var acked []string
	var mu sync.Mutex
	n := 0
	for round := range 5 {
		srv := startServer(t, data, nil, "--config", cfg, "--webhook-allow-private")
		c := newClient(t, srv.URL, readKeyFile(t, data))
		if round == 0 {
			var secret struct {
				Secret string `json:"secret"`
			}
			c.mustDo("GET", "/api/v1/media/webhooks/secret", nil, http.StatusOK, &secret)
			v, err := webhook.NewVerifier(secret.Secret)
			if err != nil {
				t.Fatal(err)
			}
			recv.mu.Lock()
			recv.verify = v
			recv.mu.Unlock()
		}
		if round == 4 {
			break // the last start: no kill, the rest runs to its end
		}
		// Four clients submit for a while; the kill lands among their
		// requests, the runs and the deliveries.
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for ctx.Err() == nil {
					mu.Lock()
					n++
					i := n
					mu.Unlock()
					var ta taskAnswer
					code, err := c.do(ctx, "POST", "/api/v1/media/images/generate", map[string]any{
						"prompt": fmt.Sprintf("a fox %d", i), "size": "256x256",
						"webhook_url": recv.srv.URL + "/hook", "webhook_events": []string{"task.completed"}}, &ta)
					if err == nil && code == http.StatusAccepted {
						mu.Lock()
						acked = append(acked, ta.ID)
						mu.Unlock()
					}
				}
			})
		}
		time.Sleep(time.Duration(700+round*300) * time.Millisecond)
		srv.kill9()
		cancel()
		wg.Wait()
	}
	srv := startServer(t, data, nil, "--config", cfg, "--webhook-allow-private")
	c := newClient(t, srv.URL, readKeyFile(t, data))
	if len(acked) < 20 {
		t.Fatalf("only %d tasks acknowledged over four rounds", len(acked))
	}
	for _, id := range acked {
		var ta taskAnswer
		waitUntil(t, 90*time.Second, func() bool {
			c.mustDo("GET", "/api/v1/media/tasks/"+id, nil, http.StatusOK, &ta)
			return terminal(ta.Status)
		})
		if ta.Status != "completed" {
			t.Fatalf("task %s ended %s", id, ta.Status)
		}
		evs := c.eventTypes(id)
		ends := 0
		for _, e := range evs {
			if e == "task.completed" || e == "task.failed" || e == "task.canceled" {
				ends++
			}
		}
		if ends != 1 || evs[len(evs)-1] != "task.completed" {
			t.Fatalf("task %s events %v: want one terminal event, the last", id, evs)
		}
	}
	waitUntil(t, 90*time.Second, func() bool {
		recv.mu.Lock()
		defer recv.mu.Unlock()
		for _, id := range acked {
			if recv.ok[id] == "" {
				return false
			}
		}
		return true
	})
	recv.mu.Lock()
	defer recv.mu.Unlock()
	if len(recv.bad) > 0 {
		t.Fatalf("bad webhook requests: %v", recv.bad)
	}
	redelivered := 0
	for _, id := range acked {
		seen := recv.ids[id]
		for _, wid := range seen {
			if wid != recv.ok[id] {
				t.Fatalf("task %s: webhook-ids %v: one event, more than one id", id, seen)
			}
		}
		if len(seen) > 1 {
			redelivered++
		}
	}
	t.Logf("%d tasks acknowledged over 4 kills, all completed once; %d events delivered more than once (same webhook-id)", len(acked), redelivered)
}
