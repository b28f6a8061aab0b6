package s3blob_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/videoai/mediatasks/shared/blob"
	"github.com/videoai/mediatasks/shared/blob/blobtest"
	"github.com/videoai/mediatasks/shared/blob/s3blob"
	"github.com/videoai/mediatasks/shared/testkit/awstest"
)

func TestMain(m *testing.M) { os.Exit(awstest.Main(m)) }

// checkedClient returns a client of fauxqs's S3 reached through a
// presignCheck, so that the URLs it presigns are checked as S3 would.
func checkedClient(t *testing.T) *s3.Client {
	t.Helper()
	cfg := awstest.Config()
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	check, err := newPresignCheck(awstest.FauxqsEndpoint(t), creds, cfg.Region)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(check)
	t.Cleanup(front.Close)
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(front.URL)
		o.UsePathStyle = true
	})
}

// newStore returns a store on a fresh bucket behind a presignCheck.
func newStore(t *testing.T, opts s3blob.Options) *s3blob.Store {
	t.Helper()
	client := checkedClient(t)
	bucket := awstest.Name(t)
	if err := s3blob.CreateBucket(context.Background(), client, bucket); err != nil {
		t.Fatal(err)
	}
	return s3blob.New(client, bucket, opts)
}

func TestConformance(t *testing.T) {
	t.Parallel()
	blobtest.Run(t, func(t *testing.T) blobtest.Adapter { return blobtest.Adapter{Store: newStore(t, s3blob.Options{})} })
}

// fauxqs does not check signatures, signed headers or expiry: it serves a
// presigned URL with its query removed. This is why the tests put a
// presignCheck in front of it; if this test fails, fauxqs has learnt to
// check, and the front can go.
func TestEmulatorIgnoresSignatures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	client := awstest.S3(t)
	bucket := awstest.Name(t)
	if err := s3blob.CreateBucket(ctx, client, bucket); err != nil {
		t.Fatal(err)
	}
	store := s3blob.New(client, bucket, s3blob.Options{})
	if _, err := store.Put(ctx, "secret", "text/plain", strings.NewReader("secret"), 0); err != nil {
		t.Fatal(err)
	}
	signed, err := store.SignedURL(ctx, "secret", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	unsigned, _, _ := strings.Cut(signed, "?")
	resp, err := http.Get(unsigned)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "secret" {
		t.Fatalf("fauxqs answered an unsigned GET with %d %q: it now checks signatures", resp.StatusCode, body)
	}
}

// A body larger than MemoryBytes waits in a spool file, and is stored
// whole; a refused one leaves no spool file behind.
func TestPutSpoolsLargeBodies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	spool := t.TempDir()
	store := newStore(t, s3blob.Options{MemoryBytes: 1 << 10, SpoolDir: spool})
	body := bytes.Repeat([]byte("0123456789abcdef"), 1<<12) // 64 KiB
	obj, err := store.Put(ctx, "large", "application/octet-stream", bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	if obj.Size != int64(len(body)) {
		t.Errorf("size %d, want %d", obj.Size, len(body))
	}
	rc, got, err := store.Get(ctx, "large")
	if err != nil {
		t.Fatal(err)
	}
	read, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(read, body) || got.SHA256 != obj.SHA256 {
		t.Errorf("read back %d bytes (%v), sha256 %s, want %d bytes, %s", len(read), err, got.SHA256, len(body), obj.SHA256)
	}
	if _, err := store.Put(ctx, "over", "", bytes.NewReader(body), int64(len(body))-1); !errors.Is(err, blob.ErrTooLarge) {
		t.Fatalf("put one byte over, past the memory limit: err = %v, want ErrTooLarge", err)
	}
	if entries, err := os.ReadDir(spool); err != nil || len(entries) != 0 {
		t.Errorf("spool folder after puts: %v, %v", entries, err)
	}
}

func TestPingMissingBucket(t *testing.T) {
	t.Parallel()
	store := s3blob.New(awstest.S3(t), awstest.Name(t), s3blob.Options{})
	if err := store.Ping(context.Background()); err == nil {
		t.Fatal("ping of a missing bucket succeeded")
	}
}

