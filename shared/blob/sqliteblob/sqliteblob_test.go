package sqliteblob_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/blob/blobtest"
	"github.com/videoai/mediatasks/shared/blob/fsblob"
	"github.com/videoai/mediatasks/shared/blob/sqliteblob"
	"github.com/videoai/mediatasks/shared/sqlitedb"
)

var secret = bytes.Repeat([]byte{7}, 32)

// serve builds a store on a fresh database whose Handler is served by an
// httptest server at the store's BaseURL.
func serve(t *testing.T, opts sqliteblob.Options) (*sqliteblob.Store, *httptest.Server) {
	t.Helper()
	db, err := sqlitedb.Open(filepath.Join(t.TempDir(), "blobs.db"), sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	opts.BaseURL, opts.Secret = srv.URL, secret
	s, err := sqliteblob.New(context.Background(), db, opts)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/files/", s.Handler())
	return s, srv
}

func TestConformance(t *testing.T) {
	t.Parallel()
	blobtest.Run(t, func(t *testing.T) blobtest.Adapter {
		s, _ := serve(t, sqliteblob.Options{})
		return blobtest.Adapter{Store: s}
	})
}

// The URLs are fsblob's: a file store with the same secret signs the
// same URL, and this store serves it with fsblob's headers.
func TestURLsAreFsblobs(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	s, srv := serve(t, sqliteblob.Options{Now: func() time.Time { return now }})
	files, err := fsblob.New(t.TempDir(), fsblob.Options{BaseURL: srv.URL, Secret: secret, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Put(ctx, "out/page.html", "text/html", strings.NewReader("<script>alert(1)</script>"), 0); err != nil {
		t.Fatal(err)
	}
	u, err := s.SignedURL(ctx, "out/page.html", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if fu, _ := files.SignedURL(ctx, "out/page.html", time.Minute); fu != u {
		t.Errorf("signed URL %s, fsblob signs %s", u, fu)
	}
	req, _ := http.NewRequest(http.MethodHead, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("ETag"); len(got) != 66 {
		t.Errorf("ETag %q, want a quoted SHA-256", got)
	}
	for k, v := range map[string]string{
		"Content-Type": "text/html", "X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox",
	} {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if resp.StatusCode != http.StatusOK || resp.ContentLength != 25 {
		t.Errorf("HEAD: status %d, length %d", resp.StatusCode, resp.ContentLength)
	}
}
