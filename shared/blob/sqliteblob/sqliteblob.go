// Package sqliteblob is the blob.Store adapter on the shared SQLite
// database: each object is one row, content included, written in the
// database's own grouped, durable commits (synchronous FULL or NORMAL, as
// the database is opened). It is meant for small objects, where a row
// costs far less than a file's create, sync, rename and folder sync; the
// tiered store in shared/blob/tieredblob keeps large ones on files.
//
// Signed URLs are fsblob's (the same scheme, secret and handler), so that
// one URL format and one check serve whichever store holds an object.
package sqliteblob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/videoai/mediatasks/shared/blob"
	"github.com/videoai/mediatasks/shared/blob/fsblob"
	"github.com/videoai/mediatasks/shared/sqlitedb"
)

var _ blob.Store = (*Store)(nil)

// defaultContentType is what S3 answers for an object stored without one.
const defaultContentType = "application/octet-stream"

// migrations are the "blob" component's schema steps: append only.
//
// A rowid table, not WITHOUT ROWID: SQLite advises rowid tables for rows
// larger than a fraction of a page, which content rows are.
var migrations = []string{
	`CREATE TABLE blob_objects (
		key          TEXT PRIMARY KEY,
		content_type TEXT NOT NULL,
		size         INTEGER NOT NULL,
		sha256       TEXT NOT NULL,    -- hex
		mod_time     INTEGER NOT NULL, -- unix milliseconds
		data         BLOB NOT NULL
	);`,
}

// Options configure a Store. The signing fields mean what they mean in
// fsblob.Options.
type Options struct {
	// BaseURL is where the server that mounts Handler is reached.
	BaseURL string
	// Secret signs URLs: at least 32 random bytes, kept across restarts.
	Secret []byte
	// Prefix is the URL path Handler is mounted on (default "/files/").
	Prefix string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Store keeps objects in the blob_objects table.
type Store struct {
	db     *sqlitedb.DB
	signer *fsblob.Signer
	now    func() time.Time
	upsert *sql.Stmt // prepared once on the writer: every small output is a put
	remove *sql.Stmt
}

// New returns a Store on db, creating its table if needed.
func New(ctx context.Context, db *sqlitedb.DB, opts Options) (*Store, error) {
	signer, err := fsblob.NewSigner(fsblob.Options{BaseURL: opts.BaseURL, Secret: opts.Secret, Prefix: opts.Prefix, Now: opts.Now})
	if err != nil {
		return nil, fmt.Errorf("sqlite blob store: %w", err)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := db.Migrate(ctx, "blob", migrations); err != nil {
		return nil, fmt.Errorf("sqlite blob store: %w", err)
	}
	s := &Store{db: db, signer: signer, now: opts.Now}
	if s.upsert, err = db.PrepareWrite(ctx, `INSERT INTO blob_objects (key, content_type, size, sha256, mod_time, data)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET content_type = excluded.content_type, size = excluded.size,
			sha256 = excluded.sha256, mod_time = excluded.mod_time, data = excluded.data`); err != nil {
		return nil, fmt.Errorf("sqlite blob store: %w", err)
	}
	if s.remove, err = db.PrepareWrite(ctx, `DELETE FROM blob_objects WHERE key = ?`); err != nil {
		return nil, fmt.Errorf("sqlite blob store: %w", err)
	}
	return s, nil
}

// Put reads r whole (the row is written in one statement), then stores it
// under key, replacing any object there, once the commit is durable.
func (s *Store) Put(ctx context.Context, key, contentType string, r io.Reader, maxBytes int64) (blob.Object, error) {
	if !blob.ValidKey(key) {
		return blob.Object{}, fmt.Errorf("put %q: %w", key, blob.ErrInvalidKey)
	}
	if maxBytes < 0 {
		return blob.Object{}, fmt.Errorf("put %s: negative size limit %d", key, maxBytes)
	}
	src := blob.ContextReader(ctx, r)
	if maxBytes > 0 {
		src = io.LimitReader(src, maxBytes+1) // one byte more tells too large from just fitting
	}
	data, err := io.ReadAll(src)
	if err != nil {
		return blob.Object{}, fmt.Errorf("put %s: read: %w", key, err)
	}
	if maxBytes > 0 && int64(len(data)) > maxBytes {
		return blob.Object{}, fmt.Errorf("put %s: more than %d bytes: %w", key, maxBytes, blob.ErrTooLarge)
	}
	return s.put(ctx, key, contentType, data)
}

// PutBytes stores data under key as Put does, for a caller that already
// holds the content (the tiered store, which buffered it to choose).
func (s *Store) PutBytes(ctx context.Context, key, contentType string, data []byte) (blob.Object, error) {
	if !blob.ValidKey(key) {
		return blob.Object{}, fmt.Errorf("put %q: %w", key, blob.ErrInvalidKey)
	}
	return s.put(ctx, key, contentType, data)
}

func (s *Store) put(ctx context.Context, key, contentType string, data []byte) (blob.Object, error) {
	if contentType == "" {
		contentType = defaultContentType
	}
	sum := sha256.Sum256(data)
	obj := blob.Object{
		Key:         key,
		ContentType: contentType,
		Size:        int64(len(data)),
		SHA256:      hex.EncodeToString(sum[:]),
		ModTime:     s.now().UTC().Truncate(time.Millisecond),
	}
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Stmt(s.upsert).Exec(key, obj.ContentType, obj.Size, obj.SHA256, obj.ModTime.UnixMilli(), data)
		return err
	})
	if err != nil {
		return blob.Object{}, fmt.Errorf("put %s: %w", key, err)
	}
	return obj, nil
}

