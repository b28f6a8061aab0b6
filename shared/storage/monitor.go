package storage

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Monitor follows whether a store can be written, from the outcomes of
// its writes: down from a write that failed with a storage fault, up
// again from the next one that succeeded. Other errors (a conflict, a bad
// row) say nothing of the storage and change nothing. Safe for
// concurrent use.
type Monitor struct {
	mu    sync.Mutex
	fault error     // the fault that took it down; nil: up
	since time.Time // when it went down
	downs atomic.Uint64
	// down mirrors fault != nil, so that a write that succeeds while
	// the storage is up (nearly every write) takes no lock.
	down atomic.Bool
	// OnChange, when set, hears each change of state (fault nil: up
	// again, after down for the duration given).
	OnChange func(fault error, downFor time.Duration)
}

// Observe notes a write's outcome.
func (m *Monitor) Observe(err error) {
	if err != nil && !Fault(err) || err == nil && !m.down.Load() {
		return
	}
	m.mu.Lock()
	wasDown := m.fault != nil
	var downFor time.Duration
	switch {
	case err != nil && !wasDown:
		m.fault, m.since = err, time.Now()
		m.down.Store(true)
		m.downs.Add(1)
	case err == nil && wasDown:
		downFor = time.Since(m.since)
		m.fault, m.since = nil, time.Time{}
		m.down.Store(false)
	default:
		m.mu.Unlock()
		return
	}
	onChange := m.OnChange
	m.mu.Unlock()
	if onChange != nil {
		onChange(err, downFor)
	}
}

// Err is nil while writes succeed, and else names the fault and since
// when it lasts.
func (m *Monitor) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fault == nil {
		return nil
	}
	return fmt.Errorf("writes failing since %s: %w", m.since.UTC().Format(time.RFC3339), m.fault)
}

// Down reports whether the last write that said anything of the storage
// failed.
func (m *Monitor) Down() bool { return m.down.Load() }

// Downs counts the times the storage went down.
func (m *Monitor) Downs() uint64 { return m.downs.Load() }
