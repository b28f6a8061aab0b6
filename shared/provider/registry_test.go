package provider_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/testkit/clocktest"
)

// fake is a provider whose answers the test decides.
type fake struct {
	name  string
	types []task.Type
	start func(ctx context.Context, req provider.Request) (provider.Response, error)
	poll  func(ctx context.Context, req provider.Request, job string) (provider.Response, error)
	calls atomic.Int64
}

func (f *fake) Name() string                                           { return f.name }
func (f *fake) TaskTypes() []task.Type                                 { return f.types }
func (f *fake) Cancel(context.Context, provider.Request, string) error { return nil }

func (f *fake) Start(ctx context.Context, req provider.Request) (provider.Response, error) {
	f.calls.Add(1)
	if f.start != nil {
		return f.start(ctx, req)
	}
	return provider.Response{Result: &provider.Result{Text: f.name}}, nil
}

func (f *fake) Poll(ctx context.Context, req provider.Request, job string) (provider.Response, error) {
	f.calls.Add(1)
	if f.poll != nil {
		return f.poll(ctx, req, job)
	}
	return provider.Response{Result: &provider.Result{}}, nil
}

// observed is one ObserveProviderCall.
type observed struct {
	provider, op, kind string
	d                  time.Duration
}

type recorder struct {
	mu    sync.Mutex
	calls []observed
}

func (r *recorder) ObserveProviderCall(p, op string, d time.Duration, kind string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, observed{p, op, kind, d})
}

func (r *recorder) all() []observed {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]observed(nil), r.calls...)
}

// bundle is what setup returns besides the registry.
type bundle struct {
	clock *clocktest.Fake
	fakes map[string]*fake
	obs   *recorder
}

const img = task.TypeImageGeneration

// setup builds a registry over fakes named by cfgs (type "fake"), with a
// breaker of 3 failures and 10 s.
func setup(t *testing.T, cfgs ...config.Provider) (*provider.Registry, *bundle) {
	t.Helper()
	b := &bundle{clock: clocktest.NewFake(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)), fakes: map[string]*fake{}, obs: &recorder{}}
	factories := map[string]provider.Factory{"fake": func(cfg config.Provider) (provider.Provider, error) {
		f := &fake{name: cfg.Name, types: task.Types}
		b.fakes[cfg.Name] = f
		return f, nil
	}}
	for i := range cfgs {
		cfgs[i].Type = "fake"
		if cfgs[i].TaskTypes == nil {
			cfgs[i].TaskTypes = []task.Type{img}
		}
	}
	r, err := provider.New(cfgs, factories, provider.Options{
		Now: b.clock.Now, BreakerThreshold: 3, BreakerCooldown: 10 * time.Second, Observer: b.obs,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r, b
}

func prov(name string, weight float64) config.Provider {
	return config.Provider{Name: name, Weight: weight}
}

func req(id string) provider.Request {
	return provider.Request{TaskID: id, Type: img, Attempt: 1}
}

var errDown = provider.NewTransient("server_error", "503 from upstream", nil)

func failing(context.Context, provider.Request) (provider.Response, error) {
	return provider.Response{}, errDown
}

func mustChoose(t *testing.T, r *provider.Registry, id string, exclude ...string) string {
	t.Helper()
	name, err := r.Choose(img, id, "", exclude, nil)
	if err != nil {
		t.Fatalf("Choose(%s, %v): %v", id, exclude, err)
	}
	return name
}

func TestNewNamesBadFields(t *testing.T) {
	t.Parallel()
	factories := map[string]provider.Factory{
		"opts": func(cfg config.Provider) (provider.Provider, error) {
			return nil, errors.Join(
				&provider.OptionError{Field: "fail_rate", Message: "must be between 0 and 1"},
				fmt.Errorf("read options: %w", &provider.OptionError{Field: "seed", Message: "must be an integer"}))
		},
		"broken": func(cfg config.Provider) (provider.Provider, error) { return nil, errors.New("no key") },
		"liar": func(cfg config.Provider) (provider.Provider, error) {
			return &fake{name: "someone-else", types: task.Types}, nil
		},
		"images": func(cfg config.Provider) (provider.Provider, error) {
			return &fake{name: cfg.Name, types: []task.Type{img}}, nil
		},
	}
	cfgs := []config.Provider{
		{Name: "ok", Type: "images", TaskTypes: []task.Type{img}, Weight: 1},
		{Name: "x", Type: "nope", TaskTypes: []task.Type{img}, Weight: 1},
		{Name: "y", Type: "opts", TaskTypes: []task.Type{img}, Weight: 1},
		{Name: "z", Type: "broken", TaskTypes: []task.Type{img}, Weight: 1},
		{Name: "w", Type: "liar", TaskTypes: []task.Type{img}, Weight: 1},
		{Name: "v", Type: "images", TaskTypes: []task.Type{img, task.TypeVideoGeneration}, Weight: 1},
		{Name: "ok", Type: "images", TaskTypes: []task.Type{img}, Weight: -1},
	}
	_, err := provider.New(cfgs, factories, provider.Options{})
	var errs config.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("New: %v, want config.Errors", err)
	}
	want := []string{
		`providers[1].type: unknown provider type "nope" (known: broken, images, liar, opts)`,
		"providers[2].options.fail_rate: must be between 0 and 1",
		"providers[2].options.seed: must be an integer",
		"providers[3]: no key",
		`providers[4].name: the "liar" factory built a provider named "someone-else"`,
		`providers[5].task_types[1]: a "images" provider does not serve video_generation`,
		`providers[6].name: "ok" names two providers`,
		"providers[6].weight: must be 0 or more, not -1",
	}
	if len(errs) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(want), err)
	}
	for i, w := range want {
		if errs[i].Error() != w {
			t.Errorf("error %d = %q, want %q", i, errs[i].Error(), w)
		}
	}
}

