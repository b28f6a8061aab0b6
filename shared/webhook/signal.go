package webhook

import "context"

// CommitHook is told, after a store's write has committed, of the pending
// deliveries it created or made due again: the cloud sends their queue
// messages from it (Enqueuer.Send), one machine wakes its deliverer
// (Signal.Notify). It runs in the writer's goroutine and must not block.
type CommitHook func(ctx context.Context, pending []Delivery)

// Signal wakes an in-process Deliverer when the store has committed new
// deliveries, so that they are sent at once rather than at the next poll.
// It is made before either: the store is given Notify, the deliverer the
// Signal (Options.Wake).
type Signal struct{ ch chan struct{} }

// NewSignal returns a signal no one has raised.
func NewSignal() *Signal { return &Signal{ch: make(chan struct{}, 1)} }

// Notify raises the signal; it never blocks. Its shape is the stores'
// delivery hook: the deliveries themselves are read back from the store.
func (s *Signal) Notify(context.Context, []Delivery) {
	select {
	case s.ch <- struct{}{}:
	default:
	}
}
