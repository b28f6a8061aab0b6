package sqlitedb_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/sqlitedb"
	"github.com/videoai/mediatasks/shared/storage"
)

func setup(t *testing.T) *sqlitedb.DB {
	t.Helper()
	db, err := sqlitedb.Open(filepath.Join(t.TempDir(), "test.db"), sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background(), "test", []string{`CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT NOT NULL)`}); err != nil {
		t.Fatal(err)
	}
	return db
}

// A failing write in a group undoes only itself; the others commit.
func TestGroupedWritesFailAlone(t *testing.T) {
	t.Parallel()
	db := setup(t)
	ctx := context.Background()
	// Hold the writer until every write below is waiting, so that they
	// share commits.
	release := make(chan struct{})
	held := make(chan error, 1)
	go func() { held <- db.Write(ctx, func(*sql.Tx) error { <-release; return nil }) }()
	before := db.Commits()
	var wg sync.WaitGroup
	errs := make([]error, 200)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.Write(ctx, func(tx *sql.Tx) error {
				if _, err := tx.Exec(`INSERT INTO items (id, v) VALUES (?, 'x')`, i); err != nil {
					return err
				}
				if i%3 == 0 {
					return errors.New("refused")
				}
				return nil
			})
		}()
	}
	// Give the 200 writers time to queue up behind the held one; a slow
	// machine only makes the groups smaller, and the bound below is loose.
	time.Sleep(200 * time.Millisecond)
	close(release)
	wg.Wait()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if commits := db.Commits() - before; commits > 50 {
		t.Errorf("200 concurrent writes took %d commits: they were not grouped", commits)
	}
	var n int
	if err := db.Read.QueryRow(`SELECT count(*) FROM items`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	want := 0
	for i, err := range errs {
		if (i%3 == 0) != (err != nil) {
			t.Fatalf("write %d: err = %v", i, err)
		}
		if err == nil {
			want++
		}
	}
	if n != want {
		t.Fatalf("rows = %d, want %d", n, want)
	}
}

// Migrations apply once, and added steps apply on the next open.
func TestMigrateIsIncremental(t *testing.T) {
	t.Parallel()
	db := setup(t)
	ctx := context.Background()
	steps := []string{`CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT NOT NULL)`, `ALTER TABLE items ADD COLUMN w TEXT`}
	if err := db.Migrate(ctx, "test", steps); err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx, "test", steps); err != nil {
		t.Fatal(err)
	}
	if err := db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO items (id, v, w) VALUES (1, 'a', 'b')`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkWrite(b *testing.B) {
	db, err := sqlitedb.Open(filepath.Join(b.TempDir(), "bench.db"), sqlitedb.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	db.Migrate(ctx, "bench", []string{`CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT NOT NULL)`})
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := db.Write(ctx, func(tx *sql.Tx) error {
				_, err := tx.Exec(`INSERT INTO items (v) VALUES ('payload payload payload')`)
				return err
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// Sustained writes keep the WAL bounded: the writer checkpoints it.
func TestWALStaysBoundedUnderSustainedWrites(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "test.db")
	db, err := sqlitedb.Open(path, sqlitedb.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if err := db.Migrate(ctx, "test", []string{`CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, v BLOB NOT NULL)`}); err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 4096)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 2500 { // 8 x 2500 x 4 KiB: 80 MiB written, checkpointed every 32 MiB
				if err := db.Write(ctx, func(tx *sql.Tx) error {
					_, err := tx.Exec(`INSERT INTO items (v) VALUES (?)`, payload)
					return err
				}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if wal := fileSize(t, path+"-wal"); wal > 48<<20 {
		t.Fatalf("WAL is %d MiB after 80 MiB of writes: it is not being checkpointed", wal>>20)
	}
}

func TestWriteAfterCloseIsRefused(t *testing.T) {
	t.Parallel()
	db, err := sqlitedb.Open(filepath.Join(t.TempDir(), "test.db"), sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 20)
	for range 20 {
		go func() { done <- db.Write(context.Background(), func(*sql.Tx) error { return nil }) }()
	}
	for range 20 {
		select {
		case err := <-done:
			if !errors.Is(err, sqlitedb.ErrClosed) {
				t.Fatalf("write after close: err = %v, want ErrClosed", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a write after close hangs")
		}
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

func TestPanickingWriteFailsAlone(t *testing.T) {
	t.Parallel()
	db := setup(t)
	ctx := context.Background()
	err := db.Write(ctx, func(tx *sql.Tx) error {
		tx.Exec(`INSERT INTO items (id, v) VALUES (1, 'x')`)
		panic("boom")
	})
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("err = %v, want the panic as an error", err)
	}
	if err := db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO items (id, v) VALUES (1, 'y')`)
		return err
	}); err != nil {
		t.Fatalf("the writer did not survive the panic: %v", err)
	}
}

