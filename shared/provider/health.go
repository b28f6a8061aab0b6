package provider

import (
	"context"
	"math"
	"slices"
	"time"

	"github.com/videoai/mediatasks/shared/app"
	"github.com/videoai/mediatasks/shared/task"
)

// Health is one provider's state for /health.
type Health struct {
	Status string       `json:"status"` // "up" (breaker closed), "degraded" (half-open) or "down" (open)
	Detail HealthDetail `json:"detail"`
}

// HealthDetail says why a provider has its status.
type HealthDetail struct {
	Type                string      `json:"type"`
	Breaker             string      `json:"breaker"` // closed, half_open or open
	ConsecutiveFailures int         `json:"consecutive_failures"`
	ProbeAfterSeconds   float64     `json:"probe_after_seconds,omitempty"`   // open: until a probe may go
	ThrottledForSeconds float64     `json:"throttled_for_seconds,omitempty"` // the provider asked to wait this long
	InFlight            int         `json:"in_flight"`                       // calls running now
	MaxConcurrency      int         `json:"max_concurrency"`                 // 0: no cap
	TaskTypes           []task.Type `json:"task_types"`
	// Simulated: the provider invents its results (the sim), so they are
	// no real work.
	Simulated      bool    `json:"simulated"`
	Weight         float64 `json:"weight"`
	LatencyP50Ms   float64 `json:"latency_p50_ms"`
	LatencyP95Ms   float64 `json:"latency_p95_ms"`
	LatencySamples int     `json:"latency_samples"` // calls the percentiles cover (the last 256 at most)
}

// Simulator is a provider whose results are invented.
type Simulator interface {
	Simulated() bool
}

func isSimulated(p Provider) bool {
	s, ok := p.(Simulator)
	return ok && s.Simulated()
}

// ProviderHealth reports every provider's state, by name.
func (r *Registry) ProviderHealth() map[string]Health {
	now := r.now()
	out := make(map[string]Health, len(r.entries))
	for _, e := range r.entries {
		e.mu.Lock()
		st := e.br.current(now)
		d := HealthDetail{
			Type:                e.typ,
			Breaker:             st.String(),
			ConsecutiveFailures: e.br.failures,
			ProbeAfterSeconds:   e.br.reopensIn(now).Seconds(),
			ThrottledForSeconds: max(e.throttledUntil.Sub(now), 0).Seconds(),
			InFlight:            e.inFlight,
			MaxConcurrency:      e.maxConc,
			TaskTypes:           slices.Clone(e.taskTypes),
			Simulated:           isSimulated(e.p),
			Weight:              e.weight,
		}
		p50, p95, n := e.lat.quantiles()
		e.mu.Unlock()
		d.LatencyP50Ms, d.LatencyP95Ms, d.LatencySamples = ms(p50), ms(p95), n
		status := "up"
		switch st {
		case halfOpen:
			status = "degraded"
		case open:
			status = "down"
		}
		out[e.name] = Health{Status: status, Detail: d}
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// latencySamples is how many recent calls the percentiles cover.
const latencySamples = 256

// latencies is a ring of the latest call durations.
type latencies struct {
	buf  [latencySamples]time.Duration
	n    int
	next int
}

func (l *latencies) add(d time.Duration) {
	l.buf[l.next] = d
	l.next = (l.next + 1) % latencySamples
	l.n = min(l.n+1, latencySamples)
}

// quantiles returns the nearest-rank p50 and p95 and the sample count.
func (l *latencies) quantiles() (p50, p95 time.Duration, n int) {
	if l.n == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(l.buf[:l.n])
	slices.Sort(s)
	rank := func(q float64) time.Duration {
		i := int(math.Ceil(q*float64(len(s)))) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	return rank(0.50), rank(0.95), l.n
}

// Components reports every provider's state as /health shows it.
func (r *Registry) Components(context.Context) map[string]app.ComponentHealth {
	out := map[string]app.ComponentHealth{}
	for name, h := range r.ProviderHealth() {
		out[name] = app.ComponentHealth{Status: h.Status, Detail: h.Detail}
	}
	return out
}
