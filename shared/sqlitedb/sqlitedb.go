// Package sqlitedb opens the embedded SQLite database (pure Go, WAL) that the
// SQLite store and queue adapters share, applies their schemas, and commits
// writes in groups.
//
// Group commit is written here by hand because database/sql and the SQLite
// driver offer none: SQLite allows one writer at a time and every commit pays
// an fsync, so concurrent writers queue up behind each other. One goroutine
// owns the write connection, takes every write waiting at that moment, runs
// each in a savepoint of one transaction (so one write's failure undoes only
// that write) and commits them with a single fsync.
package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// maxGroup bounds how many writes share one commit, keeping each
// transaction short enough that readers' WAL checkpoints keep up.
const maxGroup = 256

// DB is an open database: a pool of read connections and one writer.
type DB struct {
	// Read is for queries; it never writes.
	Read *sql.DB

	write      *sql.DB
	checkpoint *sql.DB
	savepoint  [3]*sql.Stmt // SAVEPOINT, ROLLBACK TO, RELEASE: prepared once
	requests   chan *writeRequest
	closing    chan struct{}
	done       chan struct{}
	once       sync.Once
}

type writeRequest struct {
	ctx  context.Context
	fn   func(*sql.Tx) error
	done chan error
}

// Options tune Open.
type Options struct {
	// Synchronous is SQLite's synchronous setting: "FULL" (default: a
	// commit survives power loss) or "NORMAL" (survives a process crash).
	Synchronous string
	// ReadConns is the size of the read pool (default 4).
	ReadConns int
}

// Open opens (creating if needed) the database file at path.
func Open(path string, opts Options) (*DB, error) {
	if opts.Synchronous == "" {
		opts.Synchronous = "FULL"
	}
	if opts.Synchronous != "FULL" && opts.Synchronous != "NORMAL" {
		return nil, fmt.Errorf("open sqlite: synchronous must be FULL or NORMAL, not %q", opts.Synchronous)
	}
	if opts.ReadConns <= 0 {
		opts.ReadConns = 4
	}
	pragmas := url.Values{}
	for _, p := range []string{
		"journal_mode(WAL)",
		"synchronous(" + opts.Synchronous + ")",
		"busy_timeout(10000)",
		"foreign_keys(ON)",
		// Grouped writes run in savepoints, whose undo pages would
		// otherwise go to a temporary file: a write syscall per page.
		"temp_store(MEMORY)",
	} {
		pragmas.Add("_pragma", p)
	}
	// The writer does not checkpoint the WAL into the database itself: a
	// checkpointer beside it does, so the one writer spends its time on
	// commits only.
	writeDSN := "file:" + path + "?" + pragmas.Encode() + "&_pragma=wal_autocheckpoint(0)&_txlock=immediate"
	write, err := sql.Open("sqlite", writeDSN)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	if err := write.Ping(); err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	checkpoint, err := sql.Open("sqlite", "file:"+path+"?"+pragmas.Encode())
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite %s for checkpoints: %w", path, err)
	}
	checkpoint.SetMaxOpenConns(1)
	pragmas.Add("_pragma", "query_only(1)")
	read, err := sql.Open("sqlite", "file:"+path+"?"+pragmas.Encode())
	if err != nil {
		write.Close()
		checkpoint.Close()
		return nil, fmt.Errorf("open sqlite %s for reading: %w", path, err)
	}
	read.SetMaxOpenConns(opts.ReadConns)
	read.SetMaxIdleConns(opts.ReadConns)
	db := &DB{
		Read:       read,
		write:      write,
		checkpoint: checkpoint,
		requests:   make(chan *writeRequest, maxGroup),
		closing:    make(chan struct{}),
		done:       make(chan struct{}),
	}
	for i, q := range []string{"SAVEPOINT w", "ROLLBACK TO w", "RELEASE w"} {
		if db.savepoint[i], err = write.Prepare(q); err != nil {
			db.closeConns()
			return nil, fmt.Errorf("open sqlite %s: prepare %s: %w", path, q, err)
		}
	}
	go db.writer()
	go db.checkpointer()
	return db, nil
}

// checkpointEvery is how often the checkpointer copies the WAL into the
// database. SQLite's own default (at 1000 pages) would come every second
// or so at full load; a checkpoint that finds little to do is cheap.
const checkpointEvery = 500 * time.Millisecond

// checkpointer runs passive checkpoints (they never block the writer or
// the readers) until the database closes, and a last full one then.
func (db *DB) checkpointer() {
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			// A failed passive checkpoint is retried on the next tick.
			db.checkpoint.Exec("PRAGMA wal_checkpoint(PASSIVE)")
		case <-db.closing:
			return
		}
	}
}