func TestChooseFollowsWeights(t *testing.T) {
	t.Parallel()
	r, _ := setup(t, prov("a", 1), prov("b", 3), prov("c", 6), prov("standby", 0))
	const n = 20000
	got := map[string]int{}
	for i := range n {
		got[mustChoose(t, r, fmt.Sprintf("task-%d", i))]++
	}
	for name, share := range map[string]float64{"a": 0.1, "b": 0.3, "c": 0.6, "standby": 0} {
		if f := float64(got[name]) / n; math.Abs(f-share) > 0.02 {
			t.Errorf("%s chosen for %.3f of tasks, want about %.2f (%v)", name, f, share, got)
		}
	}
	// A weight-0 provider is a standby: taken once the others are tried.
	if name := mustChoose(t, r, "task-1", "a", "b", "c"); name != "standby" {
		t.Errorf("with the others tried, chose %q, want standby", name)
	}
}

func TestChooseIsDeterministicPerStep(t *testing.T) {
	t.Parallel()
	r, _ := setup(t, prov("a", 1), prov("b", 1), prov("c", 1))
	differs := false
	for i := range 200 {
		id := fmt.Sprintf("t%d", i)
		first := mustChoose(t, r, id)
		for range 3 {
			if again := mustChoose(t, r, id); again != first {
				t.Fatalf("%s: chose %s then %s with health unchanged", id, first, again)
			}
		}
		second := mustChoose(t, r, id, first)
		if second == first {
			t.Fatalf("%s: failover chose the tried provider %s again", id, first)
		}
		if mustChoose(t, r, id, "zzz") != first {
			differs = true // the try number is part of the hash
		}
	}
	if !differs {
		t.Error("the choice never depends on len(exclude)")
	}
}

