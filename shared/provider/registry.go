package provider

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/task"
)

// Factory builds a provider of one type from its configuration. A bad
// option is reported as an *OptionError (or several, joined with
// errors.Join) so that the registry can name it.
type Factory func(cfg config.Provider) (Provider, error)

// Observer receives every call the registry makes to a provider; the app
// turns them into metrics.
type Observer interface {
	// ObserveProviderCall reports one call: operation is "start", "poll" or
	// "cancel"; errKind is "" on success, else "transient", "throttled",
	// "permanent" or "canceled".
	ObserveProviderCall(provider, operation string, d time.Duration, errKind string)
}

// Defaults of Options.
const (
	DefaultBreakerThreshold = 5
	DefaultBreakerCooldown  = 30 * time.Second
)

// Options tune a Registry; zero values take the defaults.
type Options struct {
	Now              func() time.Time // time.Now by default; tests inject clocktest.Fake.Now
	BreakerThreshold int              // consecutive failures that open a breaker (default 5)
	BreakerCooldown  time.Duration    // how long an open breaker refuses new work (default 30 s)
	Observer         Observer         // may be nil
	Log              *slog.Logger     // may be nil
	// Rates paces calls to each provider's requests_per_minute (default:
	// LocalRates of the configured ones).
	Rates Rates
	// PaceWait is how long a call waits for its provider's pacing before
	// it is refused as throttled (default DefaultPaceWait; negative: it is
	// refused at once). Calls run off the engine's workers, so a wait
	// holds no worker; a refusal would spend the workflow's retries.
	PaceWait time.Duration
}

// DefaultPaceWait is how long a call waits its turn under
// requests_per_minute by default.
const DefaultPaceWait = 30 * time.Second

// Operations as the Observer names them.
const (
	OpStart  = "start"
	OpPoll   = "poll"
	OpCancel = "cancel"
)

// busyRetry is the wait suggested when the only way forward is a
// half-open probe that is already out: its outcome is due soon.
const busyRetry = time.Second

// Registry holds the configured providers: it chooses one for a task,
// makes the calls under each provider's concurrency cap and breaker, and
// reports their health. It is safe for concurrent use.
type Registry struct {
	now     func() time.Time
	obs     Observer
	log     *slog.Logger
	entries []*entry // in configuration order, which breaks ties
	byName  map[string]*entry
	rates   Rates
	// paceWait bounds a call's wait for its turn (see Options.PaceWait).
	paceWait time.Duration
}

// entry is one provider and its guards.
type entry struct {
	name      string
	typ       string
	taskTypes []task.Type
	weight    float64
	maxConc   int
	p         Provider
	slots     chan struct{} // nil when there is no cap

	mu             sync.Mutex
	br             breaker
	throttledUntil time.Time
	inFlight       int
	lat            latencies
}

