package sqlitewaits_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/videoai/mediatasks/shared/callback"
	"github.com/videoai/mediatasks/shared/callback/sqlitewaits"
	"github.com/videoai/mediatasks/shared/callback/waitstest"
	"github.com/videoai/mediatasks/shared/sqlitedb"
)

func TestConformance(t *testing.T) {
	waitstest.Run(t, func(t *testing.T) callback.Waits {
		db, err := sqlitedb.Open(filepath.Join(t.TempDir(), "waits.db"), sqlitedb.Options{Synchronous: "NORMAL"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		w, err := sqlitewaits.New(context.Background(), db)
		if err != nil {
			t.Fatal(err)
		}
		return w
	})
}