func TestBreakerOpensProbesAndCloses(t *testing.T) {
	t.Parallel()
	r, b := setup(t, prov("a", 1))
	ctx := t.Context()
	b.fakes["a"].start = failing
	for i := range 3 {
		if _, err := r.Start(ctx, "a", req("t")); provider.KindOf(err) != provider.Transient {
			t.Fatalf("call %d: %v, want transient", i, err)
		}
	}
	if h := r.ProviderHealth()["a"]; h.Status != "down" || h.Detail.Breaker != "open" || h.Detail.ConsecutiveFailures != 3 {
		t.Fatalf("after 3 failures: %+v", h)
	}
	calls := b.fakes["a"].calls.Load()
	_, err := r.Start(ctx, "a", req("t"))
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Kind != provider.Throttled || pe.Code != "breaker_open" || pe.RetryAfter != 10*time.Second {
		t.Fatalf("Start on an open breaker: %v", err)
	}
	if b.fakes["a"].calls.Load() != calls {
		t.Fatal("an open breaker let a call through")
	}
	if _, err := r.Choose(img, "t", "", nil, nil); provider.RetryAfterOf(err) != 10*time.Second || provider.KindOf(err) != provider.Throttled {
		t.Fatalf("Choose with the only provider open: %v", err)
	}

	b.clock.Add(4 * time.Second)
	if _, err := r.Choose(img, "t", "", nil, nil); provider.RetryAfterOf(err) != 6*time.Second {
		t.Fatalf("Choose 4 s later: %v, want retry after 6 s", err)
	}
	b.clock.Add(6 * time.Second)
	if h := r.ProviderHealth()["a"]; h.Status != "degraded" || h.Detail.Breaker != "half_open" {
		t.Fatalf("after the cool-down: %+v", h)
	}

	// One probe at a time: a second Start while the probe is out is refused.
	release := make(chan struct{})
	entered := make(chan struct{})
	b.fakes["a"].start = func(context.Context, provider.Request) (provider.Response, error) {
		close(entered)
		<-release
		return provider.Response{}, errDown
	}
	done := make(chan error)
	go func() { _, err := r.Start(ctx, "a", req("probe")); done <- err }()
	<-entered
	if _, err := r.Start(ctx, "a", req("other")); provider.KindOf(err) != provider.Throttled {
		t.Fatalf("second Start during the probe: %v, want throttled", err)
	}
	if _, err := r.Choose(img, "t", "", nil, nil); provider.KindOf(err) != provider.Throttled {
		t.Fatalf("Choose during the probe: %v, want throttled", err)
	}
	close(release)
	if err := <-done; provider.KindOf(err) != provider.Transient {
		t.Fatalf("probe: %v", err)
	}
	if h := r.ProviderHealth()["a"]; h.Status != "down" || h.Detail.ProbeAfterSeconds != 10 {
		t.Fatalf("after a failed probe: %+v, want open for a full cool-down", h)
	}

	b.clock.Add(10 * time.Second)
	b.fakes["a"].start = nil
	if _, err := r.Start(ctx, "a", req("probe2")); err != nil {
		t.Fatalf("second probe: %v", err)
	}
	if h := r.ProviderHealth()["a"]; h.Status != "up" || h.Detail.ConsecutiveFailures != 0 {
		t.Fatalf("after a good probe: %+v", h)
	}
}

func TestBreakerIgnoresRequestFaultsAndCancels(t *testing.T) {
	t.Parallel()
	r, b := setup(t, prov("a", 1))
	ctx := t.Context()
	b.fakes["a"].start = func(ctx context.Context, req provider.Request) (provider.Response, error) {
		if req.TaskID == "cancel" {
			return provider.Response{}, fmt.Errorf("upload: %w", context.Canceled)
		}
		return provider.Response{}, provider.NewRejected("content_policy_violation", "refused by the safety system", nil)
	}
	for i := range 10 {
		id := "bad"
		if i%2 == 1 {
			id = "cancel"
		}
		_, err := r.Start(ctx, "a", req(id))
		want := provider.Permanent
		if id == "cancel" {
			want = provider.Canceled
		}
		if provider.KindOf(err) != want {
			t.Fatalf("%s: %v, want %s", id, err, want)
		}
	}
	if h := r.ProviderHealth()["a"]; h.Status != "up" || h.Detail.ConsecutiveFailures != 0 {
		t.Fatalf("health after request faults and cancels: %+v", h)
	}
	// A permanent fault of the provider (say, a revoked key) does count.
	b.fakes["a"].start = func(context.Context, provider.Request) (provider.Response, error) {
		return provider.Response{}, provider.NewPermanent("invalid_api_key", "401", nil)
	}
	for range 3 {
		_, _ = r.Start(ctx, "a", req("t"))
	}
	if h := r.ProviderHealth()["a"]; h.Status != "down" {
		t.Fatalf("after 3 provider faults: %+v", h)
	}
}

