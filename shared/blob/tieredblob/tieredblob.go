// Package tieredblob is the blob.Store of the one-machine server: objects
// up to a threshold (256 KiB by default) are rows of the SQLite database
// the server already has (sqliteblob), larger ones are files (fsblob).
// Most task outputs are small, and a row in the database's grouped commit
// costs far less than a file's create, sync, rename and folder sync.
//
// A key lives in exactly one tier: a put that goes to one tier then
// deletes the key from the other. Reads look in the database first. A
// crash between the two steps leaves the key in both; the database then
// wins, which is the object of whichever put wrote there (the new one
// for a small put, the old one for a large put whose delete did not
// happen): either the old object or the new, never a mix.
//
// Both tiers sign URLs with the same fsblob.Signer, so one Handler serves
// every object with one check.
package tieredblob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/videoai/mediatasks/shared/blob"
	"github.com/videoai/mediatasks/shared/blob/fsblob"
	"github.com/videoai/mediatasks/shared/blob/sqliteblob"
	"github.com/videoai/mediatasks/shared/sqlitedb"
)

var _ blob.Store = (*Store)(nil)

// DefaultThreshold is the largest object kept in the database by default.
const DefaultThreshold = 256 << 10

// Options configure a Store. The signing fields and NoSync mean what they
// mean in fsblob.Options (NoSync applies to the file tier; the database
// tier is as durable as the database is opened).
type Options struct {
	BaseURL string
	Secret  []byte
	Prefix  string
	Now     func() time.Time
	NoSync  bool
	// Threshold is the largest object, in bytes, kept in the database
	// (default DefaultThreshold); larger ones are files.
	Threshold int
}

// Store keeps small objects in the database and large ones in files.
type Store struct {
	small     *sqliteblob.Store
	large     *fsblob.Store
	signer    *fsblob.Signer
	threshold int
	keys      keyLocks
}

// New returns a Store over db and the files folder root.
func New(ctx context.Context, db *sqlitedb.DB, root string, opts Options) (*Store, error) {
	if opts.Threshold < 0 {
		return nil, fmt.Errorf("tiered blob store: negative threshold %d", opts.Threshold)
	}
	if opts.Threshold == 0 {
		opts.Threshold = DefaultThreshold
	}
	fopts := fsblob.Options{BaseURL: opts.BaseURL, Secret: opts.Secret, Prefix: opts.Prefix, Now: opts.Now, NoSync: opts.NoSync}
	signer, err := fsblob.NewSigner(fopts)
	if err != nil {
		return nil, fmt.Errorf("tiered blob store: %w", err)
	}
	large, err := fsblob.New(root, fopts)
	if err != nil {
		return nil, fmt.Errorf("tiered blob store: %w", err)
	}
	small, err := sqliteblob.New(ctx, db, sqliteblob.Options{BaseURL: opts.BaseURL, Secret: opts.Secret, Prefix: opts.Prefix, Now: opts.Now})
	if err != nil {
		return nil, fmt.Errorf("tiered blob store: %w", err)
	}
	return &Store{small: small, large: large, signer: signer, threshold: opts.Threshold}, nil
}

// Put reads up to the threshold and one byte more: what ends within it is
// stored in the database, anything longer is streamed to a file.
func (s *Store) Put(ctx context.Context, key, contentType string, r io.Reader, maxBytes int64) (blob.Object, error) {
	// Keys must suit the file tier too: where a key lives depends on the
	// size of what is put under it.
	if !fsblob.ValidKey(key) {
		return blob.Object{}, fmt.Errorf("put %q: %w", key, blob.ErrInvalidKey)
	}
	if maxBytes < 0 {
		return blob.Object{}, fmt.Errorf("put %s: negative size limit %d", key, maxBytes)
	}
	var head bytes.Buffer
	if _, err := head.ReadFrom(io.LimitReader(blob.ContextReader(ctx, r), int64(s.threshold)+1)); err != nil {
		return blob.Object{}, fmt.Errorf("put %s: read: %w", key, err)
	}
	if maxBytes > 0 && int64(head.Len()) > maxBytes {
		return blob.Object{}, fmt.Errorf("put %s: more than %d bytes: %w", key, maxBytes, blob.ErrTooLarge)
	}
	if head.Len() <= s.threshold {
		unlock := s.keys.lock(key)
		defer unlock()
		obj, err := s.small.PutBytes(ctx, key, contentType, head.Bytes())
		if err != nil {
			return blob.Object{}, err
		}
		if err := s.large.Delete(ctx, key); err != nil {
			return blob.Object{}, fmt.Errorf("put %s: remove the file it replaces: %w", key, err)
		}
		return obj, nil
	}
	// The lock is held while the file is written: a key's puts and
	// deletes must land in the order they commit in both tiers, or a put
	// to one tier and a put to the other could each delete the other's
	// object. Only puts and deletes of this same key wait.
	unlock := s.keys.lock(key)
	defer unlock()
	obj, err := s.large.Put(ctx, key, contentType, io.MultiReader(&head, r), maxBytes)
	if err != nil {
		return blob.Object{}, err
	}
	if err := s.small.Delete(ctx, key); err != nil {
		return blob.Object{}, fmt.Errorf("put %s: remove the row it replaces: %w", key, err)
	}
	return obj, nil
}

