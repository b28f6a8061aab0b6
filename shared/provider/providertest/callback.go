package providertest

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/provider"
)

// CallbackFault is how a fake misbehaves when it calls back.
type CallbackFault string

const (
	CallbackOK CallbackFault = ""
	// CallbackDrop: the call is never made, as when a provider's
	// callback is lost; the platform's fallback poll must find the end.
	CallbackDrop CallbackFault = "drop"
	// CallbackBadSignature: signed with a key that is not the
	// provider's, or with a secret that is not the one it was given.
	CallbackBadSignature CallbackFault = "bad_signature"
	// CallbackStale: signed rightly, with a timestamp ten minutes old
	// (only for providers that sign a timestamp).
	CallbackStale CallbackFault = "stale"
)

// StaleBy is how old a CallbackStale timestamp is.
const StaleBy = 10 * time.Minute

// CallbackFake is the Fake of a provider that calls back. A job created
// with a callback ends at once on the fake, which then calls it back
// from its own goroutine (the create's answer may come before or after),
// signed as the provider signs; polls answer the job's end as well.
type CallbackFake interface {
	Fake
	// FailCallbacks makes the following callbacks misbehave with f,
	// until FailCallbacks(CallbackOK).
	FailCallbacks(f CallbackFault)
	// Settle waits until the callbacks under way have been made (or
	// dropped), so a test can look at what arrived without a timer.
	Settle()
}

// Callbacks is what a fake that calls back keeps for the suite: the fault
// of its callbacks and the calls under way. A fake embeds it.
type Callbacks struct {
	mu    sync.Mutex
	fault CallbackFault
	wg    sync.WaitGroup
}

// FailCallbacks makes the following callbacks misbehave with f.
func (c *Callbacks) FailCallbacks(f CallbackFault) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fault = f
}

// CallbackFault is the callback fault in force.
func (c *Callbacks) CallbackFault() CallbackFault {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fault
}

