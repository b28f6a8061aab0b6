package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/videoai/mediatasks/shared/auth"
	"github.com/videoai/mediatasks/shared/task"
)

// CreateAPIKey stores a key's record. A key whose id or hash is taken is
// refused with task.ErrDuplicateID.
func (s *Store) CreateAPIKey(ctx context.Context, k auth.APIKey) error {
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO api_keys (id, user_id, hash, created_at) VALUES (?, ?, ?, ?)`,
			k.ID, k.UserID, k.Hash, nanos(k.CreatedAt))
		if isConstraint(err) {
			return task.ErrDuplicateID
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create api key %s: %w", k.ID, err)
	}
	return nil
}

// APIKeyByHash returns the key stored with that hash, or auth.ErrKeyNotFound.
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (*auth.APIKey, error) {
	k := auth.APIKey{Hash: hash}
	var createdAt int64
	err := s.db.Read.QueryRowContext(ctx, `SELECT id, user_id, created_at FROM api_keys WHERE hash = ?`, hash).
		Scan(&k.ID, &k.UserID, &createdAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, auth.ErrKeyNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("look up api key: %w", err)
	}
	k.CreatedAt = fromNanos(createdAt)
	return &k, nil
}

// CountAPIKeys counts the stored keys (the server makes a first key when
// there is none).
func (s *Store) CountAPIKeys(ctx context.Context) (int, error) {
	var n int
	if err := s.db.Read.QueryRowContext(ctx, `SELECT count(*) FROM api_keys`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count api keys: %w", err)
	}
	return n, nil
}
