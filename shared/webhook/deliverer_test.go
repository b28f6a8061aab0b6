package webhook_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/webhook"
)

func TestDeliversSignedBody(t *testing.T) {
	t.Parallel()
	var presented atomic.Int32
	h := newHarness(t, nil, func(o *webhook.Options) {
		// Present stands for URL signing: its output is what is sent.
		o.Present = func(_ context.Context, e task.Event) (task.Event, error) {
			n := presented.Add(1)
			e.Data = json.RawMessage(`{"presented":` + strconv.Itoa(int(n)) + `}`)
			return e, nil
		}
	})
	id := h.submit(h.url())
	if n := h.runOnce(); n != 1 {
		t.Fatalf("attempted %d, want 1", n)
	}
	reqs := h.recv.requests()
	if len(reqs) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	d := h.delivery(id)
	if got := r.header.Get("webhook-id"); got != d.EventID || !strings.HasPrefix(got, "evt_") {
		t.Errorf("webhook-id = %q, want %q", got, d.EventID)
	}
	if got := r.header.Get("webhook-timestamp"); got != strconv.FormatInt(start.Unix(), 10) {
		t.Errorf("webhook-timestamp = %q, want %d", got, start.Unix())
	}
	if got := r.header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	if err := h.verify(r); err != nil {
		t.Errorf("signature: %v", err)
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatal(err)
	}
	if len(body) != 4 || string(body["id"]) != strconv.Quote(d.EventID) || string(body["event_type"]) != `"task.queued"` ||
		string(body["data"]) != `{"presented":1}` || string(body["created_at"]) != `"`+start.Format(time.RFC3339Nano)+`"` {
		t.Errorf("body = %s", r.body)
	}
	if d.Status != webhook.StatusDelivered || d.AttemptCount != 1 || len(d.Attempts) != 1 {
		t.Fatalf("delivery = %+v, want delivered after one attempt", d)
	}
	if a := d.Attempts[0]; a.StatusCode != 204 || a.Outcome != webhook.OutcomeDelivered || !a.At.Equal(start) || a.Latency <= 0 {
		t.Errorf("attempt = %+v", a)
	}
	if n := h.runOnce(); n != 0 {
		t.Errorf("attempted %d after delivery", n)
	}
}

// Every failure waits its turn of the schedule; after the last retry the
// delivery is exhausted and kept.
func TestFullSchedule(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 3000)
	h := newHarness(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte(long))
	}, nil)
	id := h.submit(h.url())
	schedule := webhook.DefaultSchedule
	for i := 0; i <= len(schedule); i++ {
		if n := h.runOnce(); n != 1 {
			t.Fatalf("attempt %d: attempted %d, want 1", i+1, n)
		}
		d := h.delivery(id)
		if d.AttemptCount != i+1 || len(d.Attempts) != i+1 {
			t.Fatalf("attempt %d: count %d, %d recorded", i+1, d.AttemptCount, len(d.Attempts))
		}
		a := d.Attempts[i]
		if a.StatusCode != 500 || len(a.Response) != webhook.ResponseLimit || !a.At.Equal(h.clock.Now()) {
			t.Errorf("attempt %d = status %d, %d bytes kept, at %s", i+1, a.StatusCode, len(a.Response), a.At)
		}
		if i == len(schedule) {
			if d.Status != webhook.StatusExhausted || a.Outcome != webhook.OutcomeExhausted {
				t.Errorf("after the last retry: status %s, outcome %s; want exhausted", d.Status, a.Outcome)
			}
			break
		}
		want := h.clock.Now().Add(schedule[i])
		if d.Status != webhook.StatusPending || a.Outcome != webhook.OutcomeFailed || !d.NextAttemptAt.Equal(want) {
			t.Fatalf("attempt %d: status %s, outcome %s, next %s; want pending, failed, %s",
				i+1, d.Status, a.Outcome, d.NextAttemptAt.Sub(start), want.Sub(start))
		}
		h.clock.Set(want.Add(-time.Nanosecond))
		if n := h.runOnce(); n != 0 {
			t.Fatalf("attempt %d: retried %s early", i+1, time.Nanosecond)
		}
		h.clock.Set(want)
	}
	h.clock.Add(72 * time.Hour)
	if n := h.runOnce(); n != 0 {
		t.Errorf("an exhausted delivery was attempted again")
	}
	reqs := h.recv.requests()
	if len(reqs) != len(schedule)+1 {
		t.Fatalf("receiver got %d requests, want %d", len(reqs), len(schedule)+1)
	}
	for _, r := range reqs {
		if r.header.Get("webhook-id") != reqs[0].header.Get("webhook-id") {
			t.Errorf("webhook-id changed between retries: %s, %s", reqs[0].header.Get("webhook-id"), r.header.Get("webhook-id"))
		}
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	first := webhook.DefaultSchedule[0]
	tests := map[string]struct {
		code       int
		retryAfter string
		want       time.Duration
	}{
		"seconds, later than the schedule":  {code: 503, retryAfter: "120", want: 2 * time.Minute},
		"seconds, sooner than the schedule": {code: 503, retryAfter: "2", want: first},
		"429 with seconds":                  {code: 429, retryAfter: "600", want: 10 * time.Minute},
		"HTTP date":                         {code: 429, retryAfter: start.Add(time.Hour).Format(http.TimeFormat), want: time.Hour},
		"HTTP date in the past":             {code: 503, retryAfter: start.Add(-time.Hour).Format(http.TimeFormat), want: first},
		"unreadable":                        {code: 503, retryAfter: "soon", want: first},
		"absent":                            {code: 503, want: first},
		"capped at a day":                   {code: 503, retryAfter: "999999999", want: webhook.MaxRetryAfter},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				w.WriteHeader(tc.code)
			}, nil)
			id := h.submit(h.url())
			h.runOnce()
			d := h.delivery(id)
			if d.Status != webhook.StatusPending || !d.NextAttemptAt.Equal(start.Add(tc.want)) {
				t.Errorf("status %s, next attempt after %s; want pending after %s", d.Status, d.NextAttemptAt.Sub(start), tc.want)
			}
		})
	}
}

