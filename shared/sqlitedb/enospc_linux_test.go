package sqlitedb_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/videoai/mediatasks/shared/sqlitedb"
	"github.com/videoai/mediatasks/shared/storage"
)

// On a real file system that runs out of space: writes fail as storage
// faults, and once space is freed they succeed again on the same
// connection. Needs to mount a tmpfs (root with CAP_SYS_ADMIN).
func TestAFullDiskIsAPauseOnARealFileSystem(t *testing.T) {
	t.Parallel()
	mnt := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=8m"); err != nil {
		t.Skipf("cannot mount a tmpfs (%v): needs root with CAP_SYS_ADMIN", err)
	}
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
	db, err := sqlitedb.Open(filepath.Join(mnt, "t.db"), sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	exec := func(q string, args ...any) error {
		return db.Write(ctx, func(tx *sql.Tx) error { _, err := tx.Exec(q, args...); return err })
	}
	if err := exec(`CREATE TABLE t (b BLOB)`); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	f.Close()
	var ferr error
	for i := 0; i < 1000 && ferr == nil; i++ {
		ferr = exec(`INSERT INTO t VALUES (randomblob(8000))`)
	}
	if !storage.Fault(ferr) {
		t.Fatalf("writes on a full disk: %v, want a storage fault", ferr)
	}
	t.Logf("on a full disk: %v", ferr)
	if err := db.Ping(ctx); !storage.Fault(err) {
		t.Fatalf("ping on a full disk: %v", err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(ctx); err != nil {
		t.Fatalf("ping once space is freed: %v", err)
	}
	if err := exec(`INSERT INTO t VALUES (randomblob(8000))`); err != nil {
		t.Fatalf("a write once space is freed: %v", err)
	}
	if errors.Is(db.StorageFault(), storage.ErrFull) {
		t.Fatal("still down")
	}
}
