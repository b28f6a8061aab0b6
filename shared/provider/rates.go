package provider

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rates paces the calls to each provider to its requests_per_minute. The
// registry asks before each start and poll; a call waits its turn (calls
// run off the engine's workers, so the wait holds none) up to the pace
// wait, past which it is refused as throttled and the workflow's Retry
// waits. This process's buckets are LocalRates; a fleet of functions
// needs a shared twin.
type Rates interface {
	// Take spends one call of provider's budget, or, spending nothing,
	// says how long until one is free.
	Take(provider string, now time.Time) (wait time.Duration)
	// Slow tells the pacing that the provider answered 429 itself.
	Slow(provider string, now time.Time)
}

// Adaptive pacing, as the AWS SDK's adaptive retry mode: a 429 halves the
// rate (to no less than minShare of the configured one); each call taken
// afterwards wins back a step of the configured rate, so that it
// recovers over about a hundred calls.
const (
	minShare     = 0.1
	recoverShare = 0.01
)

// LocalRates are token buckets in this process, one per provider.
type LocalRates struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	limiter    *rate.Limiter
	configured rate.Limit
}

// NewLocalRates paces each provider of perMinute to its calls a minute
// (a burst of a tenth of a minute's, at least 1); a provider not named,
// or at 0, is not paced.
func NewLocalRates(perMinute map[string]int) *LocalRates {
	l := &LocalRates{buckets: map[string]*bucket{}}
	for name, n := range perMinute {
		if n <= 0 {
			continue
		}
		limit := rate.Limit(float64(n) / 60)
		l.buckets[name] = &bucket{limiter: rate.NewLimiter(limit, max(1, n/10)), configured: limit}
	}
	return l
}

// Take spends a token of provider's bucket, or says when one is due.
func (l *LocalRates) Take(provider string, now time.Time) time.Duration {
	l.mu.Lock()
	b := l.buckets[provider]
	l.mu.Unlock()
	if b == nil {
		return 0
	}
	r := b.limiter.ReserveN(now, 1)
	if !r.OK() {
		return time.Minute
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	if cur := b.limiter.Limit(); cur < b.configured {
		b.limiter.SetLimitAt(now, min(b.configured, cur+b.configured*recoverShare))
	}
	return 0
}

// Slow halves provider's rate after a 429.
func (l *LocalRates) Slow(provider string, now time.Time) {
	l.mu.Lock()
	b := l.buckets[provider]
	l.mu.Unlock()
	if b == nil {
		return
	}
	b.limiter.SetLimitAt(now, max(b.limiter.Limit()/2, b.configured*minShare))
}

// Limit is provider's current calls a minute (0 when not paced).
func (l *LocalRates) Limit(provider string) float64 {
	l.mu.Lock()
	b := l.buckets[provider]
	l.mu.Unlock()
	if b == nil {
		return 0
	}
	return float64(b.limiter.Limit()) * 60
}