func TestFailoverOrdersByHealth(t *testing.T) {
	t.Parallel()
	// Heavy weights on the sick providers: health must beat weight.
	r, b := setup(t, prov("open", 100), prov("halfopen", 100), prov("ok", 1))
	ctx := t.Context()
	b.fakes["open"].start = failing
	b.fakes["halfopen"].start = failing
	for range 3 {
		_, _ = r.Start(ctx, "halfopen", req("t"))
	}
	b.clock.Add(10 * time.Second) // halfopen's cool-down ends
	for range 3 {
		_, _ = r.Start(ctx, "open", req("t"))
	}
	for i := range 50 {
		id := fmt.Sprint(i)
		if got := mustChoose(t, r, id); got != "ok" {
			t.Fatalf("first choice %s, want the closed provider", got)
		}
		if got := mustChoose(t, r, id, "ok"); got != "halfopen" {
			t.Fatalf("second choice %s, want the half-open one", got)
		}
		_, err := r.Choose(img, id, "", []string{"ok", "halfopen"}, nil)
		if provider.KindOf(err) != provider.Throttled || provider.RetryAfterOf(err) != 10*time.Second {
			t.Fatalf("third choice: %v, want throttled for 10 s", err)
		}
		_, err = r.Choose(img, id, "", []string{"ok", "halfopen", "open"}, nil)
		if !errors.Is(err, provider.ErrNoProvider) || provider.KindOf(err) != provider.Permanent {
			t.Fatalf("all tried: %v, want ErrNoProvider", err)
		}
	}
	if _, err := r.Choose(task.TypeVideoGeneration, "t", "", nil, nil); !errors.Is(err, provider.ErrNoProvider) {
		t.Fatalf("no provider of the type: %v", err)
	}
}

func TestPinned(t *testing.T) {
	t.Parallel()
	r, b := setup(t, prov("a", 1), prov("b", 1), config.Provider{Name: "v", Weight: 1, TaskTypes: []task.Type{task.TypeVideoGeneration}})
	for i := range 20 {
		if got, err := r.Choose(img, fmt.Sprint(i), "b", nil, nil); err != nil || got != "b" {
			t.Fatalf("pinned b: %q, %v", got, err)
		}
	}
	tests := map[string]struct {
		pinned  string
		exclude []string
		code    string
		noProv  bool
	}{
		"unknown":      {pinned: "zzz", code: "unknown_provider"},
		"wrong type":   {pinned: "v", code: "unsupported_task_type"},
		"already used": {pinned: "b", exclude: []string{"b"}, noProv: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := r.Choose(img, "t", tc.pinned, tc.exclude, nil)
			if provider.KindOf(err) != provider.Permanent || provider.ErrorName(err) != "Provider.Permanent" {
				t.Fatalf("%v, want permanent", err)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.pinned)) {
				t.Errorf("%v does not name %q", err, tc.pinned)
			}
			if pe, _ := errors.AsType[*provider.Error](err); !tc.noProv && pe.Code != tc.code {
				t.Errorf("code %q, want %q", pe.Code, tc.code)
			}
			if errors.Is(err, provider.ErrNoProvider) != tc.noProv {
				t.Errorf("errors.Is(ErrNoProvider) = %v", !tc.noProv)
			}
		})
	}
	// Throttling does not move a pinned task; an open breaker makes it wait.
	b.fakes["b"].start = func(context.Context, provider.Request) (provider.Response, error) {
		return provider.Response{}, provider.NewThrottled("rate_limit_exceeded", "429", 5*time.Second, nil)
	}
	_, _ = r.Start(t.Context(), "b", req("t"))
	if got, err := r.Choose(img, "t", "b", nil, nil); got != "b" || err != nil {
		t.Fatalf("pinned to a throttled provider: %q, %v", got, err)
	}
	_, _ = r.Start(t.Context(), "b", req("t"))
	_, _ = r.Start(t.Context(), "b", req("t"))
	if _, err := r.Choose(img, "t", "b", nil, nil); provider.KindOf(err) != provider.Throttled || provider.RetryAfterOf(err) != 10*time.Second {
		t.Fatalf("pinned to an open breaker: %v", err)
	}
}

