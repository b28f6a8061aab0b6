// Package providertest is the conformance suite of the provider port: run
// against every hosted adapter and the fake server that speaks its
// provider's wire format, it holds each one to the same promises: results
// in the platform's shapes, long jobs that any instance can poll (no state
// in memory), callbacks that authenticate and name their job, the platform's error classes for the same faults (429 with
// Retry-After, 5xx, a hang, malformed and truncated answers, a safety
// refusal, a bad key, an expired output URL), cancel, and a key that never
// shows in an error.
package providertest

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/task"
)

// Fault is a failure the fake is told to answer its API calls with.
type Fault string

const (
	FaultNone Fault = ""
	// FaultThrottle: 429 with Retry-After: 7 (seconds), the provider's
	// own rate-limit body.
	FaultThrottle Fault = "throttle"
	// FaultServer: 500 (or the provider's 5xx), its error body.
	FaultServer Fault = "server"
	// FaultHang: the request is held until the client gives up.
	FaultHang Fault = "hang"
	// FaultMalformed: 200 with a body that is not JSON.
	FaultMalformed Fault = "malformed"
	// FaultTruncated: 200 with the start of a valid answer, cut.
	FaultTruncated Fault = "truncated"
	// FaultSafety: the provider's refusal of the content, as it sends it
	// (a 400 with its code, or a job that fails with its safety code).
	FaultSafety Fault = "safety"
	// FaultAuth: 401 for a bad key.
	FaultAuth Fault = "auth"
	// FaultExpiredOutput: API calls succeed, but the output URLs they
	// name answer 404 or 410 (only for providers that answer URLs).
	FaultExpiredOutput Fault = "expired_output"
)

// RetryAfterSeconds is the Retry-After a fake sends with FaultThrottle.
const RetryAfterSeconds = 7

// Fake is a fake server of one provider.
type Fake interface {
	// URL is the base_url an adapter is given.
	URL() string
	// Fail makes every following API call answer with f, until
	// Fail(FaultNone).
	Fail(f Fault)
	// Canceled lists the provider's job ids the adapter canceled.
	Canceled() []string
}

// Case is one request the adapter must carry out.
type Case struct {
	Name  string
	Type  task.Type
	Input task.Input // encoded as the task's input_data
	Media *provider.Media
	// Long: Start answers a job to poll (and the job can be canceled).
	Long bool
	// Check looks at the result beyond the suite's own checks.
	Check func(t *testing.T, res *provider.Result)
}

// Harness is what the suite needs of one adapter.
type Harness struct {
	// Fake starts a fresh fake server (closed by t.Cleanup).
	Fake func(t *testing.T) Fake
	// New builds the adapter for fake, with the given per-call timeout,
	// output URLs allowed on loopback (the fake's), and Key as its key.
	New func(t *testing.T, fake Fake, timeout time.Duration) provider.Provider
	// Key is the key New configures; no error may show it.
	Key   string
	Cases []Case
	// Skip lists the faults the provider cannot answer with (sdwebui has
	// no safety refusal; a provider that answers bytes has no output URL).
	Skip []Fault

	// For an adapter that is a provider.Caller (its Fake is then a
	// CallbackFake):

	// CallbackSigned: the provider signs the body and a timestamp with
	// its own key (a tampered body and a stale call must be refused);
	// else it sends the Callback.Secret back (another secret must be).
	CallbackSigned bool
	// NonFinalCallbacks: the provider calls back on progress too, before
	// the end.
	NonFinalCallbacks bool
}

