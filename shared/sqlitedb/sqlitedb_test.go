package sqlitedb_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/sqlitedb"
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
	wg.Wait()
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

// The checkpointer beside the writer copies committed pages from the WAL
// into the database file.
func TestCheckpointerMovesTheWALIntoTheDatabase(t *testing.T) {
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
	before := fileSize(t, path)
	if err := db.Write(ctx, func(tx *sql.Tx) error {
		for i := range 2000 {
			if _, err := tx.Exec(`INSERT INTO items (id, v) VALUES (?, ?)`, i, strings.Repeat("x", 200)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for fileSize(t, path) < before+400_000 {
		if time.Now().After(deadline) {
			t.Fatalf("database file still %d bytes: the WAL was not checkpointed", fileSize(t, path))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