func TestThrottledRetryAfter(t *testing.T) {
	t.Parallel()
	r, b := setup(t, prov("a", 1000), prov("b", 1))
	b.fakes["a"].start = func(context.Context, provider.Request) (provider.Response, error) {
		return provider.Response{}, provider.NewThrottled("rate_limit_exceeded", "429", 5*time.Second, nil)
	}
	if got := mustChoose(t, r, "t"); got != "a" {
		t.Fatalf("chose %s, want the heavy a", got)
	}
	_, err := r.Start(t.Context(), "a", req("t"))
	if provider.KindOf(err) != provider.Throttled || provider.RetryAfterOf(err) != 5*time.Second || provider.ErrorName(err) != "Provider.Throttled" {
		t.Fatalf("Start: %v", err)
	}
	if got := mustChoose(t, r, "t"); got != "b" {
		t.Fatalf("during the throttle chose %s, want b", got)
	}
	if h := r.ProviderHealth()["a"]; h.Detail.ThrottledForSeconds != 5 {
		t.Fatalf("health: %+v", h.Detail)
	}
	b.clock.Add(3 * time.Second)
	if _, err := r.Choose(img, "t", "", []string{"b"}, nil); provider.RetryAfterOf(err) != 2*time.Second {
		t.Fatalf("only the throttled one left: %v, want retry after 2 s", err)
	}
	b.clock.Add(2 * time.Second)
	if got := mustChoose(t, r, "t"); got != "a" {
		t.Fatalf("after the throttle chose %s, want a", got)
	}
}

func TestMaxConcurrency(t *testing.T) {
	t.Parallel()
	r, b := setup(t, config.Provider{Name: "a", Weight: 1, MaxConcurrency: 3})
	var now, peak atomic.Int64
	b.fakes["a"].start = func(ctx context.Context, req provider.Request) (provider.Response, error) {
		n := now.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(time.Millisecond)
		now.Add(-1)
		return provider.Response{Job: "j"}, nil
	}
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			if _, err := r.Start(t.Context(), "a", req(fmt.Sprint(i))); err != nil {
				t.Errorf("Start: %v", err)
			}
		})
	}
	wg.Wait()
	if p := peak.Load(); p > 3 || p < 1 {
		t.Fatalf("peak concurrent calls %d, want 1 to 3", p)
	}

	// A caller waiting for a slot gives up with its context.
	hold := make(chan struct{})
	var entered sync.WaitGroup
	entered.Add(3)
	b.fakes["a"].start = func(context.Context, provider.Request) (provider.Response, error) {
		entered.Done()
		<-hold
		return provider.Response{Job: "j"}, nil
	}
	for range 3 {
		wg.Go(func() { _, _ = r.Start(t.Context(), "a", req("hold")) })
	}
	entered.Wait()
	if h := r.ProviderHealth()["a"]; h.Detail.InFlight != 3 || h.Detail.MaxConcurrency != 3 {
		t.Fatalf("health with 3 in flight: %+v", h.Detail)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_, err := r.Start(ctx, "a", req("late"))
	if !errors.Is(err, context.DeadlineExceeded) || provider.KindOf(err) != provider.Transient {
		t.Fatalf("Start with no free slot: %v", err)
	}
	ctx, cancel = context.WithCancel(t.Context())
	cancel()
	if _, err := r.Start(ctx, "a", req("late")); provider.KindOf(err) != provider.Canceled {
		t.Fatalf("canceled while waiting: %v", err)
	}
	close(hold)
	wg.Wait()
}

func TestObserverAndLatency(t *testing.T) {
	t.Parallel()
	r, b := setup(t, prov("a", 1))
	ctx := t.Context()
	i := 0
	b.fakes["a"].start = func(context.Context, provider.Request) (provider.Response, error) {
		i++
		b.clock.Add(time.Duration(i) * time.Millisecond) // the call "takes" i ms
		if i == 100 {
			return provider.Response{}, errDown
		}
		return provider.Response{Job: "job-1", PollAfter: time.Second, Progress: 0.1}, nil
	}
	for range 100 {
		_, _ = r.Start(ctx, "a", req("t"))
	}
	b.fakes["a"].poll = func(context.Context, provider.Request, string) (provider.Response, error) {
		return provider.Response{Progress: 0.5}, nil // pending, handle unchanged
	}
	resp, err := r.Poll(ctx, "a", req("t"), "job-1")
	if err != nil || resp.Job != "job-1" || resp.Done() || resp.Progress != 0.5 {
		t.Fatalf("Poll: %+v, %v", resp, err)
	}
	if err := r.Cancel(ctx, "a", req("t"), "job-1"); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	calls := b.obs.all()
	if len(calls) != 102 {
		t.Fatalf("%d observed calls, want 102", len(calls))
	}
	if c := calls[0]; c != (observed{"a", "start", "", time.Millisecond}) {
		t.Errorf("first call observed as %+v", c)
	}
	if c := calls[99]; c.kind != "transient" || c.d != 100*time.Millisecond {
		t.Errorf("failed call observed as %+v", c)
	}
	if c := calls[100]; c.op != "poll" || c.kind != "" {
		t.Errorf("poll observed as %+v", c)
	}
	if c := calls[101]; c.op != "cancel" {
		t.Errorf("cancel observed as %+v", c)
	}
	d := r.ProviderHealth()["a"].Detail
	// Samples: 1 to 100 ms and two of 0 ms (poll, cancel): nearest rank.
	if d.LatencyP50Ms != 49 || d.LatencyP95Ms != 95 || d.LatencySamples != 102 {
		t.Errorf("latency p50 %v p95 %v over %d", d.LatencyP50Ms, d.LatencyP95Ms, d.LatencySamples)
	}
	if d.Type != "fake" || d.Weight != 1 || len(d.TaskTypes) != 1 {
		t.Errorf("detail %+v", d)
	}
}

