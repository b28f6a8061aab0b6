package main

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/webhook"
)

// receiver is a webhook endpoint that verifies every request it gets and
// answers 503 until it is told to accept.
type receiver struct {
	t       *testing.T
	mu      sync.Mutex
	verify  *webhook.Verifier
	ids     map[string][]string // task id -> webhook-ids seen, accepted or not
	ok      map[string]string   // task id -> webhook-id of the accepted delivery
	bad     []string
	accept  atomic.Bool
	srv     *httptest.Server
	refused atomic.Int64
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t, ids: map[string][]string{}, ok: map[string]string{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.verify == nil {
		r.bad = append(r.bad, "a request before the secret was known")
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if err := r.verify.Verify(req.Header, body); err != nil {
		r.bad = append(r.bad, "signature: "+err.Error())
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var b webhook.Body
	if err := json.Unmarshal(body, &b); err != nil {
		r.bad = append(r.bad, "body: "+err.Error())
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var data struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(b.Data, &data)
	id := req.Header.Get(webhook.HeaderID)
	r.ids[data.ID] = append(r.ids[data.ID], id)
	if !r.accept.Load() {
		r.refused.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	r.ok[data.ID] = id
	w.WriteHeader(http.StatusNoContent)
}

// kill -9 of the server while deliveries are pending, then a restart:
// every event is delivered, signed, and a redelivered event keeps the
// webhook-id of its first attempts.
func TestWebhooksSurviveKill9(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "config.yaml")
	conf := `webhooks:
  retry_schedule: ["1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s"]
  timeout_seconds: 2
providers:
  - name: sim-image
    type: sim
    task_types: [image_generation]
    options: {latency_ms: 10}
`
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	recv := newReceiver(t)
	srv := startServer(t, data, nil, "--config", cfg, "--webhook-allow-private")
	c := newClient(t, srv.URL, readKeyFile(t, data))
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

	const tasks = 20
	ids := make([]string, 0, tasks)
	for i := range tasks {
		var ta taskAnswer
		c.mustDo("POST", "/api/v1/media/images/generate", map[string]any{
			"prompt": "a fox " + string(rune('a'+i)), "webhook_url": recv.srv.URL + "/hook"}, http.StatusAccepted, &ta)
		ids = append(ids, ta.ID)
	}
	// Wait until every task's task.completed delivery has failed at least
	// once: they are pending, with retries scheduled.
	waitUntil(t, 60*time.Second, func() bool {
		recv.mu.Lock()
		defer recv.mu.Unlock()
		return len(recv.ids) == tasks
	})
	srv.kill9()

	recv.accept.Store(true)
	srv = startServer(t, data, nil, "--config", cfg, "--webhook-allow-private")
	c = newClient(t, srv.URL, readKeyFile(t, data))
	waitUntil(t, 60*time.Second, func() bool {
		recv.mu.Lock()
		defer recv.mu.Unlock()
		return len(recv.ok) == tasks
	})
	recv.mu.Lock()
	bad, seenIDs, okIDs := recv.bad, maps.Clone(recv.ids), maps.Clone(recv.ok)
	recv.mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("bad requests: %v", bad)
	}
	for _, id := range ids {
		seen := seenIDs[id]
		if len(seen) < 2 {
			t.Errorf("task %s: %d requests, want a refused one before the kill and the accepted one after", id, len(seen))
		}
		for _, wid := range seen {
			if wid != okIDs[id] {
				t.Errorf("task %s: webhook-ids %v: a redelivery changed it", id, seen)
				break
			}
		}
		// The receiver answers before the deliverer records its answer:
		// the record may lag the request by a moment.
		var list struct {
			Deliveries []webhook.Delivery `json:"deliveries"`
		}
		recorded := func() bool {
			c.mustDo("GET", "/api/v1/media/tasks/"+id+"/deliveries", nil, http.StatusOK, &list)
			return len(list.Deliveries) == 1 && list.Deliveries[0].Status != webhook.StatusPending
		}
		for deadline := time.Now().Add(10 * time.Second); !recorded() && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		if len(list.Deliveries) != 1 || list.Deliveries[0].Status != webhook.StatusDelivered || list.Deliveries[0].EventID != okIDs[id] {
			t.Errorf("task %s: deliveries %+v, want one delivered with webhook-id %s", id, list.Deliveries, okIDs[id])
		}
	}
	t.Logf("%d tasks: %d requests refused before the kill, all delivered after the restart", tasks, recv.refused.Load())
	if code, _ := srv.stop(syscall.SIGTERM, 15*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
}

func waitUntil(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
