package app

import "sync"

// notifier wakes the waiters of one id (SSE streams, Prefer: wait) when a
// change is made in this process. Other processes' changes are seen by
// polling; this only makes local ones immediate.
type notifier struct {
	mu      sync.Mutex
	waiters map[string]*waitSet
}

type waitSet struct{ chans map[chan struct{}]struct{} }

func newNotifier() *notifier {
	return &notifier{waiters: map[string]*waitSet{}}
}

// subscribe returns a channel that receives after the next notify(id), and
// a function that unsubscribes.
func (n *notifier) subscribe(id string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	n.mu.Lock()
	set := n.waiters[id]
	if set == nil {
		set = &waitSet{chans: map[chan struct{}]struct{}{}}
		n.waiters[id] = set
	}
	set.chans[ch] = struct{}{}
	n.mu.Unlock()
	return ch, func() {
		n.mu.Lock()
		delete(set.chans, ch)
		if len(set.chans) == 0 && n.waiters[id] == set {
			delete(n.waiters, id)
		}
		n.mu.Unlock()
	}
}

func (n *notifier) notify(id string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	set := n.waiters[id]
	if set == nil {
		return
	}
	for ch := range set.chans {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
