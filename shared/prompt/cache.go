// Package prompt optimises the prompts of media tasks. This file is its
// cache port: the optimised prompts kept by key, so that the same input is
// optimised once.
package prompt

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// MaxCacheValue is the largest value a cache entry holds, in bytes.
const MaxCacheValue = 64 << 10

// CacheEntry is one cached result.
type CacheEntry struct {
	// Key is the hex SHA-256 (64 lower-case digits) of what the result was
	// computed from.
	Key string
	// Value is the result as JSON: 1 to MaxCacheValue bytes.
	Value []byte
	// CreatedAt is when the result was computed.
	CreatedAt time.Time
	// ExpiresAt is the first instant at which the entry is a miss; zero:
	// never (rule and template results, whose keys are versioned).
	ExpiresAt time.Time
}

// Cache keeps results by key. Metrics (hits, misses) are the caller's to
// count. Implementations are safe for concurrent use.
type Cache interface {
	// GetCached returns the entry stored under key, or an error wrapping
	// ErrCacheMiss when there is none or it has expired by the store's
	// clock (now >= ExpiresAt). Any other failure, a canceled context
	// included, is an error that is not a miss.
	GetCached(ctx context.Context, key string) (CacheEntry, error)
	// PutCached stores the entry, replacing whatever its key held: the
	// last write wins. An entry that fails Check is refused and nothing
	// is stored.
	PutCached(ctx context.Context, e CacheEntry) error
}

var (
	// ErrCacheMiss: no live entry under the key.
	ErrCacheMiss = errors.New("prompt cache miss")
	// ErrBadCacheEntry: a key that is not a hex SHA-256, or a value that
	// is empty or larger than MaxCacheValue.
	ErrBadCacheEntry = errors.New("bad prompt cache entry")
)

// Check reports whether the entry may be stored: an error wrapping
// ErrBadCacheEntry when its key or value is out of bounds.
func (e CacheEntry) Check() error {
	if err := CheckCacheKey(e.Key); err != nil {
		return err
	}
	if len(e.Value) == 0 || len(e.Value) > MaxCacheValue {
		return fmt.Errorf("%w: value of %s is %d bytes, want 1 to %d", ErrBadCacheEntry, e.Key, len(e.Value), MaxCacheValue)
	}
	return nil
}

// CheckCacheKey reports whether key is 64 lower-case hex digits (an error
// wrapping ErrBadCacheEntry if not).
func CheckCacheKey(key string) error {
	if len(key) != 64 {
		return fmt.Errorf("%w: key is %d characters, want 64", ErrBadCacheEntry, len(key))
	}
	for i := range len(key) {
		if c := key[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("%w: key %q is not lower-case hex", ErrBadCacheEntry, key)
		}
	}
	return nil
}
