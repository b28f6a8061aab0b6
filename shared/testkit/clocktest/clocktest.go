// Package clocktest holds the simulated twin of time.Now that tests
// inject wherever the product takes a `Now func() time.Time`: retry
// schedules, visibility timeouts, expiring URLs and records move on when
// the test says so, never by waiting.
package clocktest

import (
	"sync"
	"time"
)

// Fake is a settable clock, safe for concurrent use.
type Fake struct {
	mu  sync.Mutex
	now time.Time
}

// NewFake returns a clock that reads start until it is moved.
func NewFake(start time.Time) *Fake { return &Fake{now: start} }

// Now reads the clock; pass the method value as a Now option.
func (c *Fake) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Add moves the clock forward by d.
func (c *Fake) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Set moves the clock to t.
func (c *Fake) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}
