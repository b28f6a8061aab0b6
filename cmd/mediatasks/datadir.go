package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/videoai/mediatasks/shared/sqlitedb"
	"github.com/videoai/mediatasks/shared/store/sqlitestore"
	"github.com/videoai/mediatasks/shared/webhook"
)

// The data folder's layout.
const (
	dbFile         = "mediatasks.db"
	blobDir        = "blobs"
	signingKeyFile = "signing.key"
	apiKeyFile     = "api-key"
	signingKeySize = 32
)

// dataDir is an opened data folder: the database and the task store on
// it, which raises deliveries after each commit that made webhook
// deliveries.
type dataDir struct {
	path       string
	db         *sqlitedb.DB
	store      *sqlitestore.Store
	deliveries *webhook.Signal
}

// openData creates the data folder if needed (mode 0700: it holds the
// database and secrets) and opens its database and task store.
func openData(ctx context.Context, path, synchronous string, log *slog.Logger) (*dataDir, error) {
	if path == "" {
		return nil, usagef("the data folder must not be empty")
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	dbPath := filepath.Join(path, dbFile)
	// Made empty (a valid database) with mode 0600 first: SQLite gives
	// its WAL and shared-memory files the database file's mode.
	if f, err := os.OpenFile(dbPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("create database file: %w", err)
	}
	db, err := sqlitedb.Open(dbPath, sqlitedb.Options{Synchronous: synchronous, Log: log})
	if err != nil {
		return nil, err
	}
	secret, err := signingKey(path)
	if err != nil {
		db.Close()
		return nil, err
	}
	deliveries := webhook.NewSignal()
	st, err := sqlitestore.New(ctx, db, sqlitestore.Options{OnDeliveries: deliveries.Notify, CursorKey: derivedKey(secret, "listing cursors")})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &dataDir{path: path, db: db, store: st, deliveries: deliveries}, nil
}

func (d *dataDir) Close() error { return d.db.Close() }

// derivedKey is a key of its own for one use of the data folder's secret.
func derivedKey(secret []byte, use string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("mediatasks " + use))
	return m.Sum(nil)
}

// signingKey returns the secret that signs file URLs, made once per data
// folder (32 random bytes, mode 0600) so that URLs stay valid across
// restarts.
func signingKey(dir string) ([]byte, error) {
	path := filepath.Join(dir, signingKeyFile)
	for range 2 {
		b, err := os.ReadFile(path)
		if err == nil {
			if len(b) != signingKeySize {
				return nil, fmt.Errorf("signing key %s: %d bytes, want %d (delete it to make a new one; signed URLs already given out stop working)", path, len(b), signingKeySize)
			}
			return b, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("read signing key: %w", err)
		}
		key := make([]byte, signingKeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("make signing key: %w", err)
		}
		err = writeNew(path, key)
		if errors.Is(err, fs.ErrExist) {
			continue // another process made it first: read theirs
		}
		if err != nil {
			return nil, fmt.Errorf("write signing key: %w", err)
		}
		return key, nil
	}
	return nil, fmt.Errorf("signing key %s: neither readable nor creatable", path)
}

// writeNew writes a new file of mode 0600 (fs.ErrExist when there is
// one), complete and synced, or not at all.
func writeNew(path string, data []byte) error {
	tmp, err := writeTemp(path, data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	// A hard link fails when path exists, unlike a rename: the first
	// writer wins and nobody sees a partial file.
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fs.ErrExist
		}
		return err
	}
	return syncDir(filepath.Dir(path))
}

// writeReplace writes a file of mode 0600, replacing any there.
func writeReplace(path string, data []byte) error {
	tmp, err := writeTemp(path, data)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

func writeTemp(path string, data []byte) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return "", err
	}
	// CreateTemp makes the file 0600 already; say so for the reader.
	err = errors.Join(f.Chmod(0o600), write(f, data), f.Sync(), f.Close())
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

func write(f *os.File, data []byte) error {
	_, err := f.Write(data)
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