// 410 Gone disables the endpoint: later events to it are skipped, and so
// are those already waiting.
func TestGoneDisablesEndpoint(t *testing.T) {
	t.Parallel()
	h := newHarness(t, answer(http.StatusGone), nil)
	first := h.submit(h.url())
	h.runOnce()
	d := h.delivery(first)
	if d.Status != webhook.StatusExhausted || d.LastAttempt == nil || d.LastAttempt.Outcome != webhook.OutcomeGone || d.LastAttempt.StatusCode != 410 {
		t.Fatalf("after 410: %+v", d)
	}
	if off, err := h.store.EndpointDisabled(h.ctx, h.user, h.url()); err != nil || !off {
		t.Fatalf("endpoint disabled = %v, %v", off, err)
	}
	later := h.submit(h.url())
	if d := h.delivery(later); d.Status != webhook.StatusSkipped {
		t.Errorf("a later event's delivery is %s, want skipped", d.Status)
	}
	if n := h.runOnce(); n != 0 {
		t.Errorf("attempted %d after the endpoint was disabled", n)
	}
	if n := len(h.recv.requests()); n != 1 {
		t.Errorf("receiver got %d requests, want only the first", n)
	}
	// Another endpoint of the same user is still served.
	other := newReceiver(t, nil)
	ok := h.submit(other.srv.URL)
	h.runOnce()
	if d := h.delivery(ok); d.Status != webhook.StatusDelivered {
		t.Errorf("another endpoint's delivery is %s", d.Status)
	}
}

func TestWaitingDeliveryToDisabledEndpointIsSkipped(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	id := h.submit(h.url())
	if err := h.store.DisableEndpoint(h.ctx, h.user, h.url(), start); err != nil {
		t.Fatal(err)
	}
	h.runOnce()
	if d := h.delivery(id); d.Status != webhook.StatusSkipped || d.LastAttempt.Outcome != webhook.OutcomeSkipped {
		t.Errorf("delivery = %s / %+v, want skipped", d.Status, d.LastAttempt)
	}
	if n := len(h.recv.requests()); n != 0 {
		t.Errorf("receiver got %d requests", n)
	}
}

// A redirect is an answer, never followed: it could lead inside.
func TestRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	var followed atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { followed.Add(1) }))
	t.Cleanup(target.Close)
	h := newHarness(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/inside", http.StatusTemporaryRedirect)
	}, nil)
	id := h.submit(h.url())
	h.runOnce()
	d := h.delivery(id)
	if d.Status != webhook.StatusPending || d.LastAttempt.StatusCode != 307 || d.LastAttempt.Outcome != webhook.OutcomeFailed ||
		!strings.Contains(d.LastAttempt.Error, "redirect") {
		t.Errorf("after a redirect: %s, %+v; want a failure to retry", d.Status, d.LastAttempt)
	}
	if n := followed.Load(); n != 0 {
		t.Errorf("the redirect target got %d requests", n)
	}
}