func (db *DB) closeConns() error {
	return errors.Join(db.Read.Close(), db.write.Close(), db.checkpoint.Close())
}

// ErrClosed: the database was closed.
var ErrClosed = errors.New("sqlite database closed")

// Write runs fn in a write transaction, possibly together with other
// writes, and returns once the transaction is durably committed (or fn's
// error, in which case nothing fn did is kept). fn must only use tx and
// must not block on anything else: other writes wait for it.
func (db *DB) Write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	req := &writeRequest{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case db.requests <- req:
	case <-db.closing:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once handed over, the write is waited for even if ctx ends: the
	// caller must learn whether it was committed.
	return <-req.done
}

func (db *DB) writer() {
	defer close(db.done)
	group := make([]*writeRequest, 0, maxGroup)
	for {
		group = group[:0]
		select {
		case req := <-db.requests:
			group = append(group, req)
		case <-db.closing:
			db.drainOnClose()
			return
		}
	fill:
		for len(group) < maxGroup {
			select {
			case req := <-db.requests:
				group = append(group, req)
			default:
				break fill
			}
		}
		db.commitGroup(group)
	}
}

func (db *DB) drainOnClose() {
	for {
		select {
		case req := <-db.requests:
			db.commitGroup([]*writeRequest{req})
		default:
			return
		}
	}
}

// commitGroup runs the group's writes in one transaction. Alone, a write
// needs no savepoint; together, each runs in its own.
func (db *DB) commitGroup(group []*writeRequest) {
	results := make([]error, len(group))
	fail := func(err error) {
		for _, req := range group {
			req.done <- err
		}
	}
	tx, err := db.write.BeginTx(context.Background(), nil)
	if err != nil {
		fail(fmt.Errorf("begin write: %w", err))
		return
	}
	single := len(group) == 1
	kept := 0
	for i, req := range group {
		if err := req.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if single {
			results[i] = req.fn(tx)
			if results[i] == nil {
				kept++
			}
			continue
		}
		if _, err := tx.Stmt(db.savepoint[0]).Exec(); err != nil {
			tx.Rollback()
			fail(fmt.Errorf("savepoint: %w", err))
			return
		}
		results[i] = req.fn(tx)
		if results[i] != nil {
			if _, err := tx.Stmt(db.savepoint[1]).Exec(); err != nil {
				tx.Rollback()
				fail(fmt.Errorf("rollback to savepoint: %w", err))
				return
			}
		} else {
			kept++
		}
		if _, err := tx.Stmt(db.savepoint[2]).Exec(); err != nil {
			tx.Rollback()
			fail(fmt.Errorf("release savepoint: %w", err))
			return
		}
	}
	if kept == 0 {
		err = tx.Rollback()
	} else {
		err = tx.Commit()
	}
	if err != nil {
		fail(fmt.Errorf("commit: %w", err))
		return
	}
	for i, req := range group {
		req.done <- results[i]
	}
}

// Migrate applies the named component's schema steps that are not yet
// applied, in order; steps are never edited once released, only appended.
func (db *DB) Migrate(ctx context.Context, component string, steps []string) error {
	return db.Write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
			component TEXT PRIMARY KEY, version INTEGER NOT NULL)`); err != nil {
			return fmt.Errorf("migrate %s: %w", component, err)
		}
		var version int
		err := tx.QueryRow(`SELECT version FROM schema_migrations WHERE component = ?`, component).Scan(&version)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("migrate %s: read version: %w", component, err)
		}
		for i := version; i < len(steps); i++ {
			if _, err := tx.Exec(steps[i]); err != nil {
				return fmt.Errorf("migrate %s: step %d: %w", component, i+1, err)
			}
		}
		if _, err := tx.Exec(`INSERT INTO schema_migrations (component, version) VALUES (?, ?)
			ON CONFLICT (component) DO UPDATE SET version = excluded.version`, component, len(steps)); err != nil {
			return fmt.Errorf("migrate %s: record version: %w", component, err)
		}
		return nil
	})
}

// PrepareWrite prepares a statement on the write connection once, for
// writes that run it often: inside Write, tx.Stmt(stmt) reuses the compiled
// statement instead of compiling the SQL again on every call.
func (db *DB) PrepareWrite(ctx context.Context, query string) (*sql.Stmt, error) {
	stmt, err := db.write.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("prepare write: %w", err)
	}
	return stmt, nil
}

// Ping checks both connections.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.Read.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite: %w", err)
	}
	return db.Write(ctx, func(*sql.Tx) error { return nil })
}

// Close stops the writer after the writes already handed to it, and closes
// the connections.
func (db *DB) Close() error {
	db.once.Do(func() { close(db.closing) })
	select {
	case <-db.done:
	case <-time.After(30 * time.Second):
	}
	return db.closeConns()
}
