package webhook_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/videoai/mediatasks/shared/sqlitedb"
	"github.com/videoai/mediatasks/shared/store/sqlitestore"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/testkit/clocktest"
	"github.com/videoai/mediatasks/shared/webhook"
)

// harness is a deliverer over a SQLite store on a fake clock, and a
// receiver that records what it gets.
type harness struct {
	t     testing.TB
	ctx   context.Context
	clock *clocktest.Fake
	store *sqlitestore.Store
	d     *webhook.Deliverer
	recv  *receiver
	user  string
}

// received is one request a receiver got.
type received struct {
	header http.Header
	body   []byte
	at     time.Time // real time, for latency figures
}

// receiver answers with respond (204 when nil), given the request's
// index among those it got.
type receiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	reqs    []received
	respond func(n int, w http.ResponseWriter, r *http.Request)
	got     chan received
}

func newReceiver(tb testing.TB, respond func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	rc := &receiver{respond: respond, got: make(chan received, 1024)}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got := received{header: r.Header.Clone(), body: body, at: time.Now()}
		rc.mu.Lock()
		n := len(rc.reqs)
		rc.reqs = append(rc.reqs, got)
		rc.mu.Unlock()
		select {
		case rc.got <- got:
		default:
		}
		if rc.respond == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		rc.respond(n, w, r)
	}))
	tb.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.reqs...)
}

var start = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func newHarness(tb testing.TB, respond func(n int, w http.ResponseWriter, r *http.Request), tune func(*webhook.Options)) *harness {
	tb.Helper()
	h := &harness{t: tb, ctx: context.Background(), clock: clocktest.NewFake(start), user: "usr_" + uuid.NewString()[:8]}
	db, err := sqlitedb.Open(filepath.Join(tb.TempDir(), "mediatasks.db"), sqlitedb.Options{Synchronous: "NORMAL"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	wake := webhook.NewSignal()
	if h.store, err = sqlitestore.New(h.ctx, db, sqlitestore.Options{Now: h.clock.Now, OnDeliveries: wake.Notify}); err != nil {
		tb.Fatal(err)
	}
	h.recv = newReceiver(tb, respond)
	opts := webhook.Options{Store: h.store, Now: h.clock.Now, AllowPrivate: true, Timeout: 5 * time.Second, Wake: wake}
	if tune != nil {
		tune(&opts)
	}
	if h.d, err = webhook.New(opts); err != nil {
		tb.Fatal(err)
	}
	return h
}

// url is the receiver's address.
func (h *harness) url() string { return h.recv.srv.URL + "/hooks" }

// submit stores a queued task whose webhook at url wants task.queued,
// and returns the id of its delivery.
func (h *harness) submit(url string) string {
	h.t.Helper()
	now := h.clock.Now()
	tk := &task.Task{ID: uuid.NewString(), UserID: h.user, Type: task.TypeImageGeneration, Status: task.StatusQueued,
		Priority: task.PriorityNormal, Input: json.RawMessage(`{"prompt":"a lighthouse"}`),
		WebhookURL: url, WebhookEvents: []task.EventType{task.EventTaskQueued}, CreatedAt: now, UpdatedAt: now, Version: 1}
	ev := task.NewTaskEvent(tk, task.EventTaskQueued, now)
	if err := h.store.Create(h.ctx, task.Creation{Tasks: []*task.Task{tk}, Events: []task.Event{ev}}); err != nil {
		h.t.Fatal(err)
	}
	return webhook.DeliveryID(ev.ID)
}

func (h *harness) runOnce() int {
	h.t.Helper()
	n, err := h.d.RunOnce(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

func (h *harness) delivery(id string) webhook.Delivery {
	h.t.Helper()
	d, err := h.store.GetDelivery(h.ctx, h.user, id)
	if err != nil {
		h.t.Fatal(err)
	}
	return d
}

// verify checks a request's signature with the user's current secrets.
func (h *harness) verify(r received) error {
	h.t.Helper()
	secrets, err := h.store.WebhookSecrets(h.ctx, h.user, h.clock.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	v, err := webhook.NewVerifier(secrets...)
	if err != nil {
		h.t.Fatal(err)
	}
	v.Now = h.clock.Now
	return v.Verify(r.header, r.body)
}

func answer(code int) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}