func TestReceiverRecovers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n < 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}, nil)
	id := h.submit(h.url())
	for range 3 {
		h.runOnce()
		h.clock.Set(h.delivery(id).NextAttemptAt)
	}
	d := h.delivery(id)
	var outcomes []webhook.Outcome
	for _, a := range d.Attempts {
		outcomes = append(outcomes, a.Outcome)
	}
	if d.Status != webhook.StatusDelivered || len(outcomes) != 3 || outcomes[0] != webhook.OutcomeFailed ||
		outcomes[1] != webhook.OutcomeFailed || outcomes[2] != webhook.OutcomeDelivered {
		t.Fatalf("status %s, outcomes %v; want failed, failed, delivered", d.Status, outcomes)
	}
	reqs := h.recv.requests()
	for i, r := range reqs {
		if r.header.Get("webhook-id") != d.EventID {
			t.Errorf("request %d webhook-id = %s, want %s", i, r.header.Get("webhook-id"), d.EventID)
		}
	}
	// The last request was signed when it was sent.
	if err := h.verify(reqs[len(reqs)-1]); err != nil {
		t.Errorf("last signature: %v", err)
	}
}

// An exhausted delivery replayed goes out again, with its webhook-id.
func TestReplayExhausted(t *testing.T) {
	t.Parallel()
	var up atomic.Bool
	h := newHarness(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		if up.Load() {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusBadGateway)
	}, func(o *webhook.Options) { o.Schedule = []time.Duration{time.Minute} })
	id := h.submit(h.url())
	h.runOnce()
	h.clock.Add(time.Minute)
	h.runOnce()
	if d := h.delivery(id); d.Status != webhook.StatusExhausted {
		t.Fatalf("status %s, want exhausted", d.Status)
	}
	up.Store(true)
	h.clock.Add(time.Hour)
	r, err := h.store.RetryDelivery(h.ctx, h.user, id, h.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != webhook.StatusPending {
		t.Fatalf("replayed status %s", r.Status)
	}
	if n := h.runOnce(); n != 1 {
		t.Fatalf("attempted %d after the replay", n)
	}
	d := h.delivery(id)
	if d.Status != webhook.StatusDelivered || len(d.Attempts) != 3 {
		t.Errorf("after the replay: %s with %d attempts", d.Status, len(d.Attempts))
	}
	reqs := h.recv.requests()
	if len(reqs) != 3 || reqs[2].header.Get("webhook-id") != reqs[0].header.Get("webhook-id") {
		t.Errorf("replay webhook-id = %q, first %q", reqs[len(reqs)-1].header.Get("webhook-id"), reqs[0].header.Get("webhook-id"))
	}
}

// A deliverer that dies mid-attempt leaves a claim; once its lease lapses
// the delivery goes out, under the same webhook-id.
func TestLapsedClaimIsRetried(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, func(o *webhook.Options) { o.Lease = time.Minute })
	id := h.submit(h.url())
	if ds, err := h.store.ClaimDue(h.ctx, h.clock.Now(), 10, time.Minute); err != nil || len(ds) != 1 {
		t.Fatalf("claim = %d, %v", len(ds), err)
	}
	if n := h.runOnce(); n != 0 {
		t.Fatalf("attempted %d under another's claim", n)
	}
	h.clock.Add(time.Minute)
	if n := h.runOnce(); n != 1 {
		t.Fatalf("attempted %d after the lease", n)
	}
	if d := h.delivery(id); d.Status != webhook.StatusDelivered || h.recv.requests()[0].header.Get("webhook-id") != d.EventID {
		t.Errorf("delivery %s", d.Status)
	}
}

func TestTimeoutIsRetried(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	h := newHarness(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}, func(o *webhook.Options) { o.Timeout = 100 * time.Millisecond })
	id := h.submit(h.url())
	h.runOnce()
	d := h.delivery(id)
	if d.Status != webhook.StatusPending || d.LastAttempt.Outcome != webhook.OutcomeFailed || d.LastAttempt.StatusCode != 0 || d.LastAttempt.Error == "" {
		t.Errorf("after a timeout: %s, %+v; want a failure to retry", d.Status, d.LastAttempt)
	}
}