// A data folder's name may hold characters that URIs give a meaning to.
func TestPathsWithURICharacters(t *testing.T) {
	t.Parallel()
	for name, dir := range map[string]string{"question mark": "a?b", "hash": "a#b", "percent": "a%20b", "space": "a b"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			folder := filepath.Join(t.TempDir(), dir)
			if err := os.Mkdir(folder, 0o700); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(folder, "test.db")
			db, err := sqlitedb.Open(path, sqlitedb.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var mode string
			if err := db.Read.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
				t.Fatalf("journal mode %q, %v: the pragmas were lost", mode, err)
			}
			if err := db.Migrate(context.Background(), "test", []string{`CREATE TABLE t (x)`}); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("the database is not at %s: %v", path, err)
			}
		})
	}
}

func TestMigrateRefusesANewerSchema(t *testing.T) {
	t.Parallel()
	db := setup(t) // "test" at version 1
	err := db.Migrate(context.Background(), "test", nil)
	if err == nil || !strings.Contains(err.Error(), "newer release") {
		t.Fatalf("err = %v, want a refusal", err)
	}
}

// Relaxed writes commit like any other, alone or beside durable ones, and
// the writer's connection is back to synchronous=FULL for the durable
// writes that follow.
func TestRelaxedWrites(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "test.db")
	db, err := sqlitedb.Open(path, sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if err := db.Migrate(ctx, "test", []string{`CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT NOT NULL)`}); err != nil {
		t.Fatal(err)
	}
	insert := func(v string) func(*sql.Tx) error {
		return func(tx *sql.Tx) error { _, err := tx.Exec(`INSERT INTO items (v) VALUES (?)`, v); return err }
	}
	synchronous := func() int {
		var mode int
		if err := db.Write(ctx, func(tx *sql.Tx) error { return tx.QueryRow(`PRAGMA synchronous`).Scan(&mode) }); err != nil {
			t.Fatal(err)
		}
		return mode
	}
	var relaxedMode int
	if err := db.WriteRelaxed(ctx, func(tx *sql.Tx) error {
		if err := insert("relaxed")(tx); err != nil {
			return err
		}
		return tx.QueryRow(`PRAGMA synchronous`).Scan(&relaxedMode)
	}); err != nil {
		t.Fatal(err)
	}
	if relaxedMode != 1 {
		t.Fatalf("a relaxed write alone ran with synchronous=%d, want 1 (NORMAL: no sync of its own)", relaxedMode)
	}
	if mode := synchronous(); mode != 2 {
		t.Fatalf("a durable write after a relaxed one ran with synchronous=%d, want 2 (FULL)", mode)
	}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			write := db.Write
			if i%2 == 0 {
				write = db.WriteRelaxed
			}
			if err := write(ctx, insert(fmt.Sprint(i))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if mode := synchronous(); mode != 2 {
		t.Fatalf("synchronous=%d after mixed groups, want 2 (FULL)", mode)
	}
	var n int
	if err := db.Read.QueryRow(`SELECT count(*) FROM items`).Scan(&n); err != nil || n != 51 {
		t.Fatalf("%d rows (%v), want 51", n, err)
	}
	// A relaxed write's failure is its own, as any write's is.
	if err := db.WriteRelaxed(ctx, func(tx *sql.Tx) error { return errors.New("refused") }); err == nil {
		t.Fatal("a failing relaxed write reported success")
	}
}

// A write into a full database fails as storage.ErrFull and stores
// nothing; once there is room it goes through.
func TestAFullDatabaseIsStorageFull(t *testing.T) {
	t.Parallel()
	db, err := sqlitedb.Open(filepath.Join(t.TempDir(), "full.db"), sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	exec := func(q string) error {
		return db.Write(ctx, func(tx *sql.Tx) error { _, err := tx.Exec(q); return err })
	}
	if err := exec(`CREATE TABLE t (b BLOB)`); err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(ctx); err != nil || db.StorageFault() != nil {
		t.Fatalf("ping before: %v, %v", err, db.StorageFault())
	}
	var pages int
	if err := db.Read.QueryRow(`PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if err := exec(fmt.Sprintf(`PRAGMA max_page_count = %d`, pages)); err != nil { // not one page more
		t.Fatal(err)
	}
	err = exec(`INSERT INTO t VALUES (zeroblob(1000000))`)
	if !errors.Is(err, storage.ErrFull) || !storage.Fault(err) {
		t.Fatalf("an insert past the limit: %v; want storage.ErrFull", err)
	}
	// Down, and still down after a commit that writes nothing.
	if err := db.Write(ctx, func(*sql.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if f := db.StorageFault(); !errors.Is(f, storage.ErrFull) || db.StorageDowns() != 1 {
		t.Fatalf("storage fault after the failed insert: %v (downs %d)", f, db.StorageDowns())
	}
	if err := db.Ping(ctx); !errors.Is(err, storage.ErrFull) {
		t.Fatalf("ping of a full database: %v", err)
	}
	var n int
	if err := db.Read.QueryRow(`SELECT count(*) FROM t`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("rows after the failed insert: %d, %v", n, err)
	}
	if err := exec(`PRAGMA max_page_count = 1073741823`); err != nil {
		t.Fatal(err)
	}
	// Ping's own write finds the room.
	if err := db.Ping(ctx); err != nil || db.StorageFault() != nil {
		t.Fatalf("ping with room again: %v, %v", err, db.StorageFault())
	}
	if err := exec(`INSERT INTO t VALUES (zeroblob(1000000))`); err != nil {
		t.Errorf("an insert with room again: %v", err)
	}
}
