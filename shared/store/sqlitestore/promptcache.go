package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/videoai/mediatasks/shared/prompt"
)

var _ prompt.Cache = (*Store)(nil)

// promptCacheComponent names the prompt cache's schema in the shared
// database.
const promptCacheComponent = "prompt_cache"

// promptCacheMigrations are append-only: a released step is never edited.
// An entry's expires_at is NULL when it never expires. The table keeps its
// rowid: values run to 64 KiB, too large for a WITHOUT ROWID table's
// pages, and the purge deletes by rowid.
var promptCacheMigrations = []string{
	`CREATE TABLE prompt_cache (
		key        TEXT PRIMARY KEY,
		value      BLOB NOT NULL,
		created_at INTEGER NOT NULL,
		expires_at INTEGER
	)`,
	// Only entries that expire are ever purged, so only they are indexed.
	`CREATE INDEX prompt_cache_by_expiry ON prompt_cache (expires_at) WHERE expires_at IS NOT NULL`,
}

// The last write wins: a put replaces the whole entry.
const putPromptSQL = `INSERT INTO prompt_cache (key, value, created_at, expires_at) VALUES (?, ?, ?, ?)
	ON CONFLICT (key) DO UPDATE SET value = excluded.value, created_at = excluded.created_at,
		expires_at = excluded.expires_at`

// An entry is live while now < expires_at; the last argument is now.
const getPromptSQL = `SELECT value, created_at, expires_at FROM prompt_cache
	WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)`

// promptState is the store's part for the prompt cache: its statements,
// prepared once (a cache read is as frequent as a task read).
type promptState struct {
	put *sql.Stmt // on the writer
	get *sql.Stmt // on the read pool
}

// initPromptCache applies the prompt cache's migrations and prepares its
// statements; New calls it.
func (s *Store) initPromptCache(ctx context.Context) error {
	if err := s.db.Migrate(ctx, promptCacheComponent, promptCacheMigrations); err != nil {
		return fmt.Errorf("prompt cache: %w", err)
	}
	var err error
	if s.prompts.put, err = s.db.PrepareWrite(ctx, putPromptSQL); err != nil {
		return fmt.Errorf("prompt cache: %w", err)
	}
	if s.prompts.get, err = s.db.Read.PrepareContext(ctx, getPromptSQL); err != nil {
		return fmt.Errorf("prompt cache: %w", err)
	}
	return nil
}

// GetCached returns the entry under key unless it has expired by the
// store's clock; an expired row reads as a miss until it is purged.
func (s *Store) GetCached(ctx context.Context, key string) (prompt.CacheEntry, error) {
	if err := prompt.CheckCacheKey(key); err != nil {
		return prompt.CacheEntry{}, fmt.Errorf("get cached prompt: %w", err)
	}
	e := prompt.CacheEntry{Key: key}
	var createdAt int64
	var expiresAt sql.NullInt64
	err := s.prompts.get.QueryRowContext(ctx, key, nanos(s.now())).Scan(&e.Value, &createdAt, &expiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return prompt.CacheEntry{}, fmt.Errorf("get cached prompt %s: %w", key, prompt.ErrCacheMiss)
	}
	if err != nil {
		return prompt.CacheEntry{}, fmt.Errorf("get cached prompt %s: %w", key, err)
	}
	e.CreatedAt = fromNanos(createdAt)
	if expiresAt.Valid {
		e.ExpiresAt = fromNanos(expiresAt.Int64)
	}
	return e, nil
}

// PutCached stores the entry through the single writer. The write is
// relaxed (sqlitedb.WriteRelaxed): an entry lost to a power failure is a
// miss, and its result is computed again, so a cache put alone does not
// wait for a sync of the log.
func (s *Store) PutCached(ctx context.Context, e prompt.CacheEntry) error {
	if err := e.Check(); err != nil {
		return fmt.Errorf("put cached prompt: %w", err)
	}
	var expiresAt any // NULL: never
	if !e.ExpiresAt.IsZero() {
		expiresAt = e.ExpiresAt.UnixNano()
	}
	err := s.db.WriteRelaxed(ctx, func(tx *sql.Tx) error {
		_, err := tx.Stmt(s.prompts.put).Exec(e.Key, e.Value, nanos(e.CreatedAt), expiresAt)
		return err
	})
	if err != nil {
		return fmt.Errorf("put cached prompt %s: %w", e.Key, err)
	}
	return nil
}

// PurgeExpiredPrompts deletes the cache entries that had expired by now
// (ExpiresAt <= now) and says how many; entries that never expire stay.
// A sweeper calls it, as it calls PurgeExpired.
func (s *Store) PurgeExpiredPrompts(ctx context.Context, now time.Time) (int, error) {
	n, err := s.deleteInChunks(ctx, `DELETE FROM prompt_cache WHERE rowid IN (
		SELECT rowid FROM prompt_cache WHERE expires_at <= ? LIMIT ?)`, nanos(now))
	if err != nil {
		return n, fmt.Errorf("purge expired prompt cache entries: %w", err)
	}
	return n, nil
}
