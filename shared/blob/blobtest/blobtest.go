// Package blobtest is the conformance suite of the blob store port: every
// blob.Store adapter (files, SQLite, tiered, S3) runs Run against itself
// and must pass it unchanged, in the manner of river's driver tests:
//
//	func TestConformance(t *testing.T) {
//		blobtest.Run(t, func(t *testing.T) blobtest.Adapter { ... })
//	}
//
// Signed URLs are fetched with a plain http.Client, as a browser would, so
// the adapter's store must have its URLs served (for fsblob, its Handler
// on an httptest server whose URL is the BaseURL). Expiry is tested on the
// real clock with a one-second URL, polling until it is refused.
package blobtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/blob"
)

// Adapter is one fresh, empty store under test.
type Adapter struct {
	Store blob.Store
}

// Run runs the whole suite. newStore must return a store of the test's
// own, empty, registering its cleanup on t.
func Run(t *testing.T, newStore func(t *testing.T) Adapter) {
	s := &suite{newStore: newStore}
	t.Run("PutGetStat", s.testPutGetStat)
	t.Run("Replace", s.testReplace)
	t.Run("ReplaceAcrossSizes", s.testReplaceAcrossSizes)
	t.Run("Delete", s.testDelete)
	t.Run("NotFound", s.testNotFound)
	t.Run("KeyBesideFolder", s.testKeyBesideFolder)
	t.Run("TooLarge", s.testTooLarge)
	t.Run("InvalidKeys", s.testInvalidKeys)
	t.Run("SignedURL", s.testSignedURL)
	t.Run("SignedURLRefused", s.testSignedURLRefused)
	t.Run("SignedURLExpires", s.testSignedURLExpires)
	t.Run("Ping", s.testPing)
}

type suite struct {
	newStore func(t *testing.T) Adapter
}

// bundle is one case's store and its helpers.
type bundle struct {
	t      *testing.T
	ctx    context.Context
	store  blob.Store
	client *http.Client
}

func (s *suite) setup(t *testing.T) *bundle {
	t.Helper()
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return &bundle{t: t, ctx: ctx, store: s.newStore(t).Store, client: &http.Client{Timeout: 10 * time.Second}}
}

func (b *bundle) put(key, contentType string, body []byte) blob.Object {
	b.t.Helper()
	obj, err := b.store.Put(b.ctx, key, contentType, bytes.NewReader(body), 0)
	if err != nil {
		b.t.Fatalf("put %s: %v", key, err)
	}
	return obj
}

func (b *bundle) get(key string) ([]byte, blob.Object) {
	b.t.Helper()
	rc, obj, err := b.store.Get(b.ctx, key)
	if err != nil {
		b.t.Fatalf("get %s: %v", key, err)
	}
	defer rc.Close()
	body, err := io.ReadAll(rc)
	if err != nil {
		b.t.Fatalf("read %s: %v", key, err)
	}
	return body, obj
}

func (b *bundle) signedURL(key string, ttl time.Duration) string {
	b.t.Helper()
	u, err := b.store.SignedURL(b.ctx, key, ttl)
	if err != nil {
		b.t.Fatalf("sign %s: %v", key, err)
	}
	return u
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (b *bundle) fetch(u string, header http.Header) response {
	b.t.Helper()
	req, err := http.NewRequestWithContext(b.ctx, http.MethodGet, u, nil)
	if err != nil {
		b.t.Fatalf("request %s: %v", u, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatalf("GET %s: read: %v", u, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

// checkObject compares what an adapter says of an object with want; the
// time must be around now (stores keep it to the second or better).
func checkObject(t *testing.T, what string, got, want blob.Object, before time.Time) {
	t.Helper()
	if got.Key != want.Key || got.ContentType != want.ContentType || got.Size != want.Size || got.SHA256 != want.SHA256 {
		t.Errorf("%s: %+v, want %+v", what, got, want)
	}
	if got.ModTime.Before(before.Add(-2*time.Second)) || got.ModTime.After(time.Now().Add(2*time.Second)) {
		t.Errorf("%s: mod time %s, not around %s", what, got.ModTime, before)
	}
}

// alter changes a value's first character, keeping its length and
// alphabet where it can (the last character of a base64 value may carry
// only padding bits, so it is left alone).
func alter(v string) string {
	if v == "" {
		return "x"
	}
	c := v[0]
	swap := byte('A')
	switch {
	case c >= '1' && c <= '8':
		swap = c + 1
	case c == '9' || c == '0':
		swap = '1'
	case c == 'A':
		swap = 'B'
	}
	return string(swap) + v[1:]
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// zeros is an endless reader.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
