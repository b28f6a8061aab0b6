// Package cachetest is the conformance suite of the prompt cache port
// (prompt.Cache): every adapter runs Run against itself and must pass it
// unchanged.
//
//	func TestPromptCacheConformance(t *testing.T) {
//		cachetest.Run(t, func(t *testing.T, now func() time.Time) cachetest.Adapter { ... })
//	}
//
// Conventions the suite pins down where the port's comments leave room:
//   - an entry is live while now < ExpiresAt, by the clock the suite
//     hands to the adapter (a clocktest.Fake the cases move);
//   - times read back equal to the nanosecond, and a zero CreatedAt or
//     ExpiresAt reads back zero;
//   - an entry that fails CacheEntry.Check, and a malformed key on a get,
//     are errors wrapping prompt.ErrBadCacheEntry, and nothing is stored;
//   - a canceled context is an error wrapping context.Canceled, not a
//     miss, and a put under one stores nothing;
//   - the store keeps its own copy of a value: changing the bytes given
//     to a put, or returned by a get, changes nothing stored.
package cachetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/prompt"
	"github.com/videoai/mediatasks/shared/testkit/clocktest"
)

// Adapter is one fresh cache under test.
type Adapter struct {
	Cache prompt.Cache
	// PurgeExpired, when not nil, deletes the entries expired by now and
	// says how many (a store whose database expires items itself, such as
	// a DynamoDB TTL, leaves it nil and the case is skipped).
	PurgeExpired func(ctx context.Context, now time.Time) (int, error)
}

// Run runs the whole suite. newAdapter must return a cache of the test's
// own (PurgeExpired counts every entry) whose clock is now.
func Run(t *testing.T, newAdapter func(t *testing.T, now func() time.Time) Adapter) {
	s := &suite{newAdapter: newAdapter}
	t.Run("MissOnAbsentKey", s.testMissOnAbsentKey)
	t.Run("PutThenGet", s.testPutThenGet)
	t.Run("Overwrite", s.testOverwrite)
	t.Run("ExpiryBoundary", s.testExpiryBoundary)
	t.Run("NeverExpires", s.testNeverExpires)
	t.Run("LargestValue", s.testLargestValue)
	t.Run("BadEntries", s.testBadEntries)
	t.Run("ManyKeys", s.testManyKeys)
	t.Run("ConcurrentPutsAndGets", s.testConcurrentPutsAndGets)
	t.Run("CanceledContext", s.testCanceledContext)
	t.Run("PurgeExpired", s.testPurgeExpired)
}

type suite struct {
	newAdapter func(t *testing.T, now func() time.Time) Adapter
}

// bundle is one case's cache, its clock and helpers.
type bundle struct {
	Adapter
	t     *testing.T
	ctx   context.Context
	clock *clocktest.Fake
	// start is where the clock stands until a case moves it.
	start time.Time
}

// start has nanoseconds, so that a store keeping less shows.
var start = time.Date(2031, 5, 17, 9, 26, 53, 123456789, time.UTC)

func (s *suite) setup(t *testing.T) *bundle {
	t.Helper()
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	clock := clocktest.NewFake(start)
	return &bundle{Adapter: s.newAdapter(t, clock.Now), t: t, ctx: ctx, clock: clock, start: start}
}

const hexDigits = "0123456789abcdef"

// key is a fresh key, unique across runs, so that adapters sharing a
// database between tests never see each other's entries.
func key() string {
	r := make([]byte, 16)
	rand.Read(r)
	sum := sha256.Sum256(r)
	return hex.EncodeToString(sum[:])
}

// entry is an entry under key whose value names it and n, created a
// minute before the clock's start.
func (b *bundle) entry(key string, n int, expiresAt time.Time) prompt.CacheEntry {
	return prompt.CacheEntry{Key: key, Value: fmt.Appendf(nil, `{"prompt":"a lighthouse at dusk, 灯台","key":%q,"n":%d}`, key, n),
		CreatedAt: b.start.Add(-time.Minute + time.Duration(n)*time.Millisecond), ExpiresAt: expiresAt}
}

