package fsblob_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/blob"
	"github.com/videoai/mediatasks/shared/blob/blobtest"
	"github.com/videoai/mediatasks/shared/blob/fsblob"
	"github.com/videoai/mediatasks/shared/testkit/clocktest"
)

var secret = bytes.Repeat([]byte{7}, 32)

type bundle struct {
	ctx    context.Context
	root   string
	server *httptest.Server
}

// serve builds a store on a temp folder whose Handler is served by an
// httptest server at the store's BaseURL.
func serve(t *testing.T, opts fsblob.Options) (*fsblob.Store, *bundle) {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	opts.BaseURL = srv.URL
	if opts.Secret == nil {
		opts.Secret = secret
	}
	root := t.TempDir()
	s, err := fsblob.New(root, opts)
	if err != nil {
		t.Fatal(err)
	}
	prefix := opts.Prefix
	if prefix == "" {
		prefix = "/files/"
	}
	mux.Handle(prefix, s.Handler())
	return s, &bundle{ctx: context.Background(), root: root, server: srv}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	blobtest.Run(t, func(t *testing.T) blobtest.Adapter {
		s, _ := serve(t, fsblob.Options{})
		return blobtest.Adapter{Store: s}
	})
}

func TestNew(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		opts    fsblob.Options
		wantErr bool
	}{
		"short secret":    {opts: fsblob.Options{Secret: []byte("short")}, wantErr: true},
		"relative prefix": {opts: fsblob.Options{Secret: secret, Prefix: "files/"}, wantErr: true},
		"defaults":        {opts: fsblob.Options{Secret: secret}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := fsblob.New(t.TempDir(), tt.opts)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %t", err, tt.wantErr)
			}
		})
	}
}