// Send posts calls (their headers and bodies) to url, in order, from a goroutine of their own (a
// provider calls back from its servers, not inside its answer); with
// CallbackDrop it sends none. A failed call is not retried: the suite's
// receiver answers every call.
func (c *Callbacks) Send(url string, calls ...Call) {
	if c.CallbackFault() == CallbackDrop {
		return
	}
	c.wg.Go(func() {
		client := &http.Client{Timeout: 30 * time.Second}
		for _, call := range calls {
			req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(call.Body))
			if err != nil {
				return
			}
			req.Header = call.Header.Clone()
			if req.Header.Get("Content-Type") == "" {
				req.Header.Set("Content-Type", "application/json")
			}
			resp, err := client.Do(req)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

// Settle waits for the calls under way.
func (c *Callbacks) Settle() { c.wg.Wait() }

// receiver is the platform's callback endpoint in the suite: it records
// each call as received.
type receiver struct {
	srv   *httptest.Server
	mu    sync.Mutex
	calls []Call
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.calls = append(r.calls, Call{Header: req.Header.Clone(), Body: body})
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) received() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// callbackSecret is the Callback.Secret the suite starts jobs with;
// otherSecret is another job's.
const (
	callbackSecret = "cbs_suite_0123456789abcdef"
	otherSecret    = "cbs_another_secret_fedcba987654"
)

// runCallbacks holds a Caller to the port's callback promises on its
// first long case: the callback arrives and names the job Start returned
// as final; a tampered, wrongly signed or stale one is refused wrapping
// provider.ErrBadCallback; a lost one leaves the job to the poll; no
// secret shows in an error.
func runCallbacks(t *testing.T, h Harness) {
	t.Helper()
	i := slices.IndexFunc(h.Cases, func(c Case) bool { return c.Long })
	if i < 0 {
		return // a job that answers at once has nothing to call back
	}
	c := h.Cases[i]
	if _, ok := h.New(t, h.Fake(t), 10*time.Second).(provider.Caller); !ok {
		return
	}
	type started struct {
		fake   CallbackFake
		caller provider.Caller
		req    provider.Request
		resp   provider.Response
		calls  []Call
	}
	setup := func(t *testing.T, fault CallbackFault) started {
		t.Helper()
		f, ok := h.Fake(t).(CallbackFake)
		if !ok {
			t.Fatalf("the adapter is a provider.Caller, but its fake is not a providertest.CallbackFake")
		}
		p := h.New(t, f, 10*time.Second)
		f.FailCallbacks(fault)
		recv := newReceiver(t)
		req := request(t, c)
		req.Callback = &provider.Callback{URL: recv.srv.URL + "/api/v1/media/providers/" + p.Name() + "/callback?ref=" + req.TaskID, Secret: callbackSecret}
		resp, err := p.Start(t.Context(), req)
		if err != nil {
			t.Fatalf("Start with a callback: %v", err)
		}
		if resp.Job == "" {
			t.Fatalf("a long job's Start answered no job: %+v", resp)
		}
		f.Settle()
		return started{fake: f, caller: p.(provider.Caller), req: req, resp: resp, calls: recv.received()}
	}
	// last is the final call, checked; the calls before it must be
	// authentic, about the same job, and not final.
	last := func(t *testing.T, caller provider.Caller, resp provider.Response, calls []Call) Call {
		t.Helper()
		if len(calls) == 0 {
			t.Fatalf("no callback arrived for job %s", resp.Job)
		}
		for n, call := range calls {
			job, final, err := caller.VerifyCallback(t.Context(), call.Header, call.Body, callbackSecret)
			if err != nil {
				t.Fatalf("callback %d of %d is refused: %v", n+1, len(calls), err)
			}
			// The platform matches the call to its task's job by the
			// handle Start answered.
			if job != resp.Job {
				t.Errorf("callback %d names job %q; Start answered %q", n+1, job, resp.Job)
			}
			if want := n == len(calls)-1; final != want {
				t.Errorf("callback %d of %d: final %v, want %v", n+1, len(calls), final, want)
			}
		}
		return calls[len(calls)-1]
	}
	refused := func(t *testing.T, caller provider.Caller, call Call, secret, what string) {
		t.Helper()
		job, final, err := caller.VerifyCallback(t.Context(), call.Header, call.Body, secret)
		if !errors.Is(err, provider.ErrBadCallback) {
			t.Fatalf("%s: VerifyCallback = %q, %v, %v; want an error wrapping provider.ErrBadCallback", what, job, final, err)
		}
		noSecret(t, h, err)
	}

	t.Run("callback/arrives", func(t *testing.T) {
		s := setup(t, CallbackOK)
		last(t, s.caller, s.resp, s.calls)
		if h.NonFinalCallbacks && len(s.calls) < 2 {
			t.Errorf("%d callbacks arrived; the provider reports progress before the end", len(s.calls))
		}
		// The callback says the job ended; Poll then answers its result.
		checkResult(t, c, poll(t, h.New(t, s.fake, 10*time.Second), s.req, s.resp))
	})
	t.Run("callback/refused", func(t *testing.T) {
		s := setup(t, CallbackOK)
		caller, call := s.caller, last(t, s.caller, s.resp, s.calls)
		refused(t, caller, Call{Header: call.Header, Body: nil}, callbackSecret, "an empty body")
		refused(t, caller, Call{Header: http.Header{}, Body: call.Body}, callbackSecret, "no headers")
		if h.CallbackSigned {
			tampered := bytes.Replace(call.Body, []byte(`"`), []byte(`"x`), 1)
			refused(t, caller, Call{Header: call.Header, Body: tampered}, callbackSecret, "a tampered body")
		} else {
			refused(t, caller, call, otherSecret, "another job's secret")
			refused(t, caller, call, "", "no secret")
		}
	})
	t.Run("callback/bad signature", func(t *testing.T) {
		s := setup(t, CallbackBadSignature)
		if len(s.calls) == 0 {
			t.Fatal("no callback arrived")
		}
		refused(t, s.caller, s.calls[len(s.calls)-1], callbackSecret, "a callback not signed by the provider")
	})
	if h.CallbackSigned {
		t.Run("callback/stale", func(t *testing.T) {
			s := setup(t, CallbackStale)
			if len(s.calls) == 0 {
				t.Fatal("no callback arrived")
			}
			refused(t, s.caller, s.calls[len(s.calls)-1], callbackSecret, "a callback signed "+StaleBy.String()+" ago")
		})
	}
	t.Run("callback/lost", func(t *testing.T) {
		s := setup(t, CallbackDrop)
		if len(s.calls) != 0 {
			t.Fatalf("%d callbacks arrived; the fake was told to drop them", len(s.calls))
		}
		checkResult(t, c, poll(t, h.New(t, s.fake, 10*time.Second), s.req, s.resp))
	})
}

// poll polls a job to its result, as the platform's fallback poll does.
func poll(t *testing.T, p provider.Provider, req provider.Request, resp provider.Response) *provider.Result {
	t.Helper()
	for polls := 0; !resp.Done(); polls++ {
		if polls >= maxPolls {
			t.Fatalf("still pending after %d polls", polls)
		}
		job := resp.Job
		var err error
		if resp, err = p.Poll(t.Context(), req, job); err != nil {
			t.Fatalf("Poll %d: %v", polls+1, err)
		}
		if resp.Job == "" && !resp.Done() {
			resp.Job = job
		}
	}
	return resp.Result
}

func noSecret(t *testing.T, h Harness, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range []string{h.Key, callbackSecret, otherSecret} {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("an error shows a secret: %v", err)
		}
	}
}