func (b *bundle) put(e prompt.CacheEntry) {
	b.t.Helper()
	if err := b.Cache.PutCached(b.ctx, e); err != nil {
		b.t.Fatalf("PutCached %s: %v", e.Key, err)
	}
}

// hit fails unless key reads back as want.
func (b *bundle) hit(key string, want prompt.CacheEntry) {
	b.t.Helper()
	got, err := b.Cache.GetCached(b.ctx, key)
	if err != nil {
		b.t.Fatalf("GetCached %s at %s: %v", key, b.clock.Now().Format(time.RFC3339Nano), err)
	}
	if err := same(got, want); err != nil {
		b.t.Fatalf("GetCached %s: %v", key, err)
	}
}

// miss fails unless key reads as a miss.
func (b *bundle) miss(key string) {
	b.t.Helper()
	got, err := b.Cache.GetCached(b.ctx, key)
	if !errors.Is(err, prompt.ErrCacheMiss) {
		b.t.Fatalf("GetCached %s at %s = %s, %v; want ErrCacheMiss", key, b.clock.Now().Format(time.RFC3339Nano), short(got.Value), err)
	}
}

// same reports how got differs from want, if it does.
func same(got, want prompt.CacheEntry) error {
	switch {
	case got.Key != want.Key:
		return fmt.Errorf("key %s, want %s", got.Key, want.Key)
	case !bytes.Equal(got.Value, want.Value):
		return fmt.Errorf("value %s, want %s", short(got.Value), short(want.Value))
	case !got.CreatedAt.Equal(want.CreatedAt):
		return fmt.Errorf("CreatedAt %s, want %s", got.CreatedAt, want.CreatedAt)
	case !got.ExpiresAt.Equal(want.ExpiresAt):
		return fmt.Errorf("ExpiresAt %s, want %s", got.ExpiresAt, want.ExpiresAt)
	}
	return nil
}

// short is v for a message: its start when it is long.
func short(v []byte) string {
	if len(v) <= 200 {
		return string(v)
	}
	return fmt.Sprintf("%s… (%d bytes)", v[:200], len(v))
}

func (s *suite) testMissOnAbsentKey(t *testing.T) {
	b := s.setup(t)
	b.miss(key())
	// A key one digit away from a stored one is another key.
	k := key()
	b.put(b.entry(k, 1, time.Time{}))
	last := strings.IndexByte(hexDigits, k[63])
	b.miss(k[:63] + string(hexDigits[(last+1)%16]))
}

func (s *suite) testPutThenGet(t *testing.T) {
	b := s.setup(t)
	e := b.entry(key(), 1, b.start.Add(time.Hour+time.Nanosecond))
	b.put(e)
	b.hit(e.Key, e)
	// The caller's bytes are not the store's: changing them after the
	// put, or changing what a get returned, changes nothing stored.
	want := e
	want.Value = bytes.Clone(e.Value)
	e.Value[0] = ' '
	got, err := b.Cache.GetCached(b.ctx, e.Key)
	if err != nil {
		t.Fatal(err)
	}
	got.Value[1] = ' '
	b.hit(e.Key, want)
	// No CreatedAt reads back as none.
	bare := prompt.CacheEntry{Key: key(), Value: []byte(`{}`)}
	b.put(bare)
	b.hit(bare.Key, bare)
}

func (s *suite) testOverwrite(t *testing.T) {
	b := s.setup(t)
	k := key()
	first := b.entry(k, 1, b.start.Add(time.Hour))
	b.put(first)
	// A later write replaces the whole entry: value, times, and the
	// expiry, which it may drop.
	second := b.entry(k, 2, time.Time{})
	b.put(second)
	b.hit(k, second)
	// The last write wins even when it has expired already: a miss.
	b.put(b.entry(k, 3, b.start))
	b.miss(k)
	// And an expired entry is replaced as any other.
	fourth := b.entry(k, 4, b.start.Add(time.Minute))
	b.put(fourth)
	b.hit(k, fourth)
}