func get(t *testing.T, method, u string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// The URL's form, the exact refusal codes and the headers are this
// adapter's own; the suite only asks for a 4xx.
func TestHandler(t *testing.T) {
	t.Parallel()
	clock := clocktest.NewFake(time.Unix(1_800_000_000, 0))
	s, b := serve(t, fsblob.Options{Now: clock.Now, Prefix: "/blobs/"})
	if _, err := s.Put(b.ctx, "out/page.html", "text/html", strings.NewReader("<script>alert(1)</script>"), 0); err != nil {
		t.Fatal(err)
	}
	u, err := s.SignedURL(b.ctx, "out/page.html", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if want := b.server.URL + "/blobs/out/page.html?expires=1800000010&sig="; !strings.HasPrefix(u, want) {
		t.Fatalf("signed URL %s, want it to start %s", u, want)
	}
	resp := get(t, http.MethodGet, u)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for k, v := range map[string]string{
		"Content-Type":            "text/html",
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": "sandbox",
	} {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	etag := resp.Header.Get("ETag")
	if etag == "" {
		t.Error("no ETag")
	}

	head := get(t, http.MethodHead, u)
	if head.StatusCode != http.StatusOK || head.ContentLength != 25 {
		t.Errorf("HEAD: status %d, length %d", head.StatusCode, head.ContentLength)
	}
	if post := get(t, http.MethodPost, u); post.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d", post.StatusCode)
	}

	other, err := fsblob.New(t.TempDir(), fsblob.Options{BaseURL: b.server.URL, Secret: bytes.Repeat([]byte{8}, 32), Prefix: "/blobs/"})
	if err != nil {
		t.Fatal(err)
	}
	forged, err := other.SignedURL(b.ctx, "out/page.html", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	missing, err := s.SignedURL(b.ctx, "out/none.html", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		url  string
		want int
	}{
		"other secret":   {url: forged, want: http.StatusForbidden},
		"missing object": {url: missing, want: http.StatusNotFound},
		"bad key":        {url: b.server.URL + "/blobs/a%20b?expires=1&sig=x", want: http.StatusNotFound},
		"no signature":   {url: strings.Split(u, "?")[0], want: http.StatusForbidden},
	}
	for name, tt := range tests {
		resp := get(t, http.MethodGet, tt.url)
		if resp.StatusCode != tt.want {
			t.Errorf("%s: status %d, want %d", name, resp.StatusCode, tt.want)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("%s: Content-Type %q", name, ct)
		}
		var p struct{ Status int }
		if err := json.NewDecoder(resp.Body).Decode(&p); err != nil || p.Status != tt.want {
			t.Errorf("%s: problem %+v, %v", name, p, err)
		}
	}

	// Valid through its last second, refused after.
	clock.Add(10 * time.Second)
	if resp := get(t, http.MethodGet, u); resp.StatusCode != http.StatusOK {
		t.Errorf("at expiry: status %d, want 200", resp.StatusCode)
	}
	clock.Add(time.Second)
	if resp := get(t, http.MethodGet, u); resp.StatusCode != http.StatusForbidden {
		t.Errorf("after expiry: status %d, want 403", resp.StatusCode)
	}
}

// A URL never lives less than its ttl: the expiry is rounded up.
func TestSignedURLRoundsUp(t *testing.T) {
	t.Parallel()
	clock := clocktest.NewFake(time.Unix(1_800_000_000, 400_000_000))
	s, b := serve(t, fsblob.Options{Now: clock.Now})
	u, err := s.SignedURL(b.ctx, "k", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(u, "expires=1800000002&") {
		t.Errorf("signed URL %s, want expires=1800000002", u)
	}
}

// files lists what is under root, relative to it.
func files(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A refused or failed Put leaves no file behind, and a replaced or
// deleted object leaves no stale data file.
func TestNoLeftovers(t *testing.T) {
	t.Parallel()
	s, b := serve(t, fsblob.Options{})
	if _, err := s.Put(b.ctx, "a/big", "", bytes.NewReader(make([]byte, 100)), 10); !errors.Is(err, blob.ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}
	ctx, cancel := context.WithCancel(b.ctx)
	cancel()
	if _, err := s.Put(ctx, "a/cancelled", "", bytes.NewReader(make([]byte, 100)), 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("put with a cancelled context: err = %v", err)
	}
	if got := files(t, b.root); len(got) != 0 {
		t.Fatalf("files left after refused puts: %v", got)
	}
	for range 3 {
		if _, err := s.Put(b.ctx, "a/obj", "", strings.NewReader("x"), 0); err != nil {
			t.Fatal(err)
		}
	}
	if got := files(t, b.root); len(got) != 2 {
		t.Fatalf("after three puts of one key: %v, want a data file and a sidecar", got)
	}
	if err := s.Delete(b.ctx, "a/obj"); err != nil {
		t.Fatal(err)
	}
	if got := files(t, b.root); len(got) != 0 {
		t.Fatalf("after delete: %v", got)
	}
}

func TestDefaultContentType(t *testing.T) {
	t.Parallel()
	s, b := serve(t, fsblob.Options{})
	obj, err := s.Put(b.ctx, "raw", "", strings.NewReader("x"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if obj.ContentType != "application/octet-stream" {
		t.Errorf("content type %q", obj.ContentType)
	}
}

// Readers racing a replacement always see one whole version, never a mix
// or a missing object.
func TestConcurrentReplace(t *testing.T) {
	t.Parallel()
	s, b := serve(t, fsblob.Options{})
	versions := [][]byte{bytes.Repeat([]byte("a"), 64<<10), bytes.Repeat([]byte("b"), 32<<10)}
	if _, err := s.Put(b.ctx, "hot", "text/plain", bytes.NewReader(versions[0]), 0); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 50 {
				if _, err := s.Put(b.ctx, "hot", "text/plain", bytes.NewReader(versions[(w+i)%2]), 0); err != nil {
					t.Error(err)
					return
				}
			}
		})
		wg.Go(func() {
			for range 100 {
				rc, obj, err := s.Get(b.ctx, "hot")
				if err != nil {
					t.Error(err)
					return
				}
				body, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					t.Error(err)
					return
				}
				if !bytes.Equal(body, versions[0]) && !bytes.Equal(body, versions[1]) || int64(len(body)) != obj.Size {
					t.Errorf("read %d bytes (object says %d), not one whole version", len(body), obj.Size)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := files(t, b.root); len(got) != 2 {
		t.Errorf("after concurrent replaces: %v, want a data file and a sidecar", got)
	}
}

func TestValidKey(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		key  string
		want bool
	}{
		"simple":            {key: "a", want: true},
		"nested":            {key: "tasks/t_1/out-0.png", want: true},
		"dots in a name":    {key: "a..b/.hidden", want: true},
		"512 bytes":         {key: strings.Repeat(strings.Repeat("x", 127)+"/", 4)[:511] + "y", want: true},
		"513 bytes":         {key: strings.Repeat(strings.Repeat("x", 127)+"/", 4)[:511] + "yz", want: false},
		"long segment":      {key: strings.Repeat("x", 201), want: false},
		"tilde":             {key: "a~meta", want: false},
		"dot dot":           {key: "..", want: false},
		"leading slash":     {key: "/a", want: false},
		"unicode lookalike": {key: "a\u2215b", want: false},
	}
	for name, tt := range tests {
		if got := fsblob.ValidKey(tt.key); got != tt.want {
			t.Errorf("%s: ValidKey(%q) = %t, want %t", name, tt.key, got, tt.want)
		}
	}
}

func BenchmarkPut(b *testing.B) {
	s, err := fsblob.New(b.TempDir(), fsblob.Options{Secret: secret})
	if err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 64<<10)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := s.Put(context.Background(), "bench/obj", "application/octet-stream", bytes.NewReader(body), 0); err != nil {
			b.Fatal(err)
		}
	}
}