// Get opens the object from the tier that holds it. A put moving the key
// from the database to files between the two looks deletes the row after
// the file is there, and one moving it the other way deletes the file
// after the row is there: so a miss in files is checked in the database
// once more before it is a miss.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, blob.Object, error) {
	if !fsblob.ValidKey(key) {
		return nil, blob.Object{}, fmt.Errorf("get %q: %w", key, blob.ErrInvalidKey)
	}
	rc, obj, err := s.small.Get(ctx, key)
	if !errors.Is(err, blob.ErrNotFound) {
		return rc, obj, err
	}
	if rc, obj, err = s.large.Get(ctx, key); !errors.Is(err, blob.ErrNotFound) {
		return rc, obj, err
	}
	return s.small.Get(ctx, key)
}

// Stat describes the object from the tier that holds it, looking as Get
// does.
func (s *Store) Stat(ctx context.Context, key string) (blob.Object, error) {
	if !fsblob.ValidKey(key) {
		return blob.Object{}, fmt.Errorf("stat %q: %w", key, blob.ErrInvalidKey)
	}
	obj, err := s.small.Stat(ctx, key)
	if !errors.Is(err, blob.ErrNotFound) {
		return obj, err
	}
	if obj, err = s.large.Stat(ctx, key); !errors.Is(err, blob.ErrNotFound) {
		return obj, err
	}
	return s.small.Stat(ctx, key)
}

// Delete removes the key from both tiers: the database first, since
// reads look there first.
func (s *Store) Delete(ctx context.Context, key string) error {
	if !fsblob.ValidKey(key) {
		return fmt.Errorf("delete %q: %w", key, blob.ErrInvalidKey)
	}
	unlock := s.keys.lock(key)
	defer unlock()
	if err := s.small.Delete(ctx, key); err != nil {
		return err
	}
	return s.large.Delete(ctx, key)
}

// SignedURL returns the URL fsblob would: the same whichever tier holds
// the object, or will.
func (s *Store) SignedURL(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if !fsblob.ValidKey(key) {
		return "", fmt.Errorf("sign %q: %w", key, blob.ErrInvalidKey)
	}
	return s.signer.URL(key, ttl)
}

// Handler serves signed URLs of both tiers, as fsblob's Handler does (the
// same check, headers, ETag and ranges). Mount it at Prefix.
func (s *Store) Handler() http.Handler { return s.signer.Handler(fsblob.ValidKey, s.Get) }

// Ping checks both tiers.
func (s *Store) Ping(ctx context.Context) error {
	return errors.Join(s.small.Ping(ctx), s.large.Ping(ctx))
}

// keyLocks serialises the puts and deletes of each key within the process,
// holding a lock only while some caller uses that key.
type keyLocks struct {
	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	sync.Mutex
	users int
}

func (k *keyLocks) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyLock{}
	}
	l := k.locks[key]
	if l == nil {
		l = &keyLock{}
		k.locks[key] = l
	}
	l.users++
	k.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		k.mu.Lock()
		if l.users--; l.users == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}

// DeleteBefore removes up to limit objects under prefix last written
// before the time, from both tiers, and says how many it removed.
func (s *Store) DeleteBefore(ctx context.Context, prefix string, before time.Time, limit int) (int, error) {
	n, err := s.small.DeleteBefore(ctx, prefix, before, limit)
	if err != nil || n >= limit {
		return n, err
	}
	m, err := s.large.DeleteBefore(ctx, prefix, before, limit-n)
	return n + m, err
}