func (s *suite) testExpiryBoundary(t *testing.T) {
	b := s.setup(t)
	expires := b.start.Add(time.Hour)
	e := b.entry(key(), 1, expires)
	b.put(e)
	b.clock.Set(expires.Add(-time.Nanosecond))
	b.hit(e.Key, e) // live until its ExpiresAt
	b.clock.Set(expires)
	b.miss(e.Key) // expired at it exactly
	b.clock.Add(time.Nanosecond)
	b.miss(e.Key)
	// An entry is not expired by a clock that went back: expiry is a
	// comparison at each read, not a deletion.
	b.clock.Set(expires.Add(-time.Second))
	b.hit(e.Key, e)
}

func (s *suite) testNeverExpires(t *testing.T) {
	b := s.setup(t)
	e := b.entry(key(), 1, time.Time{})
	b.put(e)
	b.hit(e.Key, e)
	b.clock.Add(100 * 365 * 24 * time.Hour)
	b.hit(e.Key, e)
}

// jsonOfSize is a JSON document of exactly n bytes (n >= 8).
func jsonOfSize(n int) []byte {
	return []byte(`{"p":"` + strings.Repeat("x", n-8) + `"}`)
}

func (s *suite) testLargestValue(t *testing.T) {
	b := s.setup(t)
	e := prompt.CacheEntry{Key: key(), Value: jsonOfSize(prompt.MaxCacheValue), CreatedAt: b.start, ExpiresAt: b.start.Add(time.Hour)}
	if len(e.Value) != 64<<10 {
		t.Fatalf("value of %d bytes", len(e.Value))
	}
	b.put(e)
	b.hit(e.Key, e)
}

func (s *suite) testBadEntries(t *testing.T) {
	b := s.setup(t)
	good := b.entry(key(), 1, time.Time{})
	cases := map[string]prompt.CacheEntry{
		"value one byte too large": {Key: good.Key, Value: jsonOfSize(prompt.MaxCacheValue + 1)},
		"empty value":              {Key: good.Key},
		"upper-case key":           {Key: strings.ToUpper(good.Key), Value: good.Value},
		"short key":                {Key: good.Key[:63], Value: good.Value},
		"long key":                 {Key: good.Key + "0", Value: good.Value},
		"key not hex":              {Key: good.Key[:63] + "g", Value: good.Value},
		"empty key":                {Value: good.Value},
	}
	for name, e := range cases {
		if err := b.Cache.PutCached(b.ctx, e); !errors.Is(err, prompt.ErrBadCacheEntry) {
			t.Errorf("%s: PutCached error = %v, want ErrBadCacheEntry", name, err)
		}
		if e.Key == good.Key {
			continue
		}
		if _, err := b.Cache.GetCached(b.ctx, e.Key); !errors.Is(err, prompt.ErrBadCacheEntry) {
			t.Errorf("%s: GetCached error = %v, want ErrBadCacheEntry", name, err)
		}
	}
	b.miss(good.Key)
}

func (s *suite) testManyKeys(t *testing.T) {
	b := s.setup(t)
	// Random keys, and 16 that differ only in their last digit.
	var keys []string
	for range 48 {
		keys = append(keys, key())
	}
	stem := key()[:63]
	for _, d := range hexDigits {
		keys = append(keys, stem+string(d))
	}
	entries := make([]prompt.CacheEntry, len(keys))
	for i, k := range keys {
		expires := time.Time{}
		if i%2 == 0 {
			expires = b.start.Add(time.Duration(i+1) * time.Minute)
		}
		entries[i] = b.entry(k, i, expires)
	}
	b.each(len(entries), func(i int) error { return b.Cache.PutCached(b.ctx, entries[i]) })
	b.each(len(entries), func(i int) error {
		got, err := b.Cache.GetCached(b.ctx, entries[i].Key)
		if err != nil {
			return err
		}
		return same(got, entries[i])
	})
}

