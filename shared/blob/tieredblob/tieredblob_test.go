package tieredblob_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/blob"
	"github.com/videoai/mediatasks/shared/blob/blobtest"
	"github.com/videoai/mediatasks/shared/blob/fsblob"
	"github.com/videoai/mediatasks/shared/blob/tieredblob"
	"github.com/videoai/mediatasks/shared/sqlitedb"
)

var secret = bytes.Repeat([]byte{7}, 32)

type bundle struct {
	ctx   context.Context
	db    *sqlitedb.DB
	files *fsblob.Store // the file tier's folder, seen on its own
	srv   *httptest.Server
}

// setup builds a tiered store on a fresh database and folder whose Handler
// is served by an httptest server at the store's BaseURL.
func setup(t *testing.T, opts tieredblob.Options) (*tieredblob.Store, *bundle) {
	t.Helper()
	dir := t.TempDir()
	db, err := sqlitedb.Open(filepath.Join(dir, "data.db"), sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	opts.BaseURL, opts.Secret = srv.URL, secret
	s, err := tieredblob.New(context.Background(), db, filepath.Join(dir, "files"), opts)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/files/", s.Handler())
	files, err := fsblob.New(filepath.Join(dir, "files"), fsblob.Options{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	return s, &bundle{ctx: context.Background(), db: db, files: files, srv: srv}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	blobtest.Run(t, func(t *testing.T) blobtest.Adapter {
		s, _ := setup(t, tieredblob.Options{})
		return blobtest.Adapter{Store: s}
	})
}

// With a tiny threshold, nearly every case of the suite is in files.
func TestConformanceSmallThreshold(t *testing.T) {
	t.Parallel()
	blobtest.Run(t, func(t *testing.T) blobtest.Adapter {
		s, _ := setup(t, tieredblob.Options{Threshold: 4})
		return blobtest.Adapter{Store: s}
	})
}

// where says which tiers hold key: "db", "files", or both.
func (b *bundle) where(t *testing.T, key string) string {
	t.Helper()
	var in []string
	var one int
	switch err := b.db.Read.QueryRow(`SELECT 1 FROM blob_objects WHERE key = ?`, key).Scan(&one); {
	case err == nil:
		in = append(in, "db")
	case !errors.Is(err, sql.ErrNoRows):
		t.Fatal(err)
	}
	switch _, err := b.files.Stat(b.ctx, key); {
	case err == nil:
		in = append(in, "files")
	case !errors.Is(err, blob.ErrNotFound):
		t.Fatal(err)
	}
	return fmt.Sprint(in)
}

// An object of up to the threshold is a row, a longer one a file, and a
// key is only ever in one of them.
func TestPlacement(t *testing.T) {
	t.Parallel()
	s, b := setup(t, tieredblob.Options{Threshold: 1024})
	tests := []struct {
		size     int
		maxBytes int64
		want     string
	}{
		{size: 0, want: "[db]"},
		{size: 1024, want: "[db]"},
		{size: 1025, want: "[files]"},
		{size: 10, want: "[db]"},
		{size: 5000, maxBytes: 5000, want: "[files]"},
		{size: 1024, maxBytes: 1024, want: "[db]"},
	}
	for _, tt := range tests {
		body := bytes.Repeat([]byte{'x'}, tt.size)
		if _, err := s.Put(b.ctx, "k", "text/plain", bytes.NewReader(body), tt.maxBytes); err != nil {
			t.Fatalf("put %d bytes: %v", tt.size, err)
		}
		if got := b.where(t, "k"); got != tt.want {
			t.Errorf("after a put of %d bytes: in %s, want %s", tt.size, got, tt.want)
		}
	}
	// A refused put, in either tier's range, leaves the object it would
	// have replaced where it was.
	for _, size := range []int{100, 5000} {
		if _, err := s.Put(b.ctx, "k", "text/plain", bytes.NewReader(make([]byte, size)), 50); !errors.Is(err, blob.ErrTooLarge) {
			t.Fatalf("put %d bytes, max 50: err = %v", size, err)
		}
		if got := b.where(t, "k"); got != "[db]" {
			t.Errorf("after a refused put of %d bytes: in %s", size, got)
		}
	}
	if err := s.Delete(b.ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if got := b.where(t, "k"); got != "[]" {
		t.Errorf("after delete: in %s", got)
	}
}

// Puts of one key racing across the threshold leave it in one tier, holding
// one of the objects put.
func TestConcurrentReplaceAcrossTiers(t *testing.T) {
	t.Parallel()
	s, b := setup(t, tieredblob.Options{Threshold: 1024})
	bodies := [][]byte{bytes.Repeat([]byte{'s'}, 100), bytes.Repeat([]byte{'L'}, 4096)}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 20 {
				if _, err := s.Put(b.ctx, "k", "text/plain", bytes.NewReader(bodies[i%2]), 0); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := b.where(t, "k"); got != "[db]" && got != "[files]" {
		t.Fatalf("after racing puts: in %s", got)
	}
	rc, obj, err := s.Get(b.ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, _ := io.ReadAll(rc)
	if !bytes.Equal(got, bodies[0]) && !bytes.Equal(got, bodies[1]) || obj.Size != int64(len(got)) {
		t.Errorf("after racing puts: %d bytes, object %+v", len(got), obj)
	}
}

// The handler serves both tiers as fsblob serves files: type, length,
// ETag, ranges, conditional requests.
func TestHandlerBothTiers(t *testing.T) {
	t.Parallel()
	s, b := setup(t, tieredblob.Options{Threshold: 1024})
	for _, size := range []int{100, 4096} {
		key := fmt.Sprintf("out/%d.bin", size)
		body := make([]byte, size)
		for i := range body {
			body[i] = byte(i)
		}
		obj, err := s.Put(b.ctx, key, "image/png", bytes.NewReader(body), 0)
		if err != nil {
			t.Fatal(err)
		}
		u, err := s.SignedURL(b.ctx, key, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		resp := fetch(t, http.MethodHead, u, nil)
		if resp.StatusCode != http.StatusOK || resp.ContentLength != int64(size) || resp.Header.Get("Content-Type") != "image/png" ||
			resp.Header.Get("ETag") != `"`+obj.SHA256+`"` || resp.Header.Get("Content-Security-Policy") != "sandbox" {
			t.Errorf("%d bytes: HEAD: status %d, length %d, headers %v", size, resp.StatusCode, resp.ContentLength, resp.Header)
		}
		ranged := fetch(t, http.MethodGet, u, http.Header{"Range": {"bytes=10-19"}})
		got, _ := io.ReadAll(ranged.Body)
		if ranged.StatusCode != http.StatusPartialContent || !bytes.Equal(got, body[10:20]) {
			t.Errorf("%d bytes: range: status %d, %v", size, ranged.StatusCode, got)
		}
		if again := fetch(t, http.MethodGet, u, http.Header{"If-None-Match": {`"` + obj.SHA256 + `"`}}); again.StatusCode != http.StatusNotModified {
			t.Errorf("%d bytes: If-None-Match: status %d", size, again.StatusCode)
		}
	}
}

func fetch(t *testing.T, method, u string, h http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// DeleteBefore removes the objects under a prefix written before a time,
// in both tiers, and leaves the newer ones and those under other
// prefixes.
func TestDeleteBeforeInBothTiers(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s, b := setup(t, tieredblob.Options{Threshold: 16, Now: clock})
	put := func(key string, size int) {
		t.Helper()
		if _, err := s.Put(b.ctx, key, "audio/wav", bytes.NewReader(bytes.Repeat([]byte{1}, size)), 0); err != nil {
			t.Fatal(err)
		}
	}
	put("uploads/u/old-small", 4)
	put("uploads/u/old-large", 64)
	put("outputs/u/t/0.png", 64)
	now = now.Add(48 * time.Hour)
	put("uploads/u/new-small", 4)
	put("uploads/u/new-large", 64)
	n, err := s.DeleteBefore(b.ctx, "uploads/", now.Add(-24*time.Hour), 100)
	if err != nil || n != 2 {
		t.Fatalf("DeleteBefore = %d, %v; want the 2 old uploads", n, err)
	}
	for key, kept := range map[string]bool{"uploads/u/old-small": false, "uploads/u/old-large": false,
		"uploads/u/new-small": true, "uploads/u/new-large": true, "outputs/u/t/0.png": true} {
		if _, err := s.Stat(b.ctx, key); (err == nil) != kept {
			t.Errorf("%s: Stat err %v, want kept %v", key, err, kept)
		}
	}
}