func TestResponsesAreChecked(t *testing.T) {
	t.Parallel()
	r, b := setup(t, prov("a", 1))
	b.fakes["a"].start = func(context.Context, provider.Request) (provider.Response, error) {
		return provider.Response{}, nil
	}
	if _, err := r.Start(t.Context(), "a", req("t")); provider.KindOf(err) != provider.Transient {
		t.Fatalf("empty response: %v, want transient", err)
	}
	if _, err := r.Start(t.Context(), "a", provider.Request{TaskID: "t", Type: task.TypeVideoGeneration}); provider.KindOf(err) != provider.Permanent {
		t.Fatalf("a type the provider does not serve: %v", err)
	}
	if _, err := r.Poll(t.Context(), "nobody", req("t"), "j"); provider.KindOf(err) != provider.Permanent {
		t.Fatalf("poll of an unknown provider: %v", err)
	}
	if got := r.Names(img); len(got) != 1 || got[0] != "a" {
		t.Errorf("Names = %v", got)
	}
	if !r.Serves("a", img) || r.Serves("a", task.TypeVideoGeneration) || r.Serves("b", img) {
		t.Error("Serves is wrong")
	}
}

// picky is a provider that takes images of one size only.
type picky struct {
	fake
	size string
}

func (p *picky) CheckInput(prefix string, in task.Input) task.FieldErrors {
	if img, ok := in.(*task.ImageInput); ok && img.Size != p.size {
		return task.FieldErrors{{Field: task.FieldPath(prefix, "size"), Message: "takes " + p.size + " only"}}
	}
	return nil
}

// A provider that cannot carry out an input is never chosen for it; a
// pinned one's refusal names the field, and so does every provider's when
// none can.
func TestInputsGoOnlyToProvidersThatCanDoThem(t *testing.T) {
	t.Parallel()
	built := map[string]provider.Provider{
		"small": &picky{fake: fake{name: "small", types: []task.Type{img}}, size: "256x256"},
		"large": &picky{fake: fake{name: "large", types: []task.Type{img}}, size: "1024x1024"},
	}
	factories := map[string]provider.Factory{"picky": func(c config.Provider) (provider.Provider, error) { return built[c.Name], nil }}
	r, err := provider.New([]config.Provider{
		{Name: "small", Type: "picky", TaskTypes: []task.Type{img}, Weight: 1},
		{Name: "large", Type: "picky", TaskTypes: []task.Type{img}, Weight: 1},
	}, factories, provider.Options{})
	if err != nil {
		t.Fatal(err)
	}
	large := &task.ImageInput{Prompt: "x", Size: "1024x1024"}
	for i := range 50 {
		if name, err := r.Choose(img, fmt.Sprintf("t%d", i), "", nil, large); err != nil || name != "large" {
			t.Fatalf("Choose for a 1024x1024 image: %q, %v; want large every time", name, err)
		}
	}
	if errs := r.CheckInput("input_data", large); len(errs) != 0 {
		t.Errorf("unpinned, one provider can: %v", errs)
	}
	pinned := &task.ImageInput{Prompt: "x", Size: "1024x1024", CommonInput: task.CommonInput{Provider: "small"}}
	if errs := r.CheckInput("input_data", pinned); len(errs) != 1 || errs[0].Field != "input_data.size" {
		t.Errorf("pinned to a provider that cannot: %v; want input_data.size named", errs)
	}
	odd := &task.ImageInput{Prompt: "x", Size: "512x512"}
	errs := r.CheckInput("input_data", odd)
	if len(errs) != 1 || errs[0].Field != "input_data.size" || !strings.Contains(errs[0].Message, "small:") {
		t.Errorf("no provider can: %v; want the size named with the provider's word", errs)
	}
	if _, err := r.Choose(img, "t", "", nil, odd); !errors.Is(err, provider.ErrNoProvider) {
		t.Errorf("Choose when none can: %v; want ErrNoProvider", err)
	}
}