// maxPolls bounds a long job in the suite.
const maxPolls = 200

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if len(h.Cases) == 0 {
		t.Fatal("providertest: a harness needs at least one case")
	}
	for _, c := range h.Cases {
		t.Run("completes/"+c.Name, func(t *testing.T) {
			fake := h.Fake(t)
			p := h.New(t, fake, 10*time.Second)
			res := complete(t, h, fake, p, c, true)
			checkResult(t, c, res)
			if c.Check != nil {
				c.Check(t, res)
			}
		})
	}
	first := h.Cases[0]
	fault := func(f Fault, check func(t *testing.T, err error)) {
		if slices.Contains(h.Skip, f) {
			return
		}
		t.Run("fault/"+string(f), func(t *testing.T) {
			fake := h.Fake(t)
			timeout := 10 * time.Second
			if f == FaultHang {
				timeout = 300 * time.Millisecond
			}
			p := h.New(t, fake, timeout)
			fake.Fail(f)
			err := run(t, p, first)
			if err == nil {
				t.Fatalf("with fault %s the task completed; want an error", f)
			}
			noKey(t, h, err)
			check(t, err)
		})
	}
	fault(FaultThrottle, func(t *testing.T, err error) {
		wantKind(t, err, provider.Throttled)
		if got := provider.RetryAfterOf(err); got != RetryAfterSeconds*time.Second {
			t.Errorf("RetryAfter = %s, want the provider's %ds", got, RetryAfterSeconds)
		}
	})
	fault(FaultServer, func(t *testing.T, err error) { wantKind(t, err, provider.Transient) })
	fault(FaultHang, func(t *testing.T, err error) {
		wantKind(t, err, provider.Transient)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("a call that timed out: %v; want it to wrap context.DeadlineExceeded", err)
		}
	})
	fault(FaultMalformed, func(t *testing.T, err error) { wantKind(t, err, provider.Transient) })
	fault(FaultTruncated, func(t *testing.T, err error) { wantKind(t, err, provider.Transient) })
	fault(FaultSafety, func(t *testing.T, err error) {
		wantKind(t, err, provider.Permanent)
		if !provider.IsSafetyRefusal(err) {
			t.Errorf("a safety refusal is not marked one: %v", err)
		}
		hasMessage(t, err)
	})
	fault(FaultAuth, func(t *testing.T, err error) {
		wantKind(t, err, provider.Permanent)
		if pe, ok := errors.AsType[*provider.Error](err); ok && pe.RequestFault {
			t.Errorf("a bad key is the provider's fault, not the request's: %v", err)
		}
		hasMessage(t, err)
	})
	fault(FaultExpiredOutput, func(t *testing.T, err error) {
		wantKind(t, err, provider.Permanent)
		if pe, _ := errors.AsType[*provider.Error](err); pe == nil || pe.Code != "output_expired" {
			t.Errorf("an expired output URL: %v; want code output_expired", err)
		}
	})

	t.Run("canceled context", func(t *testing.T) {
		fake := h.Fake(t)
		p := h.New(t, fake, 10*time.Second)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		req := request(t, first)
		_, err := p.Start(ctx, req)
		if provider.KindOf(err) != provider.Canceled {
			t.Errorf("Start with a canceled context: %v (kind %q); want kind canceled", err, provider.KindOf(err))
		}
	})

	runCallbacks(t, h)

	if i := slices.IndexFunc(h.Cases, func(c Case) bool { return c.Long }); i >= 0 {
		c := h.Cases[i]
		t.Run("cancel/"+c.Name, func(t *testing.T) {
			fake := h.Fake(t)
			p := h.New(t, fake, 10*time.Second)
			req := request(t, c)
			resp, err := p.Start(t.Context(), req)
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			if resp.Job == "" {
				t.Fatalf("a long job's Start answered no job: %+v", resp)
			}
			if err := p.Cancel(t.Context(), req, resp.Job); err != nil {
				t.Fatalf("Cancel: %v", err)
			}
			if len(fake.Canceled()) == 0 {
				t.Errorf("Cancel returned nil, but the fake saw no cancel of the job")
			}
			if err := p.Cancel(t.Context(), req, resp.Job); err != nil {
				t.Errorf("a second Cancel of an ended job: %v; want nil", err)
			}
		})
	}
}

