package sim

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/videoai/mediatasks/shared/provider"
)

// SignatureHeader carries a sim callback's signature: hex HMAC-SHA256 of
// the body under the callback's secret.
const SignatureHeader = "X-Sim-Signature"

// CallbackEvent is the body of a sim callback.
type CallbackEvent struct {
	Job    string `json:"job"`
	Status string `json:"status"` // "succeeded"
}

// Caller is a sim that calls back (callback_after_ms): a job started with
// a callback ends callback_after_ms after its start, when the sim posts a
// CallbackEvent to the callback URL (unless callback_lost); until then its
// polls answer it pending. A job started without a callback is polled as
// the plain sim's.
type Caller struct {
	*Sim
	after time.Duration
	lost  bool
	http  *http.Client

	mu   sync.Mutex
	ends map[string]time.Time // job -> when it ends (this process's jobs)
}

var (
	_ provider.Provider = (*Caller)(nil)
	_ provider.Caller   = (*Caller)(nil)
)

func newCaller(s *Sim, after time.Duration, lost bool) *Caller {
	return &Caller{Sim: s, after: after, lost: lost, http: &http.Client{Timeout: 10 * time.Second}, ends: map[string]time.Time{}}
}

// Start starts a job; given a callback, the job ends after callback_after_ms
// and the sim calls back then.
func (c *Caller) Start(ctx context.Context, req provider.Request) (provider.Response, error) {
	if req.Callback == nil {
		return c.Sim.Start(ctx, req)
	}
	if err := c.act(ctx); err != nil {
		return provider.Response{}, fmt.Errorf("sim %s: start: %w", c.name, err)
	}
	if _, err := build(req, false); err != nil {
		return provider.Response{}, fmt.Errorf("sim %s: task %s: %w", c.name, req.TaskID, err)
	}
	job := encodeJob(0, req.TaskID)
	c.mu.Lock()
	c.ends[job] = time.Now().Add(c.after)
	c.mu.Unlock()
	if !c.lost {
		cb := *req.Callback
		time.AfterFunc(c.after, func() { c.callBack(cb, job) })
	}
	return provider.Response{Job: job, PollAfter: c.pollAfter}, nil
}

// Poll answers a job given a callback with its result once it has ended;
// a job this process did not start (a restart) has ended.
func (c *Caller) Poll(ctx context.Context, req provider.Request, job string) (provider.Response, error) {
	c.mu.Lock()
	end, ok := c.ends[job]
	c.mu.Unlock()
	if !ok {
		return c.Sim.Poll(ctx, req, job)
	}
	if _, err := decodeJob(job, req.TaskID); err != nil {
		return provider.Response{}, fmt.Errorf("sim %s: poll: %w", c.name, err)
	}
	if time.Now().Before(end) {
		return provider.Response{Job: job, PollAfter: c.pollAfter}, nil
	}
	return c.result(req)
}

// callBack posts the job's end to its callback URL, trying three times
// as providers retry.
func (c *Caller) callBack(cb provider.Callback, job string) {
	body, _ := json.Marshal(CallbackEvent{Job: job, Status: "succeeded"}) // strings: cannot fail
	for attempt := range 3 {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 200 * time.Millisecond)
		}
		req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, cb.URL, bytes.NewReader(body))
		if err != nil {
			slog.Default().Warn("sim: callback URL", "provider", c.name, "err", err)
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(SignatureHeader, Sign(cb.Secret, body))
		resp, err := c.http.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 300 {
				return
			}
		}
	}
}

// Sign is a sim callback's signature of body under secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// VerifyCallback checks the signature and reads the event.
func (c *Caller) VerifyCallback(_ context.Context, header http.Header, body []byte, secret string) (string, bool, error) {
	got, err := hex.DecodeString(header.Get(SignatureHeader))
	want, _ := hex.DecodeString(Sign(secret, body))
	if err != nil || !hmac.Equal(got, want) {
		return "", false, fmt.Errorf("sim %s: %s: %w", c.name, SignatureHeader, provider.ErrBadCallback)
	}
	var ev CallbackEvent
	if err := json.Unmarshal(body, &ev); err != nil || ev.Job == "" {
		return "", false, fmt.Errorf("sim %s: the body is not a callback event: %w", c.name, provider.ErrBadCallback)
	}
	return ev.Job, ev.Status == "succeeded", nil
}