func TestCreateBucketTwice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	client := awstest.S3(t)
	bucket := awstest.Name(t)
	for range 2 {
		if err := s3blob.CreateBucket(ctx, client, bucket); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSignedURLLifetime(t *testing.T) {
	t.Parallel()
	store := newStore(t, s3blob.Options{})
	tests := map[string]struct {
		ttl     time.Duration
		expires string
		wantErr bool
	}{
		"one second":      {ttl: time.Second, expires: "2"},
		"rounded up":      {ttl: 1500 * time.Millisecond, expires: "3"},
		"an hour":         {ttl: time.Hour, expires: "3601"},
		"seven days":      {ttl: 7 * 24 * time.Hour, expires: "604800"},
		"over seven days": {ttl: 7*24*time.Hour + time.Second, wantErr: true},
		"negative":        {ttl: -time.Second, wantErr: true},
		"zero":            {ttl: 0, wantErr: true},
	}
	for name, tt := range tests {
		u, err := store.SignedURL(context.Background(), "k", tt.ttl)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: err = %v, want error %t", name, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		parsed, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		if got := parsed.Query().Get("X-Amz-Expires"); got != tt.expires {
			t.Errorf("%s: X-Amz-Expires %s, want %s", name, got, tt.expires)
		}
	}
}

func TestValidKey(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		key  string
		want bool
	}{
		"simple":         {key: "a", want: true},
		"nested":         {key: "uploads/dXNlcg/u_1", want: true},
		"long segment":   {key: strings.Repeat("x", 300), want: true},
		"512 bytes":      {key: strings.Repeat("x", 512), want: true},
		"513 bytes":      {key: strings.Repeat("x", 513), want: false},
		"dot dot":        {key: "a/../b", want: false},
		"tilde":          {key: "a~b", want: false},
		"trailing slash": {key: "a/", want: false},
		"plus":           {key: "a+b", want: false},
		"leading slash":  {key: "/a", want: false},
		"unicode":        {key: "é", want: false},
	}
	for name, tt := range tests {
		if got := s3blob.ValidKey(tt.key); got != tt.want {
			t.Errorf("%s: ValidKey(%q) = %t, want %t", name, tt.key, got, tt.want)
		}
	}
}

