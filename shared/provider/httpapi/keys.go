package httpapi

import (
	"context"
	"sync"
	"time"
)

// DefaultMinRefresh is how often a KeyCache fetches again at most when
// asked to.
const DefaultMinRefresh = time.Minute

// KeyCache holds what a provider verifies its callbacks with (a signing
// secret, a set of public keys), fetched once and kept: fetched again
// when older than TTL, or when a signature does not match (the key may
// have rotated), at most once per MinRefresh, so that forged calls cannot
// make the platform call the provider at will. Safe for concurrent use;
// one fetch runs at a time.
type KeyCache[K any] struct {
	Fetch func(ctx context.Context) (K, error)
	// TTL is how long a key is used (0: until refreshed).
	TTL time.Duration
	// MinRefresh is the least time between two fetches on Refresh
	// (default DefaultMinRefresh).
	MinRefresh time.Duration
	Now        func() time.Time

	mu   sync.Mutex
	key  K
	at   time.Time
	have bool
}

func (c *KeyCache[K]) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Get is the key, fetched when there is none or it is older than TTL.
func (c *KeyCache[K]) Get(ctx context.Context) (K, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.have && (c.TTL <= 0 || c.now().Sub(c.at) < c.TTL) {
		return c.key, nil
	}
	return c.fetch(ctx)
}

// Refresh fetches the key again unless it was fetched within MinRefresh,
// and reports whether it did.
func (c *KeyCache[K]) Refresh(ctx context.Context) (K, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	least := c.MinRefresh
	if least <= 0 {
		least = DefaultMinRefresh
	}
	if c.have && c.now().Sub(c.at) < least {
		return c.key, false, nil
	}
	k, err := c.fetch(ctx)
	return k, err == nil, err
}

func (c *KeyCache[K]) fetch(ctx context.Context) (K, error) {
	k, err := c.Fetch(ctx)
	if err != nil {
		var zero K
		return zero, err
	}
	c.key, c.at, c.have = k, c.now(), true
	return k, nil
}
