package api

import (
	"math"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter is a token bucket per user: perMinute tokens a minute, with a
// burst of perMinute. A bucket left idle for a minute is full again, so it
// is dropped and made anew when needed: memory holds only active users.
type limiter struct {
	perMinute int
	now       func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// maxBuckets bounds the map between sweeps.
const maxBuckets = 100_000

func newLimiter(perMinute int, now func() time.Time) *limiter {
	return &limiter{perMinute: perMinute, now: now, buckets: map[string]*bucket{}}
}

// take spends n tokens of user's bucket, or answers 429 with the seconds
// until they are there. n is capped at the bucket's size (the config
// keeps limits.batch_max within it).
func (l *limiter) take(user string, n int) error {
	now := l.now()
	n = min(n, l.perMinute)
	l.mu.Lock()
	b := l.buckets[user]
	if b == nil {
		if now.Sub(l.lastSweep) > time.Minute || len(l.buckets) >= maxBuckets {
			l.sweep(now)
		}
		b = &bucket{lim: rate.NewLimiter(rate.Limit(float64(l.perMinute)/60), l.perMinute)}
		l.buckets[user] = b
	}
	b.seen = now
	res := b.lim.ReserveN(now, n)
	delay := res.DelayFrom(now)
	if delay > 0 {
		res.CancelAt(now)
	}
	l.mu.Unlock()
	if delay <= 0 {
		return nil
	}
	secs := max(1, int(math.Ceil(delay.Seconds())))
	return &Problem{Status: http.StatusTooManyRequests, retryAfter: secs,
		Detail: "too many submits; retry after the time in Retry-After"}
}

// sweep drops the buckets idle for a minute or more (they are full).
func (l *limiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if now.Sub(b.seen) >= time.Minute {
			delete(l.buckets, k)
		}
	}
	l.lastSweep = now
	if len(l.buckets) >= maxBuckets { // all active: forget the oldest half
		cut := now.Add(-30 * time.Second)
		for k, b := range l.buckets {
			if b.seen.Before(cut) {
				delete(l.buckets, k)
			}
		}
	}
}
