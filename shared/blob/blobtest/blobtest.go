// Package blobtest is the conformance suite every blob.Store adapter passes
// (files now, S3 later), in the manner of river's driver tests:
//
//	func TestStore(t *testing.T) {
//		blobtest.Run(t, func(t *testing.T) blob.Store { ... })
//	}
//
// Signed URLs are fetched with a plain http.Client, as a browser would, so
// newStore must return a store whose URLs are being served (for fsblob, its
// Handler on an httptest server whose URL is the BaseURL). Expiry is tested
// on the real clock with a one-second URL, polling until it is refused.
package blobtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/blob"
)

// NewStore returns a fresh, empty store, registering its cleanup on t.
type NewStore func(t *testing.T) blob.Store

type bundle struct {
	ctx    context.Context
	store  blob.Store
	client *http.Client
}

// Run runs the suite against the adapter newStore builds.
func Run(t *testing.T, newStore NewStore) {
	t.Helper()

	setup := func(t *testing.T) (blob.Store, *bundle) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		t.Cleanup(cancel)
		s := newStore(t)
		return s, &bundle{ctx: ctx, store: s, client: &http.Client{Timeout: 10 * time.Second}}
	}

	t.Run("PutGetStat", func(t *testing.T) {
		t.Parallel()
		s, b := setup(t)
		tests := map[string]struct {
			key         string
			contentType string
			body        []byte
		}{
			"text":   {key: "hello.txt", contentType: "text/plain; charset=utf-8", body: []byte("hello, world\n")},
			"nested": {key: "tasks/t_01/out-0.png", contentType: "image/png", body: randomBytes(1 << 20)},
			"empty":  {key: "empty", contentType: "application/octet-stream", body: []byte{}},
			"every allowed character": {
				key: "AZaz09._-/x.y-z_0", contentType: "application/json", body: []byte(`{}`),
			},
			"long key": {
				key: strings.Repeat("k", 100) + "/" + strings.Repeat("e", 100) + "/" + strings.Repeat("y", 100), contentType: "text/plain", body: []byte("long"),
			},
		}
		for name, tt := range tests {
			before := time.Now()
			obj, err := s.Put(b.ctx, tt.key, tt.contentType, bytes.NewReader(tt.body), 0)
			if err != nil {
				t.Fatalf("%s: put: %v", name, err)
			}
			want := blob.Object{Key: tt.key, ContentType: tt.contentType, Size: int64(len(tt.body)), SHA256: sha256Hex(tt.body)}
			checkObject(t, name+": put", obj, want, before)
			stat, err := s.Stat(b.ctx, tt.key)
			if err != nil {
				t.Fatalf("%s: stat: %v", name, err)
			}
			checkObject(t, name+": stat", stat, want, before)
			got, gobj := get(t, b, tt.key)
			checkObject(t, name+": get", gobj, want, before)
			if !bytes.Equal(got, tt.body) {
				t.Errorf("%s: got %d bytes back, not the %d put", name, len(got), len(tt.body))
			}
		}
	})

	t.Run("Replace", func(t *testing.T) {
		t.Parallel()
		s, b := setup(t)
		put(t, b, "doc", "text/plain", []byte("first version"))
		put(t, b, "doc", "text/markdown", []byte("# second"))
		got, obj := get(t, b, "doc")
		if string(got) != "# second" || obj.ContentType != "text/markdown" || obj.Size != 8 || obj.SHA256 != sha256Hex(got) {
			t.Errorf("after replace: %q %+v", got, obj)
		}
		if stat, err := s.Stat(b.ctx, "doc"); err != nil || stat.SHA256 != sha256Hex([]byte("# second")) {
			t.Errorf("stat after replace: %+v, %v", stat, err)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		t.Parallel()
		s, b := setup(t)
		put(t, b, "a/gone", "text/plain", []byte("x"))
		put(t, b, "a/kept", "text/plain", []byte("y"))
		if err := s.Delete(b.ctx, "a/gone"); err != nil {
			t.Fatalf("delete: %v", err)
		}
		if _, err := s.Stat(b.ctx, "a/gone"); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("stat after delete: err = %v, want ErrNotFound", err)
		}
		if _, _, err := s.Get(b.ctx, "a/gone"); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("get after delete: err = %v, want ErrNotFound", err)
		}
		if got, _ := get(t, b, "a/kept"); string(got) != "y" {
			t.Errorf("neighbour after delete: %q", got)
		}
		for _, key := range []string{"a/gone", "never/was"} {
			if err := s.Delete(b.ctx, key); err != nil {
				t.Errorf("delete missing %s: %v", key, err)
			}
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		s, b := setup(t)
		put(t, b, "dir/file", "text/plain", []byte("x"))
		// "dir" exists as a folder of keys but is not an object.
		for _, key := range []string{"missing", "dir", "dir/file/below", "dir/fil"} {
			if _, err := s.Stat(b.ctx, key); !errors.Is(err, blob.ErrNotFound) {
				t.Errorf("stat %s: err = %v, want ErrNotFound", key, err)
			}
			if rc, _, err := s.Get(b.ctx, key); !errors.Is(err, blob.ErrNotFound) {
				if rc != nil {
					rc.Close()
				}
				t.Errorf("get %s: err = %v, want ErrNotFound", key, err)
			}
		}
	})

	t.Run("KeyBesideFolder", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t)
		// S3 keys are names, not paths: "a" and "a/b" are both objects.
		put(t, b, "a/b", "text/plain", []byte("inner"))
		put(t, b, "a", "text/plain", []byte("outer"))
		if got, _ := get(t, b, "a"); string(got) != "outer" {
			t.Errorf("a = %q", got)
		}
		if got, _ := get(t, b, "a/b"); string(got) != "inner" {
			t.Errorf("a/b = %q", got)
		}
	})

	t.Run("TooLarge", func(t *testing.T) {
		t.Parallel()
		s, b := setup(t)
		if _, err := s.Put(b.ctx, "big", "text/plain", bytes.NewReader(make([]byte, 11)), 10); !errors.Is(err, blob.ErrTooLarge) {
			t.Fatalf("put 11 bytes, max 10: err = %v, want ErrTooLarge", err)
		}
		if _, err := s.Stat(b.ctx, "big"); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("stat after a refused put: err = %v, want ErrNotFound", err)
		}
		// A stream far past the limit is refused too, without reading it all.
		endless := io.LimitReader(zeros{}, 1<<40)
		if _, err := s.Put(b.ctx, "big", "text/plain", endless, 1<<10); !errors.Is(err, blob.ErrTooLarge) {
			t.Fatalf("put an endless stream: err = %v, want ErrTooLarge", err)
		}
		if obj, err := s.Put(b.ctx, "fits", "text/plain", bytes.NewReader(make([]byte, 10)), 10); err != nil || obj.Size != 10 {
			t.Errorf("put exactly the limit: %+v, %v", obj, err)
		}
		// A refused replacement leaves the object it would have replaced.
		put(t, b, "kept", "text/plain", []byte("small"))
		if _, err := s.Put(b.ctx, "kept", "text/plain", bytes.NewReader(make([]byte, 100)), 50); !errors.Is(err, blob.ErrTooLarge) {
			t.Fatalf("replace past the limit: err = %v, want ErrTooLarge", err)
		}
		if got, obj := get(t, b, "kept"); string(got) != "small" || obj.Size != 5 {
			t.Errorf("after a refused replacement: %q %+v", got, obj)
		}
	})

	t.Run("InvalidKeys", func(t *testing.T) {
		t.Parallel()
		s, b := setup(t)
		tests := map[string]string{
			"parent":           "../x",
			"parent inside":    "a/../../x",
			"dot segment":      "a/./b",
			"absolute":         "/abs",
			"empty segment":    "a//b",
			"trailing slash":   "a/",
			"empty":            "",
			"space":            "a b",
			"backslash":        `a\b`,
			"percent":          "a%2Fb",
			"non-ascii":        "café",
			"nul":              "a\x00b",
			"longer than 512":  strings.Repeat("a/", 256) + "a",
			"query characters": "a?b=c",
		}
		for name, key := range tests {
			if _, err := s.Put(b.ctx, key, "text/plain", strings.NewReader("x"), 0); !errors.Is(err, blob.ErrInvalidKey) {
				t.Errorf("%s: put %q: err = %v, want ErrInvalidKey", name, key, err)
			}
			if _, _, err := s.Get(b.ctx, key); !errors.Is(err, blob.ErrInvalidKey) {
				t.Errorf("%s: get %q: err = %v, want ErrInvalidKey", name, key, err)
			}
			if _, err := s.Stat(b.ctx, key); !errors.Is(err, blob.ErrInvalidKey) {
				t.Errorf("%s: stat %q: err = %v, want ErrInvalidKey", name, key, err)
			}
			if err := s.Delete(b.ctx, key); !errors.Is(err, blob.ErrInvalidKey) {
				t.Errorf("%s: delete %q: err = %v, want ErrInvalidKey", name, key, err)
			}
			if _, err := s.SignedURL(b.ctx, key, time.Minute); !errors.Is(err, blob.ErrInvalidKey) {
				t.Errorf("%s: sign %q: err = %v, want ErrInvalidKey", name, key, err)
			}
		}
	})

	t.Run("SignedURL", func(t *testing.T) {
		t.Parallel()
		s, b := setup(t)
		body := randomBytes(100 << 10)
		put(t, b, "tasks/t_1/image.png", "image/png", body)
		u := signedURL(t, b, "tasks/t_1/image.png", time.Minute)
		resp := fetch(t, b, u, nil)
		if resp.status != http.StatusOK {
			t.Fatalf("GET signed URL: status %d: %s", resp.status, resp.body)
		}
		if !bytes.Equal(resp.body, body) {
			t.Errorf("GET signed URL: %d bytes, not the %d put", len(resp.body), len(body))
		}
		if ct := resp.header.Get("Content-Type"); ct != "image/png" {
			t.Errorf("Content-Type = %q, want image/png", ct)
		}
		ranged := fetch(t, b, u, http.Header{"Range": {"bytes=10-19"}})
		if ranged.status != http.StatusPartialContent || !bytes.Equal(ranged.body, body[10:20]) {
			t.Errorf("range 10-19: status %d, %d bytes", ranged.status, len(ranged.body))
		}

		put(t, b, "empty", "text/plain", nil)
		if resp := fetch(t, b, signedURL(t, b, "empty", time.Minute), nil); resp.status != http.StatusOK || len(resp.body) != 0 {
			t.Errorf("GET empty object: status %d, %d bytes", resp.status, len(resp.body))
		}
		if _, err := s.SignedURL(b.ctx, "empty", 0); err == nil {
			t.Error("signed a URL with no lifetime")
		}
	})

	t.Run("SignedURLRefused", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t)
		secret := []byte("the secret bytes")
		put(t, b, "private/a", "text/plain", secret)
		put(t, b, "private/b", "text/plain", []byte("other"))
		u := signedURL(t, b, "private/a", time.Hour)
		parsed, err := url.Parse(u)
		if err != nil {
			t.Fatalf("signed URL %q: %v", u, err)
		}

		tampered := map[string]string{}
		other := *parsed
		other.Path = strings.Replace(other.Path, "private/a", "private/b", 1)
		tampered["other key"] = other.String()
		// Every query parameter is part of what is signed: changing any
		// one (the expiry, the signature, ...) must be refused.
		for name, values := range parsed.Query() {
			q := parsed.Query()
			q.Set(name, alter(values[0]))
			changed := *parsed
			changed.RawQuery = q.Encode()
			tampered["changed "+name] = changed.String()
			q.Del(name)
			changed.RawQuery = q.Encode()
			tampered["without "+name] = changed.String()
		}
		bare := *parsed
		bare.RawQuery = ""
		tampered["unsigned"] = bare.String()
		for name, tu := range tampered {
			resp := fetch(t, b, tu, nil)
			if resp.status < 400 || resp.status >= 500 || bytes.Contains(resp.body, secret) {
				t.Errorf("%s: status %d, want a 4xx refusal without the content", name, resp.status)
			}
		}

		if resp := fetch(t, b, signedURL(t, b, "private/missing", time.Hour), nil); resp.status < 400 || resp.status >= 500 {
			t.Errorf("missing object: status %d, want 4xx", resp.status)
		}
	})

	t.Run("SignedURLExpires", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t)
		secret := []byte("short-lived")
		put(t, b, "soon", "text/plain", secret)
		u := signedURL(t, b, "soon", time.Second)
		deadline := time.Now().Add(5 * time.Second)
		for {
			resp := fetch(t, b, u, nil)
			if resp.status >= 400 && resp.status < 500 && !bytes.Contains(resp.body, secret) {
				break // refused once expired
			}
			if resp.status != http.StatusOK {
				t.Fatalf("status %d: %s", resp.status, resp.body)
			}
			if time.Now().After(deadline) {
				t.Fatalf("a 1s URL still served after 5s")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("Ping", func(t *testing.T) {
		t.Parallel()
		s, b := setup(t)
		if err := s.Ping(b.ctx); err != nil {
			t.Fatalf("ping: %v", err)
		}
	})
}

func put(t *testing.T, b *bundle, key, contentType string, body []byte) blob.Object {
	t.Helper()
	obj, err := b.store.Put(b.ctx, key, contentType, bytes.NewReader(body), 0)
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return obj
}

func get(t *testing.T, b *bundle, key string) ([]byte, blob.Object) {
	t.Helper()
	rc, obj, err := b.store.Get(b.ctx, key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer rc.Close()
	body, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return body, obj
}

func signedURL(t *testing.T, b *bundle, key string, ttl time.Duration) string {
	t.Helper()
	u, err := b.store.SignedURL(b.ctx, key, ttl)
	if err != nil {
		t.Fatalf("sign %s: %v", key, err)
	}
	return u
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func fetch(t *testing.T, b *bundle, u string, header http.Header) response {
	t.Helper()
	req, err := http.NewRequestWithContext(b.ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatalf("request %s: %v", u, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read: %v", u, err)
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
