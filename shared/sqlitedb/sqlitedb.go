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
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"modernc.org/sqlite" // also registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/videoai/mediatasks/shared/storage"
)

// maxGroup bounds how many writes share one commit, keeping each
// transaction short.
const maxGroup = 256

// DB is an open database: a pool of read connections and one writer.
type DB struct {
	// Read is for queries; it never writes.
	Read *sql.DB

	write     *sql.DB
	savepoint [3]*sql.Stmt // SAVEPOINT, ROLLBACK TO, RELEASE: prepared once
	// full: commits sync the WAL (synchronous=FULL), except those of
	// relaxed writes only (see WriteRelaxed); relaxed: the writer's
	// connection is set for such a commit now. Only the writer uses it.
	full, relaxed bool
	requests      chan *writeRequest
	done          chan struct{}
	commits       atomic.Uint64
	writes        atomic.Uint64
	// storage follows whether writes succeed (Ping and /health say so
	// while they fail).
	storage *storage.Monitor

	// mu orders Write's hand-over against Close: once closed is set, no
	// request enters the channel, so the writer's last drain sees them all.
	mu     sync.RWMutex
	closed bool
}

type writeRequest struct {
	ctx     context.Context
	fn      func(*sql.Tx) error
	done    chan error
	relaxed bool
	// unchanged: committed while the storage was down, in a group that
	// changed no row, so that the commit wrote nothing and says nothing
	// of whether the storage can be written again. Set before done.
	unchanged bool
}

// Options tune Open.
type Options struct {
	// Synchronous is SQLite's synchronous setting: "FULL" (default: a
	// commit survives power loss) or "NORMAL" (survives a process crash).
	Synchronous string
	// ReadConns is the size of the read pool (default 4).
	ReadConns int
	// Log hears a line each time writes start or stop failing for a
	// storage fault (default slog.Default()).
	Log *slog.Logger
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
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	pragmas := []string{
		"journal_mode(WAL)",
		"synchronous(" + opts.Synchronous + ")",
		"busy_timeout(10000)",
		"foreign_keys(ON)",
		// Grouped writes run in savepoints, whose undo pages would
		// otherwise go to a temporary file: a write syscall per page.
		"temp_store(MEMORY)",
		// The writer checkpoints the WAL itself: a checkpointer beside a
		// busy writer never catches up, and the WAL would grow without
		// end. Every 8000 pages (32 MiB) rather than SQLite's 1000: each
		// checkpoint syncs the database file, and under load checkpoints
		// that often took a third of the writer's time. After a checkpoint
		// the file is cut back to this size.
		"wal_autocheckpoint(8000)",
		"journal_size_limit(67108864)",
	}
	write, err := sql.Open("sqlite", dsn(path, pragmas, "_txlock=immediate"))
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
	read, err := sql.Open("sqlite", dsn(path, append(pragmas, "query_only(1)")))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite %s for reading: %w", path, err)
	}
	read.SetMaxOpenConns(opts.ReadConns)
	read.SetMaxIdleConns(opts.ReadConns)
	db := &DB{
		Read:     read,
		write:    write,
		full:     opts.Synchronous == "FULL",
		requests: make(chan *writeRequest, maxGroup),
		done:     make(chan struct{}),
		storage: &storage.Monitor{OnChange: func(fault error, downFor time.Duration) {
			if fault != nil {
				opts.Log.Error("storage down: writes to the database fail; submits wait, workflows retry", "path", path, "err", fault)
			} else {
				opts.Log.Info("storage up again: writes to the database succeed", "path", path, "down_for", downFor.Round(time.Millisecond).String())
			}
		}},
	}
	for i, q := range []string{"SAVEPOINT w", "ROLLBACK TO w", "RELEASE w"} {
		if db.savepoint[i], err = write.Prepare(q); err != nil {
			errors.Join(read.Close(), write.Close())
			return nil, fmt.Errorf("open sqlite %s: prepare %s: %w", path, q, err)
		}
	}
	go db.writer()
	return db, nil
}

