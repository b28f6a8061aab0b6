package providertest

import (
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
)

// Faults is what every provider's fake keeps for the suite: the fault it
// answers with, the jobs it was told to cancel, and how to answer the
// faults every API has alike (a rate limit, a server error, a hang, a
// page that is not JSON) in the provider's own error shape. A fake embeds
// it; the faults that are the provider's own (truncated answers, safety
// refusals, a bad key, expired outputs) it answers itself.
type Faults struct {
	// Errors writes an error in the provider's shape.
	Errors ErrorWriter
	// ServerStatus is the status of FaultServer (default 500).
	ServerStatus int
	// Throttled and ServerError are the provider's words for a rate limit
	// and a server fault.
	Throttled, ServerError string

	mu       sync.Mutex
	fault    Fault
	canceled []string
	closed   chan struct{}
	once     sync.Once
}

// ErrorWriter writes an error answer of a provider.
type ErrorWriter func(w http.ResponseWriter, status int, message string)

// Fail makes the following calls answer with f (FaultNone: none).
func (f *Faults) Fail(x Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fault = x
}

// Fault is the fault in force.
func (f *Faults) Fault() Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fault
}

// Canceled lists the jobs the fake was told to cancel.
func (f *Faults) Canceled() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.canceled)
}

// AddCanceled records a cancel of job.
func (f *Faults) AddCanceled(job string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.canceled = append(f.canceled, job)
}

// CloseFaults releases the calls a hang holds (a fake's Close calls it
// before it closes its server).
func (f *Faults) CloseFaults() {
	f.once.Do(func() { close(f.closedChan()) })
}

func (f *Faults) closedChan() chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed == nil {
		f.closed = make(chan struct{})
	}
	return f.closed
}

// Answer answers the call with the fault in force when it is one every API
// has alike, and reports whether it did: 429 with Retry-After, the
// server's error, a hang until the client gives up (or the fake closes),
// an HTML page.
func (f *Faults) Answer(w http.ResponseWriter, r *http.Request) bool {
	switch f.Fault() {
	case FaultThrottle:
		w.Header().Set("Retry-After", strconv.Itoa(RetryAfterSeconds))
		f.Errors(w, http.StatusTooManyRequests, f.Throttled)
	case FaultServer:
		status := f.ServerStatus
		if status == 0 {
			status = http.StatusInternalServerError
		}
		f.Errors(w, status, f.ServerError)
	case FaultHang:
		select {
		case <-r.Context().Done():
		case <-f.closedChan():
		}
	case FaultMalformed:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "<html><body>upstream connect error</body></html>")
	default:
		return false
	}
	return true
}
