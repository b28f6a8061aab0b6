package provider

import "time"

// breakerState is a circuit breaker's position.
type breakerState int

const (
	closed   breakerState = iota // calls flow
	open                         // new work is refused until the cool-down ends
	halfOpen                     // the cool-down has ended: one probe may go through
)

func (s breakerState) String() string {
	switch s {
	case open:
		return "open"
	case halfOpen:
		return "half_open"
	}
	return "closed"
}

// breaker counts consecutive failures of one provider. It is not safe for
// concurrent use: the registry holds its entry's lock around it.
type breaker struct {
	threshold int
	cooldown  time.Duration

	state    breakerState
	failures int       // consecutive
	openedAt time.Time // when it last opened
	probing  bool      // a half-open probe is in flight
}

// current is the state at now: an open breaker whose cool-down has passed
// is half-open.
func (b *breaker) current(now time.Time) breakerState {
	if b.state == open && !now.Before(b.openedAt.Add(b.cooldown)) {
		return halfOpen
	}
	return b.state
}

// reopensIn is how long until an open breaker lets a probe through (0 if
// it would now).
func (b *breaker) reopensIn(now time.Time) time.Duration {
	if b.state != open {
		return 0
	}
	return max(b.openedAt.Add(b.cooldown).Sub(now), 0)
}

// canProbe reports whether a Start may go through now.
func (b *breaker) canProbe(now time.Time) bool {
	switch b.current(now) {
	case closed:
		return true
	case halfOpen:
		return !b.probing
	}
	return false
}

// admit lets a Start through, or refuses it. probe is true when this call
// is the half-open probe whose outcome decides the breaker.
func (b *breaker) admit(now time.Time) (ok, probe bool) {
	switch b.current(now) {
	case closed:
		return true, false
	case halfOpen:
		if b.probing {
			return false, false
		}
		b.state, b.probing = halfOpen, true
		return true, true
	}
	return false, false
}

// outcome of a call, as the breaker sees it.
type outcome int

const (
	succeeded outcome = iota
	failed
	neutral // canceled, or a fault of the request: says nothing of the provider
)

// record feeds a call's outcome and returns the state change, if any.
func (b *breaker) record(now time.Time, o outcome, probe bool) (from, to breakerState) {
	from = b.current(now)
	if probe {
		b.probing = false
	}
	switch o {
	case succeeded:
		b.state, b.failures = closed, 0
	case failed:
		b.failures++
		switch {
		case from == halfOpen && !b.probing:
			// The probe failed (or a poll failed while no probe was out): the
			// provider is still down; wait a full cool-down again. While a
			// probe is out, its outcome decides.
			b.state, b.openedAt = open, now
		case from == closed && b.failures >= b.threshold:
			b.state, b.openedAt = open, now
		}
	}
	return from, b.current(now)
}
