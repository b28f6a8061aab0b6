package blobtest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/blob"
)

func (s *suite) testPutGetStat(t *testing.T) {
	b := s.setup(t)
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
		obj, err := b.store.Put(b.ctx, tt.key, tt.contentType, bytes.NewReader(tt.body), 0)
		if err != nil {
			t.Fatalf("%s: put: %v", name, err)
		}
		want := blob.Object{Key: tt.key, ContentType: tt.contentType, Size: int64(len(tt.body)), SHA256: sha256Hex(tt.body)}
		checkObject(t, name+": put", obj, want, before)
		stat, err := b.store.Stat(b.ctx, tt.key)
		if err != nil {
			t.Fatalf("%s: stat: %v", name, err)
		}
		checkObject(t, name+": stat", stat, want, before)
		got, gobj := b.get(tt.key)
		checkObject(t, name+": get", gobj, want, before)
		if !bytes.Equal(got, tt.body) {
			t.Errorf("%s: got %d bytes back, not the %d put", name, len(got), len(tt.body))
		}
	}
}

func (s *suite) testReplace(t *testing.T) {
	b := s.setup(t)
	b.put("doc", "text/plain", []byte("first version"))
	b.put("doc", "text/markdown", []byte("# second"))
	got, obj := b.get("doc")
	if string(got) != "# second" || obj.ContentType != "text/markdown" || obj.Size != 8 || obj.SHA256 != sha256Hex(got) {
		t.Errorf("after replace: %q %+v", got, obj)
	}
	if stat, err := b.store.Stat(b.ctx, "doc"); err != nil || stat.SHA256 != sha256Hex([]byte("# second")) {
		t.Errorf("stat after replace: %+v, %v", stat, err)
	}
}

