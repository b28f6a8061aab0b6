package webhook

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultSchedule is the wait before each retry after the first try:
// eight tries over about 28 hours, then the delivery is exhausted.
var DefaultSchedule = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute,
	2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// DefaultTimeout bounds one attempt: connecting, sending, and the answer.
const DefaultTimeout = 15 * time.Second

// MaxRetryAfter caps a receiver's Retry-After, so that no answer can park
// a delivery for longer than the schedule's whole span.
const MaxRetryAfter = 24 * time.Hour

// RotationGrace is how long a rotated secret keeps signing beside its
// successor, for receivers to switch over.
const RotationGrace = 24 * time.Hour

// nextDelay is the wait after the attempts-th failed try, or false when
// the schedule has no retry left.
func nextDelay(schedule []time.Duration, attempts int) (time.Duration, bool) {
	if attempts < 1 || attempts > len(schedule) {
		return 0, false
	}
	return schedule[attempts-1], true
}

// RetryAfter reads a Retry-After header, in seconds or as an HTTP date,
// as a wait from now (capped at MaxRetryAfter). It reports false when the
// header is absent, unreadable or in the past.
func RetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0, false
		}
		if secs > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter, true
		}
		d = time.Duration(secs) * time.Second
	} else if at, err := http.ParseTime(v); err == nil {
		d = at.Sub(now)
	} else {
		return 0, false
	}
	if d <= 0 {
		return 0, false
	}
	return min(d, MaxRetryAfter), true
}