// Get reads the object's content into memory: objects here are small.
// The reader seeks, as the signed URL handler needs.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, blob.Object, error) {
	if !blob.ValidKey(key) {
		return nil, blob.Object{}, fmt.Errorf("get %q: %w", key, blob.ErrInvalidKey)
	}
	var data []byte
	obj, err := s.row(ctx, key, `SELECT content_type, size, sha256, mod_time, data FROM blob_objects WHERE key = ?`, &data)
	if err != nil {
		return nil, blob.Object{}, fmt.Errorf("get %s: %w", key, err)
	}
	return content{bytes.NewReader(data)}, obj, nil
}

// content is an in-memory object: it reads and seeks, and closing it
// frees nothing.
type content struct{ *bytes.Reader }

func (content) Close() error { return nil }

// Stat reads the object's row without its content.
func (s *Store) Stat(ctx context.Context, key string) (blob.Object, error) {
	if !blob.ValidKey(key) {
		return blob.Object{}, fmt.Errorf("stat %q: %w", key, blob.ErrInvalidKey)
	}
	obj, err := s.row(ctx, key, `SELECT content_type, size, sha256, mod_time FROM blob_objects WHERE key = ?`, nil)
	if err != nil {
		return blob.Object{}, fmt.Errorf("stat %s: %w", key, err)
	}
	return obj, nil
}

// row reads key's row by query, and its content into data unless nil.
func (s *Store) row(ctx context.Context, key, query string, data *[]byte) (blob.Object, error) {
	obj := blob.Object{Key: key}
	var ms int64
	dest := []any{&obj.ContentType, &obj.Size, &obj.SHA256, &ms}
	if data != nil {
		dest = append(dest, data)
	}
	err := s.db.Read.QueryRowContext(ctx, query, key).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return blob.Object{}, blob.ErrNotFound
	}
	if err != nil {
		return blob.Object{}, err
	}
	obj.ModTime = time.UnixMilli(ms).UTC()
	if data != nil && *data == nil {
		*data = []byte{} // an empty BLOB scans as nil
	}
	return obj, nil
}

// Delete removes the object's row; a missing key is not an error. A key
// with no row costs a read, not a trip through the writer: the tiered
// store deletes from this tier on every large put.
func (s *Store) Delete(ctx context.Context, key string) error {
	if !blob.ValidKey(key) {
		return fmt.Errorf("delete %q: %w", key, blob.ErrInvalidKey)
	}
	var one int
	err := s.db.Read.QueryRowContext(ctx, `SELECT 1 FROM blob_objects WHERE key = ?`, key).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	err = s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Stmt(s.remove).Exec(key)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// SignedURL returns the same URL fsblob would for key.
func (s *Store) SignedURL(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if !blob.ValidKey(key) {
		return "", fmt.Errorf("sign %q: %w", key, blob.ErrInvalidKey)
	}
	return s.signer.URL(key, ttl)
}

// Handler serves signed URLs as fsblob's Handler does. Mount it at Prefix.
func (s *Store) Handler() http.Handler { return s.signer.Handler(blob.ValidKey, s.Get) }

// Ping checks that the table answers.
func (s *Store) Ping(ctx context.Context) error {
	var n int
	if err := s.db.Read.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM blob_objects LIMIT 1)`).Scan(&n); err != nil {
		return fmt.Errorf("ping sqlite blob store: %w", err)
	}
	return nil
}

// DeleteBefore removes up to limit objects under prefix last written
// before the time, and says how many it removed.
func (s *Store) DeleteBefore(ctx context.Context, prefix string, before time.Time, limit int) (int, error) {
	var n int64
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM blob_objects WHERE key IN (
			SELECT key FROM blob_objects WHERE key >= ? AND key < ? AND mod_time < ? LIMIT ?)`,
			prefix, prefix+"\xff", before.UnixMilli(), limit)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete under %s: %w", prefix, err)
	}
	return int(n), nil
}