// A store may keep objects in places by size (the tiered store: small in
// the database, large in files): an object replaced by a much larger one,
// and back, reads back as the latest, whole, under one description, and
// one delete removes it wherever it was.
func (s *suite) testReplaceAcrossSizes(t *testing.T) {
	b := s.setup(t)
	small, large := []byte("small"), randomBytes(1<<20+1)
	for i, step := range []struct {
		contentType string
		body        []byte
	}{{"text/plain", small}, {"image/png", large}, {"text/markdown", small}, {"video/mp4", large}, {"text/csv", small}} {
		b.put("moves", step.contentType, step.body)
		want := blob.Object{Key: "moves", ContentType: step.contentType, Size: int64(len(step.body)), SHA256: sha256Hex(step.body)}
		stat, err := b.store.Stat(b.ctx, "moves")
		if err != nil {
			t.Fatalf("put %d: stat: %v", i, err)
		}
		checkObject(t, fmt.Sprintf("put %d: stat", i), stat, want, time.Now().Add(-time.Minute))
		got, obj := b.get("moves")
		checkObject(t, fmt.Sprintf("put %d: get", i), obj, want, time.Now().Add(-time.Minute))
		if !bytes.Equal(got, step.body) {
			t.Errorf("put %d: got %d bytes back, not the %d put", i, len(got), len(step.body))
		}
		if resp := b.fetch(b.signedURL("moves", time.Minute), nil); resp.status != http.StatusOK || !bytes.Equal(resp.body, step.body) ||
			resp.header.Get("Content-Type") != step.contentType {
			t.Errorf("put %d: signed URL: status %d, %d bytes, %s", i, resp.status, len(resp.body), resp.header.Get("Content-Type"))
		}
	}
	b.put("moves", "image/png", large) // in the large place again, for the delete
	if err := b.store.Delete(b.ctx, "moves"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := b.store.Stat(b.ctx, "moves"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("stat after delete: err = %v, want ErrNotFound", err)
	}
	if rc, _, err := b.store.Get(b.ctx, "moves"); !errors.Is(err, blob.ErrNotFound) {
		if rc != nil {
			rc.Close()
		}
		t.Errorf("get after delete: err = %v, want ErrNotFound", err)
	}
}

func (s *suite) testDelete(t *testing.T) {
	b := s.setup(t)
	b.put("a/gone", "text/plain", []byte("x"))
	b.put("a/kept", "text/plain", []byte("y"))
	if err := b.store.Delete(b.ctx, "a/gone"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := b.store.Stat(b.ctx, "a/gone"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("stat after delete: err = %v, want ErrNotFound", err)
	}
	if _, _, err := b.store.Get(b.ctx, "a/gone"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("get after delete: err = %v, want ErrNotFound", err)
	}
	if got, _ := b.get("a/kept"); string(got) != "y" {
		t.Errorf("neighbour after delete: %q", got)
	}
	for _, key := range []string{"a/gone", "never/was"} {
		if err := b.store.Delete(b.ctx, key); err != nil {
			t.Errorf("delete missing %s: %v", key, err)
		}
	}
}

func (s *suite) testNotFound(t *testing.T) {
	b := s.setup(t)
	b.put("dir/file", "text/plain", []byte("x"))
	// "dir" exists as a folder of keys but is not an object.
	for _, key := range []string{"missing", "dir", "dir/file/below", "dir/fil"} {
		if _, err := b.store.Stat(b.ctx, key); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("stat %s: err = %v, want ErrNotFound", key, err)
		}
		if rc, _, err := b.store.Get(b.ctx, key); !errors.Is(err, blob.ErrNotFound) {
			if rc != nil {
				rc.Close()
			}
			t.Errorf("get %s: err = %v, want ErrNotFound", key, err)
		}
	}
}

func (s *suite) testKeyBesideFolder(t *testing.T) {
	b := s.setup(t)
	// S3 keys are names, not paths: "a" and "a/b" are both objects.
	b.put("a/b", "text/plain", []byte("inner"))
	b.put("a", "text/plain", []byte("outer"))
	if got, _ := b.get("a"); string(got) != "outer" {
		t.Errorf("a = %q", got)
	}
	if got, _ := b.get("a/b"); string(got) != "inner" {
		t.Errorf("a/b = %q", got)
	}
}

func (s *suite) testTooLarge(t *testing.T) {
	b := s.setup(t)
	if _, err := b.store.Put(b.ctx, "big", "text/plain", bytes.NewReader(make([]byte, 11)), 10); !errors.Is(err, blob.ErrTooLarge) {
		t.Fatalf("put 11 bytes, max 10: err = %v, want ErrTooLarge", err)
	}
	if _, err := b.store.Stat(b.ctx, "big"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("stat after a refused put: err = %v, want ErrNotFound", err)
	}
	// A stream far past the limit is refused too, without reading it all.
	endless := io.LimitReader(zeros{}, 1<<40)
	if _, err := b.store.Put(b.ctx, "big", "text/plain", endless, 1<<10); !errors.Is(err, blob.ErrTooLarge) {
		t.Fatalf("put an endless stream: err = %v, want ErrTooLarge", err)
	}
	if obj, err := b.store.Put(b.ctx, "fits", "text/plain", bytes.NewReader(make([]byte, 10)), 10); err != nil || obj.Size != 10 {
		t.Errorf("put exactly the limit: %+v, %v", obj, err)
	}
	// A refused replacement leaves the object it would have replaced.
	b.put("kept", "text/plain", []byte("small"))
	if _, err := b.store.Put(b.ctx, "kept", "text/plain", bytes.NewReader(make([]byte, 100)), 50); !errors.Is(err, blob.ErrTooLarge) {
		t.Fatalf("replace past the limit: err = %v, want ErrTooLarge", err)
	}
	if got, obj := b.get("kept"); string(got) != "small" || obj.Size != 5 {
		t.Errorf("after a refused replacement: %q %+v", got, obj)
	}
}

func (s *suite) testInvalidKeys(t *testing.T) {
	b := s.setup(t)
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
		if _, err := b.store.Put(b.ctx, key, "text/plain", strings.NewReader("x"), 0); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("%s: put %q: err = %v, want ErrInvalidKey", name, key, err)
		}
		if _, _, err := b.store.Get(b.ctx, key); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("%s: get %q: err = %v, want ErrInvalidKey", name, key, err)
		}
		if _, err := b.store.Stat(b.ctx, key); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("%s: stat %q: err = %v, want ErrInvalidKey", name, key, err)
		}
		if err := b.store.Delete(b.ctx, key); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("%s: delete %q: err = %v, want ErrInvalidKey", name, key, err)
		}
		if _, err := b.store.SignedURL(b.ctx, key, time.Minute); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("%s: sign %q: err = %v, want ErrInvalidKey", name, key, err)
		}
	}
}

func (s *suite) testPing(t *testing.T) {
	b := s.setup(t)
	if err := b.store.Ping(b.ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
}