// put sends body to an upload URL with the given headers.
func putURL(t *testing.T, u string, headers map[string]string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		if k == "Content-Length" {
			continue // the transport sends the body's length
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(msg)
}

// An upload URL binds the content type, the length and the encryption
// into its signature. fauxqs checks none of it
// (TestEmulatorIgnoresSignedHeaders), so the refusals here are the
// presignCheck's in front of it: they show that the URL signs those
// headers, as S3 requires of them.
func TestUploadURL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newStore(t, s3blob.Options{})
	body := []byte("\x89PNG\r\n\x1a\n not really a picture")
	u, headers, err := store.UploadURL(ctx, "uploads/u/up_1", "image/png", int64(len(body)), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := parsed.Query().Get("X-Amz-SignedHeaders"), "content-length;content-type;host;x-amz-server-side-encryption"; got != want {
		t.Errorf("X-Amz-SignedHeaders = %q, want %q", got, want)
	}
	wantHeaders := map[string]string{"Content-Type": "image/png", "Content-Length": "29", "X-Amz-Server-Side-Encryption": "AES256"}
	if len(headers) != len(wantHeaders) {
		t.Errorf("headers %v, want %v", headers, wantHeaders)
	}
	for k, v := range wantHeaders {
		if headers[k] != v {
			t.Errorf("header %s = %q, want %q", k, headers[k], v)
		}
	}

	refused := map[string]struct {
		headers map[string]string
		body    []byte
	}{
		"other content type": {headers: map[string]string{"Content-Type": "text/html", "X-Amz-Server-Side-Encryption": "AES256"}, body: body},
		"longer body":        {headers: headers, body: append(bytes.Clone(body), '!')},
		"shorter body":       {headers: headers, body: body[1:]},
		"no encryption":      {headers: map[string]string{"Content-Type": "image/png"}, body: body},
	}
	for name, tt := range refused {
		if status, msg := putURL(t, u, tt.headers, tt.body); status != http.StatusForbidden {
			t.Errorf("%s: status %d (%s), want 403 from the signature check", name, status, msg)
		}
	}
	if _, err := store.Stat(ctx, "uploads/u/up_1"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("stat after refused uploads: err = %v, want ErrNotFound", err)
	}

	if status, msg := putURL(t, u, headers, body); status != http.StatusOK {
		t.Fatalf("PUT with the signed headers: status %d: %s", status, msg)
	}
	obj, err := store.Stat(ctx, "uploads/u/up_1")
	if err != nil {
		t.Fatal(err)
	}
	// The client sent no checksum, so S3 holds no SHA-256 of the object.
	if obj.ContentType != "image/png" || obj.Size != int64(len(body)) || obj.SHA256 != "" {
		t.Errorf("uploaded object %+v", obj)
	}
	rc, _, err := store.Get(ctx, "uploads/u/up_1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, body) {
		t.Errorf("read back %q, %v", got, err)
	}
}

func TestUploadURLArguments(t *testing.T) {
	t.Parallel()
	store := s3blob.New(awstest.S3(t), "bucket", s3blob.Options{})
	tests := map[string]struct {
		key         string
		contentType string
		size        int64
		ttl         time.Duration
		wantKey     bool
	}{
		"invalid key":     {key: "a/../b", contentType: "image/png", size: 1, ttl: time.Minute, wantKey: true},
		"no content type": {key: "a", size: 1, ttl: time.Minute},
		"empty":           {key: "a", contentType: "image/png", size: 0, ttl: time.Minute},
		"over 5 GiB":      {key: "a", contentType: "image/png", size: 5<<30 + 1, ttl: time.Minute},
		"no lifetime":     {key: "a", contentType: "image/png", size: 1},
	}
	for name, tt := range tests {
		_, _, err := store.UploadURL(context.Background(), tt.key, tt.contentType, tt.size, tt.ttl)
		if err == nil || errors.Is(err, blob.ErrInvalidKey) != tt.wantKey {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

// fauxqs stores whatever a PUT to an upload URL sends: another content
// type, another length, no encryption header.
func TestEmulatorIgnoresSignedHeaders(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	client := awstest.S3(t)
	bucket := awstest.Name(t)
	if err := s3blob.CreateBucket(ctx, client, bucket); err != nil {
		t.Fatal(err)
	}
	store := s3blob.New(client, bucket, s3blob.Options{})
	u, _, err := store.UploadURL(ctx, "up", "image/png", 4, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if status, msg := putURL(t, u, map[string]string{"Content-Type": "text/html"}, []byte("<script>")); status != http.StatusOK {
		t.Fatalf("fauxqs refused a PUT outside the signed headers (%d %s): it now checks them", status, msg)
	}
	if obj, err := store.Stat(ctx, "up"); err != nil || obj.ContentType != "text/html" || obj.Size != 8 {
		t.Fatalf("stored %+v, %v", obj, err)
	}
}

// Every Put asks for server-side encryption, as configured.
func TestPutRequestsEncryption(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		opts     s3blob.Options
		sse      string
		kmsKeyID string
	}{
		"default": {sse: "AES256"},
		"kms":     {opts: s3blob.Options{ServerSideEncryption: "aws:kms", KMSKeyID: "alias/media"}, sse: "aws:kms", kmsKeyID: "alias/media"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			target, err := url.Parse(awstest.FauxqsEndpoint(t))
			if err != nil {
				t.Fatal(err)
			}
			seen := make(chan http.Header, 10)
			proxy := httputil.NewSingleHostReverseProxy(target)
			front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPut && strings.Count(strings.Trim(r.URL.Path, "/"), "/") > 0 {
					seen <- r.Header.Clone()
				}
				proxy.ServeHTTP(w, r)
			}))
			t.Cleanup(front.Close)
			client := s3.NewFromConfig(awstest.Config(), func(o *s3.Options) {
				o.BaseEndpoint = aws.String(front.URL)
				o.UsePathStyle = true
			})
			bucket := awstest.Name(t)
			if err := s3blob.CreateBucket(context.Background(), client, bucket); err != nil {
				t.Fatal(err)
			}
			store := s3blob.New(client, bucket, tt.opts)
			if _, err := store.Put(context.Background(), "k", "text/plain", strings.NewReader("x"), 0); err != nil {
				t.Fatal(err)
			}
			h := <-seen
			if got := h.Get("X-Amz-Server-Side-Encryption"); got != tt.sse {
				t.Errorf("x-amz-server-side-encryption = %q, want %q", got, tt.sse)
			}
			if got := h.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"); got != tt.kmsKeyID {
				t.Errorf("KMS key id = %q, want %q", got, tt.kmsKeyID)
			}
		})
	}
}