// requests_per_minute holds across every caller: past the budget a call
// is refused as Throttled, with when the next is due, and never reaches
// the provider; the provider's own 429 halves the pace.
func TestRequestsPerMinuteArePaced(t *testing.T) {
	t.Parallel()
	clock := clocktest.NewFake(time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC))
	throttle := atomic.Bool{}
	f := &fake{name: "paced", types: []task.Type{img}}
	f.start = func(context.Context, provider.Request) (provider.Response, error) {
		if throttle.Load() {
			return provider.Response{}, provider.NewThrottled("rate_limit_exceeded", "slow down", 0, nil)
		}
		return provider.Response{Result: &provider.Result{}}, nil
	}
	rates := provider.NewLocalRates(map[string]int{"paced": 60})
	r, err := provider.New([]config.Provider{{Name: "paced", Type: "fake", TaskTypes: []task.Type{img}, Weight: 1, RequestsPerMinute: 60}},
		map[string]provider.Factory{"fake": func(config.Provider) (provider.Provider, error) { return f, nil }},
		provider.Options{Now: clock.Now, Rates: rates, BreakerThreshold: 1000, PaceWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	req := provider.Request{TaskID: "t", Type: img}
	// 60 a minute: a burst of 6, then one a second.
	for i := range 6 {
		if _, err := r.Start(t.Context(), "paced", req); err != nil {
			t.Fatalf("call %d within the burst: %v", i+1, err)
		}
	}
	_, err = r.Start(t.Context(), "paced", req)
	if provider.KindOf(err) != provider.Throttled || provider.RetryAfterOf(err) <= 0 || provider.RetryAfterOf(err) > time.Second {
		t.Fatalf("the 7th call at once: %v; want throttled for up to 1s", err)
	}
	if n := f.calls.Load(); n != 6 {
		t.Errorf("the provider saw %d calls; want 6: a paced call must not reach it", n)
	}
	clock.Add(time.Second)
	if _, err := r.Start(t.Context(), "paced", req); err != nil {
		t.Errorf("a call a second later: %v", err)
	}
	throttle.Store(true)
	clock.Add(time.Second)
	if _, err := r.Start(t.Context(), "paced", req); provider.KindOf(err) != provider.Throttled {
		t.Fatalf("the provider's 429: %v", err)
	}
	if got := rates.Limit("paced"); got != 30 {
		t.Errorf("after a 429 the pace is %v a minute; want halved to 30", got)
	}
}

// A call over requests_per_minute waits its turn (off the engine's
// workers) and goes through, unless its turn is further off than the pace
// wait, when it is refused as throttled.
func TestAPacedCallWaitsItsTurn(t *testing.T) {
	t.Parallel()
	f := &fake{name: "paced", types: []task.Type{img}}
	f.start = func(context.Context, provider.Request) (provider.Response, error) {
		return provider.Response{Result: &provider.Result{}}, nil
	}
	build := func(wait time.Duration) *provider.Registry {
		r, err := provider.New([]config.Provider{{Name: "paced", Type: "fake", TaskTypes: []task.Type{img}, Weight: 1, RequestsPerMinute: 600}},
			map[string]provider.Factory{"fake": func(config.Provider) (provider.Provider, error) { return f, nil }},
			provider.Options{PaceWait: wait})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	req := provider.Request{TaskID: "t", Type: img}
	r := build(0)
	for i := range 61 { // a burst of 60, then one every 100 ms
		if _, err := r.Start(t.Context(), "paced", req); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
	r = build(time.Millisecond)
	for range 60 {
		_, _ = r.Start(t.Context(), "paced", req)
	}
	if _, err := r.Start(t.Context(), "paced", req); provider.KindOf(err) != provider.Throttled {
		t.Errorf("a call whose turn is past the pace wait: %v, want throttled", err)
	}
}
