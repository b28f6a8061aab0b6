package blobtest

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func (s *suite) testSignedURL(t *testing.T) {
	b := s.setup(t)
	body := randomBytes(100 << 10)
	b.put("tasks/t_1/image.png", "image/png", body)
	u := b.signedURL("tasks/t_1/image.png", time.Minute)
	resp := b.fetch(u, nil)
	if resp.status != http.StatusOK {
		t.Fatalf("GET signed URL: status %d: %s", resp.status, resp.body)
	}
	if !bytes.Equal(resp.body, body) {
		t.Errorf("GET signed URL: %d bytes, not the %d put", len(resp.body), len(body))
	}
	if ct := resp.header.Get("Content-Type"); ct != "image/png" {
		t.Errorf("Content-Type = %q, want image/png", ct)
	}
	ranged := b.fetch(u, http.Header{"Range": {"bytes=10-19"}})
	if ranged.status != http.StatusPartialContent || !bytes.Equal(ranged.body, body[10:20]) {
		t.Errorf("range 10-19: status %d, %d bytes", ranged.status, len(ranged.body))
	}

	b.put("empty", "text/plain", nil)
	if resp := b.fetch(b.signedURL("empty", time.Minute), nil); resp.status != http.StatusOK || len(resp.body) != 0 {
		t.Errorf("GET empty object: status %d, %d bytes", resp.status, len(resp.body))
	}
	if _, err := b.store.SignedURL(b.ctx, "empty", 0); err == nil {
		t.Error("signed a URL with no lifetime")
	}
}

func (s *suite) testSignedURLRefused(t *testing.T) {
	b := s.setup(t)
	secret := []byte("the secret bytes")
	b.put("private/a", "text/plain", secret)
	b.put("private/b", "text/plain", []byte("other"))
	u := b.signedURL("private/a", time.Hour)
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
		resp := b.fetch(tu, nil)
		if resp.status < 400 || resp.status >= 500 || bytes.Contains(resp.body, secret) {
			t.Errorf("%s: status %d, want a 4xx refusal without the content", name, resp.status)
		}
	}

	if resp := b.fetch(b.signedURL("private/missing", time.Hour), nil); resp.status < 400 || resp.status >= 500 {
		t.Errorf("missing object: status %d, want 4xx", resp.status)
	}
}

func (s *suite) testSignedURLExpires(t *testing.T) {
	b := s.setup(t)
	secret := []byte("short-lived")
	b.put("soon", "text/plain", secret)
	u := b.signedURL("soon", time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp := b.fetch(u, nil)
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
}