// dsn is the driver's name for the file at path: a file: URI, so that a
// path with '?', '#' or '%' in it names that file, and not another.
func dsn(path string, pragmas []string, extra ...string) string {
	q := url.Values{}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	raw := q.Encode()
	for _, e := range extra {
		raw += "&" + e
	}
	return (&url.URL{Scheme: "file", OmitHost: true, Path: path, RawQuery: raw}).String()
}

// ErrClosed: the database was closed.
var ErrClosed = errors.New("sqlite database closed")

// Write runs fn in a write transaction, possibly together with other
// writes, and returns once the transaction is durably committed (or fn's
// error, in which case nothing fn did is kept). fn must only use tx and
// must not block on anything else: other writes wait for it. A panic in fn
// is fn's error.
func (db *DB) Write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return db.write1(ctx, fn, false)
}

// WriteRelaxed is Write for a write whose loss in a power failure is
// harmless, because whoever made it makes it again (a queue's receive,
// which a lost message's redelivery repeats): when it shares its commit
// with no other kind of write, the commit does not wait for a sync of the
// WAL. It survives a crash of the process all the same, and it is durable
// once any later commit is: a WAL commit syncs the log up to it, so what
// a power loss keeps is always a prefix of the commits. On one machine
// that takes a sync off the path from a submit to its provider.
func (db *DB) WriteRelaxed(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return db.write1(ctx, fn, true)
}

func (db *DB) write1(ctx context.Context, fn func(tx *sql.Tx) error, relaxed bool) error {
	req := &writeRequest{ctx: ctx, fn: fn, done: make(chan error, 1), relaxed: relaxed}
	db.mu.RLock()
	if db.closed {
		db.mu.RUnlock()
		return ErrClosed
	}
	select {
	case db.requests <- req:
		db.mu.RUnlock()
	case <-ctx.Done():
		db.mu.RUnlock()
		return ctx.Err()
	}
	// Once handed over, the write is waited for even if ctx ends: the
	// caller must learn whether it was committed.
	err := classify(<-req.done)
	if err != nil || !req.unchanged {
		db.storage.Observe(err)
	}
	return err
}

// classify marks SQLite's storage faults as the platform's (package
// storage): out of space, I/O errors, a read-only, busy or locked
// database. The write was rolled back: nothing is half-written.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("%w: %w", storage.ErrFull, err)
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() & 0xff { // the primary code of an extended one
	case sqlite3.SQLITE_FULL:
		return fmt.Errorf("%w: %w", storage.ErrFull, err)
	case sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN:
		return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
	}
	return err
}

// Commits counts the transactions committed so far (for measuring how
// well writes are grouped).
func (db *DB) Commits() uint64 { return db.commits.Load() }

// Writes counts the writes committed so far (each Write whose function
// succeeded), for measuring how many trips to the writer a piece of work
// takes.
func (db *DB) Writes() uint64 { return db.writes.Load() }