// New builds every configured provider with the factory of its type. The
// error is a config.Errors naming each bad field by its place in cfgs,
// e.g. "providers[2].options.fail_rate: must be between 0 and 1".
func New(cfgs []config.Provider, factories map[string]Factory, opts Options) (*Registry, error) {
	r := &Registry{now: opts.Now, obs: opts.Observer, log: opts.Log, byName: make(map[string]*entry, len(cfgs))}
	if r.now == nil {
		r.now = time.Now
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	threshold, cooldown := opts.BreakerThreshold, opts.BreakerCooldown
	if threshold <= 0 {
		threshold = DefaultBreakerThreshold
	}
	if cooldown <= 0 {
		cooldown = DefaultBreakerCooldown
	}

	var errs config.Errors
	bad := func(path, format string, args ...any) {
		errs = append(errs, &config.FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	for i, cfg := range cfgs {
		path := fmt.Sprintf("providers[%d]", i)
		n := len(errs)
		if cfg.Name == "" {
			bad(path+".name", "is required")
		} else if _, dup := r.byName[cfg.Name]; dup {
			bad(path+".name", "%q names two providers", cfg.Name)
		}
		if len(cfg.TaskTypes) == 0 {
			bad(path+".task_types", "must list at least one task type")
		}
		for j, tp := range cfg.TaskTypes {
			if !tp.Valid() {
				bad(fmt.Sprintf("%s.task_types[%d]", path, j), "unknown task type %q", tp)
			}
		}
		if cfg.Weight < 0 || math.IsNaN(cfg.Weight) || math.IsInf(cfg.Weight, 0) {
			bad(path+".weight", "must be 0 or more, not %v", cfg.Weight)
		}
		if cfg.MaxConcurrency < 0 {
			bad(path+".max_concurrency", "must be 0 (no cap) or more, not %d", cfg.MaxConcurrency)
		}
		factory, ok := factories[cfg.Type]
		if !ok {
			bad(path+".type", "unknown provider type %q (known: %s)", cfg.Type, knownTypes(factories))
			continue
		}
		if len(errs) > n {
			continue
		}
		p, err := factory(cfg)
		if err != nil {
			errs = append(errs, factoryErrors(path, err)...)
			continue
		}
		if p.Name() != cfg.Name {
			bad(path+".name", "the %q factory built a provider named %q", cfg.Type, p.Name())
			continue
		}
		served := p.TaskTypes()
		for j, tp := range cfg.TaskTypes {
			if !slices.Contains(served, tp) {
				bad(fmt.Sprintf("%s.task_types[%d]", path, j), "a %q provider does not serve %s", cfg.Type, tp)
			}
		}
		if len(errs) > n {
			continue
		}
		e := &entry{
			name: cfg.Name, typ: cfg.Type, taskTypes: slices.Clone(cfg.TaskTypes), weight: cfg.Weight,
			maxConc: cfg.MaxConcurrency, p: p, br: breaker{threshold: threshold, cooldown: cooldown},
		}
		if cfg.MaxConcurrency > 0 {
			e.slots = make(chan struct{}, cfg.MaxConcurrency)
		}
		r.entries = append(r.entries, e)
		r.byName[e.name] = e
	}
	if len(errs) > 0 {
		return nil, errs
	}
	r.rates = opts.Rates
	switch {
	case opts.PaceWait == 0:
		r.paceWait = DefaultPaceWait
	case opts.PaceWait > 0:
		r.paceWait = opts.PaceWait
	}
	if r.rates == nil {
		perMinute := map[string]int{}
		for _, cfg := range cfgs {
			perMinute[cfg.Name] = cfg.RequestsPerMinute
		}
		r.rates = NewLocalRates(perMinute)
	}
	return r, nil
}

func knownTypes(factories map[string]Factory) string {
	names := make([]string, 0, len(factories))
	for n := range factories {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// factoryErrors names a factory's complaints under path: each
// *OptionError it holds (through wrapping and errors.Join) under
// path.options, or else the whole error under path.
func factoryErrors(path string, err error) config.Errors {
	var out config.Errors
	for _, oe := range optionErrors(err) {
		p := path + ".options"
		if oe.Field != "" {
			p += "." + oe.Field
		}
		out = append(out, &config.FieldError{Path: p, Message: oe.Message})
	}
	if len(out) == 0 {
		out = append(out, &config.FieldError{Path: path, Message: err.Error()})
	}
	return out
}

func optionErrors(err error) []*OptionError {
	switch e := err.(type) {
	case *OptionError:
		return []*OptionError{e}
	case interface{ Unwrap() []error }:
		var out []*OptionError
		for _, inner := range e.Unwrap() {
			out = append(out, optionErrors(inner)...)
		}
		return out
	case interface{ Unwrap() error }:
		return optionErrors(e.Unwrap())
	}
	return nil
}

// Names lists the providers that serve taskType, in configuration order.
func (r *Registry) Names(taskType task.Type) []string {
	var out []string
	for _, e := range r.entries {
		if e.serves(taskType) {
			out = append(out, e.name)
		}
	}
	return out
}

// Provider is the provider called name.
func (r *Registry) Provider(name string) (Provider, bool) {
	e, ok := r.byName[name]
	if !ok {
		return nil, false
	}
	return e.p, true
}

// Simulated reports whether the provider called name invents its results.
func (r *Registry) Simulated(name string) bool {
	e, ok := r.byName[name]
	return ok && isSimulated(e.p)
}

// Serves reports whether the provider called name serves taskType.
func (r *Registry) Serves(name string, taskType task.Type) bool {
	e, ok := r.byName[name]
	return ok && e.serves(taskType)
}

func (e *entry) serves(t task.Type) bool { return slices.Contains(e.taskTypes, t) }

// CheckInput names the fields of in that no provider able to run the
// task can carry out: the pinned provider's complaints when the input
// pins one, else nothing when any provider of the type takes the input,
// and the first one's complaints when none does.
func (r *Registry) CheckInput(prefix string, in task.Input) task.FieldErrors {
	if name := in.Common().Provider; name != "" {
		e, ok := r.byName[name]
		if !ok || !e.serves(in.Type()) {
			return nil // CheckSubmit names the provider
		}
		return e.refuses(prefix, in)
	}
	var first task.FieldErrors
	for _, e := range r.entries {
		if !e.serves(in.Type()) {
			continue
		}
		errs := e.refuses(prefix, in)
		if len(errs) == 0 {
			return nil
		}
		if first == nil {
			first = errs
			for i := range first {
				first[i].Message = e.name + ": " + first[i].Message
			}
		}
	}
	return first
}

// refuses is the provider's complaints about in, if it checks inputs.
func (e *entry) refuses(prefix string, in task.Input) task.FieldErrors {
	c, ok := e.p.(Checker)
	if !ok || in == nil {
		return nil
	}
	return c.CheckInput(prefix, in)
}

// lookup finds a provider by name for a task of type t.
func (r *Registry) lookup(name string, t task.Type) (*entry, error) {
	e, ok := r.byName[name]
	if !ok {
		return nil, NewRejected("unknown_provider", fmt.Sprintf("no provider is named %q", name), nil)
	}
	if t != "" && !e.serves(t) {
		return nil, NewRejected("unsupported_task_type",
			fmt.Sprintf("provider %q does not serve %s (it serves %s)", name, t, joinTypes(e.taskTypes)), nil)
	}
	return e, nil
}

func joinTypes(ts []task.Type) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// Health classes of a candidate, best first.
const (
	classClosed  = iota // breaker closed, not throttled
	classProbe          // half-open: one probe may go
	classWaiting        // open, probe out, or throttled: not before wait
	classCount
)

// class places e at now; wait is how long until it can take work again
// (for classWaiting).
func (e *entry) class(now time.Time) (class int, wait time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	throttle := max(e.throttledUntil.Sub(now), 0)
	switch st := e.br.current(now); {
	case st == open:
		return classWaiting, max(e.br.reopensIn(now), throttle)
	case st == halfOpen && e.br.probing:
		return classWaiting, max(busyRetry, throttle)
	case throttle > 0:
		return classWaiting, throttle
	case st == halfOpen:
		return classProbe, 0
	}
	return classClosed, 0
}

// Choose picks the provider for a task's next call.
//
// A pinned provider is the only candidate: an unknown name or one that
// does not serve taskType is a permanent error, and once it is in exclude
// (tried) the answer is ErrNoProvider; it is not avoided for being
// throttled. Otherwise the candidates are the providers of taskType not in
// exclude; the best health class among them (closed breaker, then a
// half-open breaker that may take a probe) is chosen from by weight,
// deterministically from the task id and len(exclude), so that a retry of
// the same step picks the same provider while health is unchanged. When
// every candidate is open, busy probing or throttled, the answer is a
// Throttled error whose RetryAfter is when the first of them can take
// work; when none is left, ErrNoProvider.
//
// in, when not nil, is the task's input: a provider that refuses it
// (Checker) is no candidate, as if tried already.
func (r *Registry) Choose(taskType task.Type, taskID, pinned string, exclude []string, in task.Input) (string, error) {
	now := r.now()
	if pinned != "" {
		e, err := r.lookup(pinned, taskType)
		if err != nil {
			return "", fmt.Errorf("choose pinned provider: %w", err)
		}
		if slices.Contains(exclude, pinned) {
			return "", fmt.Errorf("pinned provider %q has failed and is not failed over from: %w", pinned, ErrNoProvider)
		}
		e.mu.Lock()
		ok, wait := e.br.canProbe(now), e.br.reopensIn(now)
		e.mu.Unlock()
		if !ok {
			return "", breakerOpen(pinned, waitOrBusy(wait))
		}
		return pinned, nil
	}

	var (
		byClass  [classCount][]*entry
		earliest time.Duration = -1
		served   int
	)
	for _, e := range r.entries {
		if !e.serves(taskType) {
			continue
		}
		served++
		if slices.Contains(exclude, e.name) || len(e.refuses("", in)) > 0 {
			continue
		}
		c, wait := e.class(now)
		byClass[c] = append(byClass[c], e)
		if c == classWaiting && (earliest < 0 || wait < earliest) {
			earliest = wait
		}
	}
	for c := range classWaiting {
		if len(byClass[c]) > 0 {
			return pick(byClass[c], taskID, len(exclude)).name, nil
		}
	}
	if len(byClass[classWaiting]) > 0 {
		return "", NewThrottled("providers_unavailable",
			fmt.Sprintf("every provider of %s left to try is open, probing or throttled", taskType), earliest, nil)
	}
	if served == 0 {
		return "", fmt.Errorf("choose a provider for %s: none is configured for it: %w", taskType, ErrNoProvider)
	}
	return "", fmt.Errorf("choose a provider for %s: all %d have been tried: %w", taskType, served, ErrNoProvider)
}

func breakerOpen(name string, wait time.Duration) *Error {
	return NewThrottled("breaker_open", fmt.Sprintf("provider %q is failing; its circuit breaker is open", name), wait, nil)
}

// pick chooses among cands by weight, from a hash of the task id and the
// try number. Providers of weight 0 are taken only when all are 0.
func pick(cands []*entry, taskID string, tries int) *entry {
	if len(cands) == 1 {
		return cands[0]
	}
	h := choiceHash(taskID, tries)
	var total float64
	for _, e := range cands {
		total += e.weight
	}
	if total <= 0 {
		return cands[h%uint64(len(cands))]
	}
	target := float64(h>>11) / (1 << 53) * total
	var last *entry
	for _, e := range cands {
		if e.weight <= 0 {
			continue
		}
		last = e
		if target < e.weight {
			return e
		}
		target -= e.weight
	}
	return last // rounding left target just past the end
}

// choiceHash is FNV-1a of the task id and the try number, mixed so that
// ids that differ in one character land far apart. It is stable across
// processes, so a step retried after a restart chooses alike.
func choiceHash(taskID string, tries int) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	for i := 0; i < len(taskID); i++ {
		h = (h ^ uint64(taskID[i])) * prime
	}
	h = (h ^ 0xff) * prime
	h = (h ^ uint64(tries)) * prime
	// splitmix64's finaliser.
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// Start begins req at the named provider. A provider whose breaker is open
// refuses new work with a Throttled error until its cool-down ends; then
// one call is let through as a probe.
func (r *Registry) Start(ctx context.Context, name string, req Request) (Response, error) {
	e, err := r.lookup(name, req.Type)
	if err != nil {
		return Response{}, fmt.Errorf("start task %s: %w", req.TaskID, err)
	}
	if err := r.paced(ctx, e, OpStart, req.TaskID); err != nil {
		return Response{}, err
	}
	now := r.now()
	e.mu.Lock()
	ok, probe := e.br.admit(now)
	wait := e.br.reopensIn(now)
	e.mu.Unlock()
	if !ok {
		return Response{}, fmt.Errorf("provider %s: start task %s: %w", name, req.TaskID, breakerOpen(name, waitOrBusy(wait)))
	}
	if probe {
		r.log.Info("provider breaker half-open: probing", "provider", name, "task_id", req.TaskID)
	}
	var resp Response
	err = r.call(ctx, e, OpStart, req.TaskID, probe, func(ctx context.Context) error {
		var err error
		resp, err = e.p.Start(ctx, req)
		if err == nil && resp.Result == nil && resp.Job == "" {
			err = NewTransient("bad_response", "the provider answered with neither a job nor a result", nil)
		}
		return err
	})
	if err != nil {
		return Response{}, err
	}
	return tidy(resp), nil
}

// waitOrBusy is the wait to suggest for a refused call: the rest of the
// cool-down, or, when a probe is already out, a short while.
func waitOrBusy(wait time.Duration) time.Duration {
	if wait > 0 {
		return wait
	}
	return busyRetry
}

// Poll asks the named provider about a job. Polls are never refused by
// the breaker: a job can only finish where it started. The returned
// response always carries the current job handle while pending.
func (r *Registry) Poll(ctx context.Context, name string, req Request, job string) (Response, error) {
	e, err := r.lookup(name, req.Type)
	if err != nil {
		return Response{}, fmt.Errorf("poll task %s: %w", req.TaskID, err)
	}
	if err := r.paced(ctx, e, OpPoll, req.TaskID); err != nil {
		return Response{}, err
	}
	var resp Response
	err = r.call(ctx, e, OpPoll, req.TaskID, false, func(ctx context.Context) error {
		var err error
		resp, err = e.p.Poll(ctx, req, job)
		return err
	})
	if err != nil {
		return Response{}, err
	}
	if resp.Result == nil && resp.Job == "" {
		resp.Job = job
	}
	return tidy(resp), nil
}

// Cancel asks the named provider to stop a job; like Poll, it is never
// refused by the breaker.
func (r *Registry) Cancel(ctx context.Context, name string, req Request, job string) error {
	e, err := r.lookup(name, req.Type)
	if err != nil {
		return fmt.Errorf("cancel task %s: %w", req.TaskID, err)
	}
	return r.call(ctx, e, OpCancel, req.TaskID, false, func(ctx context.Context) error {
		return e.p.Cancel(ctx, req, job)
	})
}

// tidy keeps a response's numbers in range.
func tidy(resp Response) Response {
	resp.PollAfter = max(resp.PollAfter, 0)
	if resp.Result != nil {
		resp.Progress = 1
	}
	resp.Progress = min(max(resp.Progress, 0), 1)
	if math.IsNaN(resp.Progress) {
		resp.Progress = 0
	}
	return resp
}

// call makes one provider call under e's concurrency cap, times it, feeds
// the breaker and the observer, and wraps the error with the provider's
// name.
func (r *Registry) call(ctx context.Context, e *entry, op, taskID string, probe bool, fn func(context.Context) error) error {
	if e.slots != nil {
		select {
		case e.slots <- struct{}{}:
		case <-ctx.Done():
			if probe {
				e.mu.Lock()
				e.br.record(r.now(), neutral, true)
				e.mu.Unlock()
			}
			return fmt.Errorf("provider %s: %s task %s: wait for one of its %d call slots: %w", e.name, op, taskID, e.maxConc, context.Cause(ctx))
		}
		defer func() { <-e.slots }()
	}
	e.mu.Lock()
	e.inFlight++
	e.mu.Unlock()

	began := r.now()
	err := fn(ctx)
	now := r.now()
	d := now.Sub(began)

	kind := KindOf(err)
	o := succeeded
	switch {
	case kind == Canceled || isRequestFault(err):
		o = neutral
	case err != nil:
		o = failed
	}
	e.mu.Lock()
	e.inFlight--
	if kind != Canceled {
		e.lat.add(d)
	}
	from, to := e.br.record(now, o, probe)
	failures := e.br.failures
	if ra := RetryAfterOf(err); kind == Throttled && ra > 0 && now.Add(ra).After(e.throttledUntil) {
		e.throttledUntil = now.Add(ra)
	}
	e.mu.Unlock()
	if kind == Throttled {
		r.rates.Slow(e.name, now)
	}

	if from != to {
		lvl := slog.LevelWarn
		if to == closed {
			lvl = slog.LevelInfo
		}
		r.log.Log(ctx, lvl, "provider breaker "+to.String(), "provider", e.name, "from", from.String(),
			"consecutive_failures", failures, "task_id", taskID, "error", errString(err))
	}
	if r.obs != nil {
		r.obs.ObserveProviderCall(e.name, op, d, string(kind))
	}
	if err != nil {
		return fmt.Errorf("provider %s: %s task %s: %w", e.name, op, taskID, err)
	}
	return nil
}

// paced takes one call of e's requests_per_minute, waiting for its turn
// up to the registry's pace wait, or refuses the call with a Throttled
// error saying when the next is due.
func (r *Registry) paced(ctx context.Context, e *entry, op, taskID string) error {
	deadline := r.now().Add(r.paceWait)
	for {
		now := r.now()
		wait := r.rates.Take(e.name, now)
		if wait <= 0 {
			return nil
		}
		if now.Add(wait).After(deadline) {
			return fmt.Errorf("provider %s: %s task %s: %w", e.name, op, taskID,
				NewThrottled("requests_per_minute", fmt.Sprintf("provider %q is paced to its requests_per_minute; the next call is due in %s", e.name, wait.Round(time.Millisecond)), wait, nil))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("provider %s: %s task %s: wait for its requests_per_minute: %w", e.name, op, taskID, context.Cause(ctx))
		case <-t.C:
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// CheckSubmit vets a submitted task's provider: with name "", that some
// provider serves the task type; with a name (a pinned provider), that
// this one does. Its message says what does serve the type.
func (r *Registry) CheckSubmit(typ task.Type, name string) error {
	if name == "" {
		if len(r.Names(typ)) == 0 {
			return fmt.Errorf("no provider on this server serves %s tasks", typ)
		}
		return nil
	}
	if r.Serves(name, typ) {
		return nil
	}
	serving := "none does"
	if names := r.Names(typ); len(names) > 0 {
		serving = "these do: " + strings.Join(names, ", ")
	}
	return fmt.Errorf("no provider named %q serves %s tasks (%s)", name, typ, serving)
}
