package asl

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Error names that the language defines.
const (
	ErrAll        = "States.ALL"
	ErrTaskFailed = "States.TaskFailed"
	ErrTimeout    = "States.Timeout"
	// ErrHeartbeatTimeout: a waitForTaskToken Task heard no heartbeat
	// within its HeartbeatSeconds.
	ErrHeartbeatTimeout = "States.HeartbeatTimeout"
	ErrRuntime          = "States.Runtime"
	ErrIntrinsicFailure = "States.IntrinsicFailure"
)

// Error is a named ASL error, as Retry and Catch match it.
type Error struct {
	Name  string
	Cause string
}

func (e *Error) Error() string {
	if e.Cause == "" {
		return e.Name
	}
	return e.Name + ": " + e.Cause
}

func runtimeErr(format string, args ...any) *Error {
	return &Error{Name: ErrRuntime, Cause: fmt.Sprintf(format, args...)}
}

func intrinsicErr(format string, args ...any) *Error {
	return &Error{Name: ErrIntrinsicFailure, Cause: fmt.Sprintf(format, args...)}
}

// Terminal reports whether an error ends the execution whatever Retry and
// Catch say: Step Functions never retries or catches States.Runtime (not
// even with States.ALL).
func Terminal(name string) bool { return name == ErrRuntime }

// matches reports whether an ErrorEquals entry matches an error raised by
// a state of the given type: States.TaskFailed stands for any error of a
// Task state except a timeout.
func matches(pattern, name, stateType string) bool {
	switch {
	case Terminal(name):
		return false
	case pattern == name, pattern == ErrAll:
		return true
	case pattern == ErrTaskFailed:
		return stateType == TypeTask && name != ErrTimeout
	}
	return false
}

// Retrier is one entry of a Retry field.
type Retrier struct {
	ErrorEquals     []string
	IntervalSeconds float64
	MaxAttempts     int
	BackoffRate     float64
	MaxDelaySeconds float64 // 0: no cap
	JitterFull      bool
}

// Delay is the pause before retry number attempt (0-based):
// IntervalSeconds * BackoffRate^attempt, capped by MaxDelaySeconds; with
// FULL jitter a uniform random duration up to that, drawn from rnd (a
// value in [0,1)).
func (r *Retrier) Delay(attempt int, rnd func() float64) time.Duration {
	d := r.IntervalSeconds * math.Pow(r.BackoffRate, float64(attempt))
	if r.MaxDelaySeconds > 0 && d > r.MaxDelaySeconds {
		d = r.MaxDelaySeconds
	}
	if r.JitterFull && rnd != nil {
		d *= rnd()
	}
	// Beyond a year the float no longer fits a Duration; nobody waits so long.
	return time.Duration(min(d, 365*24*3600) * float64(time.Second))
}

// Catcher is one entry of a Catch field.
type Catcher struct {
	ErrorEquals []string
	Next        string
	ResultPath  *Path // nil with DiscardResult: the input passes unchanged
	// DiscardResult is ResultPath null.
	DiscardResult bool
}

// RetrierFor picks the retrier for an error, given how many times each retrier
// has retried so far (counts, one per retrier). The first retrier whose
// ErrorEquals matches decides: ok is false when it has no attempts left,
// or when none matches.
func (s *State) RetrierFor(name string, counts []int) (index int, ok bool) {
	for i := range s.Retry {
		r := &s.Retry[i]
		if slices.ContainsFunc(r.ErrorEquals, func(p string) bool { return matches(p, name, s.Type) }) {
			c := 0
			if i < len(counts) {
				c = counts[i]
			}
			return i, c < r.MaxAttempts
		}
	}
	return -1, false
}

// CatcherFor returns the first catcher matching the error, or nil.
func (s *State) CatcherFor(name string) *Catcher {
	for i := range s.Catch {
		c := &s.Catch[i]
		if slices.ContainsFunc(c.ErrorEquals, func(p string) bool { return matches(p, name, s.Type) }) {
			return c
		}
	}
	return nil
}

// CaughtOutput is the input of a catcher's Next state: the error object
// {"Error","Cause"} placed at the catcher's ResultPath in the state's
// input.
func (c *Catcher) CaughtOutput(input any, e *Error) (any, error) {
	if c.DiscardResult {
		return input, nil
	}
	info := map[string]any{"Error": e.Name, "Cause": e.Cause}
	if c.ResultPath == nil {
		return info, nil
	}
	return c.ResultPath.Set(input, info)
}