// each calls fn for 0 to n-1, 8 at a time, and fails with the errors.
func (b *bundle) each(n int, fn func(i int) error) {
	b.t.Helper()
	errs := make([]error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = fn(i)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		b.t.Fatal(err)
	}
}

func (s *suite) testConcurrentPutsAndGets(t *testing.T) {
	b := s.setup(t)
	k := key()
	const writers, readers, rounds = 4, 4, 10
	// Every write is of its own entry; a read must return one of them
	// whole (its value with its own times), never a mix.
	written := map[string]prompt.CacheEntry{}
	var entries []prompt.CacheEntry
	for i := range writers * rounds {
		e := b.entry(k, i, b.start.Add(time.Duration(i+1)*time.Hour))
		entries = append(entries, e)
		written[string(e.Value)] = e
	}
	b.put(entries[0])
	var wg sync.WaitGroup
	errs := make(chan error, writers*rounds+readers*rounds)
	for w := range writers {
		wg.Go(func() {
			for r := range rounds {
				errs <- b.Cache.PutCached(b.ctx, entries[w*rounds+r])
			}
		})
	}
	read := func() error {
		got, err := b.Cache.GetCached(b.ctx, k)
		if err != nil {
			return err
		}
		want, ok := written[string(got.Value)]
		if !ok {
			return fmt.Errorf("read a value never written: %s", short(got.Value))
		}
		return same(got, want)
	}
	for range readers {
		wg.Go(func() {
			for range rounds {
				errs <- read()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if err := read(); err != nil {
		t.Errorf("after the writes: %v", err)
	}
}

func (s *suite) testCanceledContext(t *testing.T) {
	b := s.setup(t)
	stored := b.entry(key(), 1, time.Time{})
	b.put(stored)
	canceled, cancel := context.WithCancel(b.ctx)
	cancel()
	for _, k := range []string{stored.Key, key()} {
		if _, err := b.Cache.GetCached(canceled, k); err == nil || errors.Is(err, prompt.ErrCacheMiss) {
			t.Errorf("GetCached with a canceled context: error = %v, want an error that is not a miss", err)
		} else if !errors.Is(err, context.Canceled) {
			t.Errorf("GetCached with a canceled context: error = %v, want it to wrap context.Canceled", err)
		}
	}
	e := b.entry(key(), 2, time.Time{})
	if err := b.Cache.PutCached(canceled, e); !errors.Is(err, context.Canceled) {
		t.Errorf("PutCached with a canceled context: error = %v, want context.Canceled", err)
	}
	b.miss(e.Key)
	b.hit(stored.Key, stored)
}

func (s *suite) testPurgeExpired(t *testing.T) {
	b := s.setup(t)
	if b.PurgeExpired == nil {
		t.Skip("the adapter's database expires entries itself")
	}
	now := b.start.Add(time.Hour)
	var live []prompt.CacheEntry
	for i, expires := range []time.Time{
		now.Add(-time.Minute), now.Add(-time.Nanosecond), now, // expired by now: purged
		now.Add(time.Nanosecond), {}, // live, and never expiring: kept
	} {
		e := b.entry(key(), i, expires)
		b.put(e)
		if i >= 3 {
			live = append(live, e)
		}
	}
	for _, want := range []int{3, 0} {
		n, err := b.PurgeExpired(b.ctx, now)
		if err != nil {
			t.Fatalf("PurgeExpired: %v", err)
		}
		if n != want {
			t.Errorf("PurgeExpired = %d, want %d", n, want)
		}
	}
	b.clock.Set(now)
	for _, e := range live {
		b.hit(e.Key, e)
	}
}
