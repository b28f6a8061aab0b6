package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/videoai/mediatasks/shared/task"
)

type idempotencyRow struct {
	rec     *task.IdempotencyRecord
	headers any
}

func encodeIdempotency(rec *task.IdempotencyRecord) (idempotencyRow, error) {
	r := idempotencyRow{rec: rec}
	if rec.Headers != nil {
		h, err := jsonText(rec.Headers)
		if err != nil {
			return r, fmt.Errorf("encode idempotency record %s: %w", rec.Key, err)
		}
		r.headers = h
	}
	return r, nil
}

// putIdempotencySQL inserts a record, or replaces one that expired before
// the last argument; a live record is left alone (no row changes).
const putIdempotencySQL = `INSERT INTO idempotency_records
	(user_id, key, request_hash, status_code, headers, body, created_at, expires_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (user_id, key) DO UPDATE SET request_hash = excluded.request_hash,
		status_code = excluded.status_code, headers = excluded.headers, body = excluded.body,
		created_at = excluded.created_at, expires_at = excluded.expires_at
	WHERE idempotency_records.expires_at < ?`

// putIdempotency inserts the record, or replaces one that expired before
// now; a live record for the key refuses it.
func putIdempotency(tx *sql.Tx, prepared *sql.Stmt, r idempotencyRow, now time.Time) error {
	rec := r.rec
	res, err := tx.Stmt(prepared).Exec(rec.UserID, rec.Key, rec.RequestHash, rec.StatusCode, r.headers, rec.Body,
		nanos(rec.CreatedAt), nanos(rec.ExpiresAt), nanos(now))
	if err != nil {
		return fmt.Errorf("put idempotency record %s: %w", rec.Key, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("put idempotency record %s: %w", rec.Key, err)
	}
	if n == 0 {
		return fmt.Errorf("idempotency key %s: %w", rec.Key, task.ErrIdempotencyKeyExists)
	}
	return nil
}

// GetIdempotency returns the user's live record for key. A record expires
// once its ExpiresAt is before now.
func (s *Store) GetIdempotency(ctx context.Context, userID, key string) (*task.IdempotencyRecord, error) {
	rec := task.IdempotencyRecord{UserID: userID, Key: key}
	var headers sql.NullString
	var createdAt, expiresAt int64
	err := s.db.Read.QueryRowContext(ctx, `SELECT request_hash, status_code, headers, body, created_at, expires_at
		FROM idempotency_records WHERE user_id = ? AND key = ? AND expires_at >= ?`,
		userID, key, nanos(s.now())).
		Scan(&rec.RequestHash, &rec.StatusCode, &headers, &rec.Body, &createdAt, &expiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("get idempotency record %s: %w", key, task.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get idempotency record %s: %w", key, err)
	}
	if headers.Valid {
		if err := json.Unmarshal([]byte(headers.String), &rec.Headers); err != nil {
			return nil, fmt.Errorf("decode idempotency record %s: %w", key, err)
		}
	}
	rec.CreatedAt, rec.ExpiresAt = fromNanos(createdAt), fromNanos(expiresAt)
	return &rec, nil
}

// PutIdempotency stores the record unless a live one holds its key.
func (s *Store) PutIdempotency(ctx context.Context, rec task.IdempotencyRecord) error {
	r, err := encodeIdempotency(&rec)
	if err != nil {
		return err
	}
	now := s.now()
	return s.db.Write(ctx, func(tx *sql.Tx) error { return putIdempotency(tx, s.putIdempotency, r, now) })
}

// PurgeExpired deletes the idempotency records that expired before now and
// says how many; the sweeper calls it.
func (s *Store) PurgeExpired(ctx context.Context, now time.Time) (int, error) {
	n, err := s.deleteInChunks(ctx, `DELETE FROM idempotency_records WHERE rowid IN (
		SELECT rowid FROM idempotency_records WHERE expires_at < ? LIMIT ?)`, nanos(now))
	if err != nil {
		return n, fmt.Errorf("purge expired idempotency records: %w", err)
	}
	return n, nil
}