// The guard at connect time: a name that resolves to loopback is refused
// when connecting, recorded as blocked and not retried.
func TestGuardBlocksAtConnect(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		url  func(h *harness) string
		want string
	}{
		"name resolving to loopback": {url: func(h *harness) string {
			return strings.Replace(h.recv.srv.URL, "127.0.0.1", "localhost", 1) + "/hooks"
		}, want: "loopback"},
		"literal loopback": {url: func(h *harness) string { return h.url() }, want: "loopback"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, nil, func(o *webhook.Options) { o.AllowPrivate = false })
			id := h.submit(tc.url(h))
			h.runOnce()
			d := h.delivery(id)
			if d.Status != webhook.StatusBlocked || d.LastAttempt.Outcome != webhook.OutcomeBlocked || !strings.Contains(d.LastAttempt.Error, tc.want) {
				t.Errorf("delivery %s, %+v; want blocked naming %s", d.Status, d.LastAttempt, tc.want)
			}
			h.clock.Add(48 * time.Hour)
			if n := h.runOnce(); n != 0 {
				t.Errorf("a blocked delivery was attempted again")
			}
			if n := len(h.recv.requests()); n != 0 {
				t.Errorf("the receiver got %d requests", n)
			}
		})
	}
}

func TestAllowPrivateReachesLoopback(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, func(o *webhook.Options) { o.AllowPrivate = true })
	id := h.submit(strings.Replace(h.recv.srv.URL, "127.0.0.1", "localhost", 1) + "/hooks")
	h.runOnce()
	if d := h.delivery(id); d.Status != webhook.StatusDelivered {
		t.Errorf("status %s, want delivered", d.Status)
	}
}

// Run sends a new delivery as soon as the store says one was committed,
// without waiting for its poll.
func TestRunWakesOnNotify(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, func(o *webhook.Options) { o.PollInterval = time.Hour })
	ctx, cancel := context.WithCancel(h.ctx)
	done := make(chan error, 1)
	go func() { done <- h.d.Run(ctx) }()
	for i := range 3 {
		id := h.submit(h.url())
		select {
		case r := <-h.recv.got:
			if got := r.header.Get("webhook-id"); webhook.DeliveryID(got) != id {
				t.Errorf("delivery %d: got %s", i, got)
			}
		case <-time.After(30 * time.Second): // a hang guard, not a measure
			t.Fatalf("delivery %d not sent", i)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 0 {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
	}, func(o *webhook.Options) { o.Workers = 1 })
	h.submit(h.url())
	h.runOnce()
	h.clock.Add(time.Minute)
	h.submit(h.url())
	h.runOnce()
	h.clock.Add(time.Minute)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(h.d.Collector())
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, f := range families {
		byName[f.GetName()] = f
	}
	value := func(name, label string) float64 {
		f := byName[name]
		if f == nil {
			t.Fatalf("no metric %s", name)
		}
		for _, m := range f.GetMetric() {
			if label != "" && (len(m.GetLabel()) == 0 || m.GetLabel()[0].GetValue() != label) {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
		t.Fatalf("no %s{%s}", name, label)
		return 0
	}
	checks := []struct {
		name, label string
		want        float64
	}{
		{"mediatasks_webhook_attempts_total", "delivered", 1},
		{"mediatasks_webhook_attempts_total", "failed", 1},
		{"mediatasks_webhook_attempts_total", "blocked", 0},
		{"mediatasks_webhook_attempt_duration_seconds", "", 2},
		{"mediatasks_webhook_deliveries", "pending", 1},
		{"mediatasks_webhook_deliveries", "delivered", 1},
		{"mediatasks_webhook_oldest_pending_age_seconds", "", 60}, // the second, made a minute ago
	}
	for _, c := range checks {
		if got := value(c.name, c.label); got != c.want {
			t.Errorf("%s{%s} = %v, want %v", c.name, c.label, got, c.want)
		}
	}
}

func TestNewNeedsAStore(t *testing.T) {
	if _, err := webhook.New(webhook.Options{}); err == nil {
		t.Error("New without a store succeeded")
	}
	h := newHarness(t, nil, nil)
	if _, err := webhook.New(webhook.Options{Store: h.store, Schedule: []time.Duration{-time.Second}}); err == nil {
		t.Error("a negative schedule was accepted")
	}
}