// complete runs c to its result, polling with a fresh adapter each time
// when fresh, so that a job handle must carry all Poll needs.
func complete(t *testing.T, h Harness, fake Fake, p provider.Provider, c Case, fresh bool) *provider.Result {
	t.Helper()
	req := request(t, c)
	resp, err := p.Start(t.Context(), req)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if c.Long && resp.Done() {
		t.Fatalf("case %s is a long job, but Start answered the result", c.Name)
	}
	progress := 0.0
	for polls := 0; !resp.Done(); polls++ {
		if resp.Job == "" {
			t.Fatalf("a pending answer with no job: %+v", resp)
		}
		if resp.Progress < 0 || resp.Progress > 1 {
			t.Errorf("progress %v is outside [0, 1]", resp.Progress)
		}
		progress = max(progress, resp.Progress)
		if polls >= maxPolls {
			t.Fatalf("still pending after %d polls", polls)
		}
		if fresh {
			p = h.New(t, fake, 10*time.Second)
		}
		job := resp.Job
		resp, err = p.Poll(t.Context(), req, job)
		if err != nil {
			t.Fatalf("Poll %d: %v", polls+1, err)
		}
		if resp.Job == "" && !resp.Done() {
			resp.Job = job
		}
	}
	return resp.Result
}

// run carries c out and returns its error (nil when it completed).
func run(t *testing.T, p provider.Provider, c Case) error {
	t.Helper()
	req := request(t, c)
	resp, err := p.Start(t.Context(), req)
	for polls := 0; err == nil && !resp.Done() && polls < maxPolls; polls++ {
		job := resp.Job
		resp, err = p.Poll(t.Context(), req, job)
		if err == nil && resp.Job == "" && !resp.Done() {
			resp.Job = job
		}
	}
	if err == nil && !resp.Done() {
		t.Fatalf("still pending after %d polls", maxPolls)
	}
	return err
}

func request(t *testing.T, c Case) provider.Request {
	t.Helper()
	c.Input.SetDefaults()
	raw, err := json.Marshal(c.Input)
	if err != nil {
		t.Fatalf("encode the input of %s: %v", c.Name, err)
	}
	return provider.Request{TaskID: "task_" + strings.ReplaceAll(c.Name, " ", "_"), UserID: "user1", Type: c.Type, Input: raw, Media: c.Media, Attempt: 1}
}

// checkResult holds a result to the platform's shapes: media files with
// bytes (fetched at once) and a content type, a transcript with words for
// the audio types, and a cost when the provider knows its prices.
func checkResult(t *testing.T, c Case, res *provider.Result) {
	t.Helper()
	switch c.Type {
	case task.TypeAudioTranscription, task.TypeSubtitleGeneration:
		if res.Transcript == nil {
			t.Fatalf("a %s result has no transcript", c.Type)
		}
		if res.Transcript.Text == "" || len(res.Transcript.Words) == 0 {
			t.Errorf("transcript has no text or no words: %+v", res.Transcript)
		}
		for i, w := range res.Transcript.Words {
			if w.End < w.Start || (i > 0 && w.Start < res.Transcript.Words[i-1].Start) {
				t.Errorf("word %d (%+v) out of order", i, w)
			}
		}
	default:
		if len(res.Files) == 0 {
			t.Fatalf("a %s result has no file", c.Type)
		}
		for i, f := range res.Files {
			if len(f.Data) == 0 {
				t.Errorf("file %d has no bytes (URL %q): outputs are fetched at once, as provider URLs expire", i, f.URL)
			}
			if f.ContentType == "" || f.Ext == "" || !strings.HasPrefix(f.Ext, ".") {
				t.Errorf("file %d: content type %q, ext %q", i, f.ContentType, f.Ext)
			}
		}
	}
	if res.Cost != nil && (res.Cost.USD < 0 || res.Cost.PriceVersion == "") {
		t.Errorf("cost %+v: want a price of 0 or more with its price version", res.Cost)
	}
}

func wantKind(t *testing.T, err error, want provider.Kind) {
	t.Helper()
	if got := provider.KindOf(err); got != want {
		t.Errorf("error %v is %q; want %q", err, got, want)
	}
}

func hasMessage(t *testing.T, err error) {
	t.Helper()
	pe, ok := errors.AsType[*provider.Error](err)
	if !ok || pe.Code == "" || pe.Message == "" {
		t.Errorf("error %v: want the provider's code and message", err)
	}
}

func noKey(t *testing.T, h Harness, err error) {
	t.Helper()
	if h.Key != "" && strings.Contains(err.Error(), h.Key) {
		t.Errorf("an error shows the API key: %v", err)
	}
}