func (db *DB) writer() {
	defer close(db.done)
	group := make([]*writeRequest, 0, maxGroup)
	for {
		req, ok := <-db.requests
		if !ok {
			return // closed, and every request before the close was answered
		}
		group = append(group[:0], req)
	fill:
		for len(group) < maxGroup {
			select {
			case req, ok := <-db.requests:
				if !ok {
					break fill
				}
				group = append(group, req)
			default:
				break fill
			}
		}
		db.commitGroup(group)
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
	if db.full {
		// The setting may only change outside a transaction, and changes
		// only when the kind of group does.
		if relaxed := allRelaxed(group); relaxed != db.relaxed {
			mode := "FULL"
			if relaxed {
				mode = "NORMAL"
			}
			if _, err := db.write.Exec("PRAGMA synchronous = " + mode); err != nil {
				fail(fmt.Errorf("set synchronous=%s: %w", mode, err))
				return
			}
			db.relaxed = relaxed
		}
	}
	tx, err := db.write.BeginTx(context.Background(), nil)
	if err != nil {
		fail(fmt.Errorf("begin write: %w", err))
		return
	}
	// While the storage is down, only a commit that changed rows shows
	// that it can be written again.
	changesBefore := int64(-1)
	if db.storage.Down() {
		if err := tx.QueryRow(`SELECT total_changes()`).Scan(&changesBefore); err != nil {
			changesBefore = -1
		}
	}
	single := len(group) == 1
	kept := 0
	for i, req := range group {
		if err := req.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if single {
			if results[i] = run(req.fn, tx); results[i] == nil {
				kept++
			}
			continue
		}
		if _, err := tx.Stmt(db.savepoint[0]).Exec(); err != nil {
			tx.Rollback()
			fail(fmt.Errorf("savepoint: %w", err))
			return
		}
		if results[i] = run(req.fn, tx); results[i] != nil {
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
		// Nothing to keep: every write answers its own error, whatever
		// the rollback says.
		tx.Rollback()
		for i, req := range group {
			req.done <- results[i]
		}
		return
	}
	unchanged := false
	if changesBefore >= 0 {
		var after int64
		unchanged = tx.QueryRow(`SELECT total_changes()`).Scan(&after) == nil && after == changesBefore
	}
	if err := tx.Commit(); err != nil {
		// SQLite may keep the transaction open after a failed commit (an
		// I/O error, a full disk): end it, or every later write fails.
		db.write.Exec("ROLLBACK")
		fail(fmt.Errorf("commit: %w", err))
		return
	}
	db.commits.Add(1)
	db.writes.Add(uint64(kept))
	for i, req := range group {
		req.unchanged = unchanged
		req.done <- results[i]
	}
}

func allRelaxed(group []*writeRequest) bool {
	for _, req := range group {
		if !req.relaxed {
			return false
		}
	}
	return true
}

// run calls fn, turning a panic into its error: fn runs on the writer
// goroutine, where nothing else would recover it.
func run(fn func(*sql.Tx) error, tx *sql.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("write panicked: %v", p)
		}
	}()
	return fn(tx)
}

// Migrate applies the named component's schema steps that are not yet
// applied, in order; steps are never edited once released, only appended.
// A database migrated by a newer release is refused.
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
		if version > len(steps) {
			return fmt.Errorf("migrate %s: the database is at schema version %d, this release knows %d: use a newer release",
				component, version, len(steps))
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
//
// While writes fail for a storage fault, Ping makes a real write (a row
// of its own, so that the commit has a page to write) and answers the
// fault until that write succeeds: a full disk is seen as soon as it is
// freed, even with nothing else to write.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.Read.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite: %w", err)
	}
	if !db.storage.Down() {
		return db.Write(ctx, func(*sql.Tx) error { return nil })
	}
	err := db.Write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`CREATE TABLE IF NOT EXISTS storage_probe (id INTEGER PRIMARY KEY, at INTEGER NOT NULL)`); err != nil {
			return err
		}
		_, err := tx.Exec(`INSERT OR REPLACE INTO storage_probe (id, at) VALUES (1, ?)`, time.Now().UnixNano())
		return err
	})
	if err != nil && !storage.Fault(err) {
		return fmt.Errorf("ping sqlite: %w", err)
	}
	return db.StorageFault()
}

// StorageFault is nil while writes succeed, and else names the storage
// fault that makes them fail and since when.
func (db *DB) StorageFault() error { return db.storage.Err() }

// StorageDowns counts the times writes started failing for a storage
// fault.
func (db *DB) StorageDowns() uint64 { return db.storage.Downs() }

// Close refuses new writes, lets the writer finish those already handed
// to it, and closes the connections. Closing twice is harmless.
func (db *DB) Close() error {
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		<-db.done
		return nil
	}
	db.closed = true
	close(db.requests)
	db.mu.Unlock()
	<-db.done
	return errors.Join(db.Read.Close(), db.write.Close())
}
