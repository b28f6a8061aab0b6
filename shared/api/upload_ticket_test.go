package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/app"
	"github.com/videoai/mediatasks/shared/blob"
	"github.com/videoai/mediatasks/shared/blob/fsblob"
	"github.com/videoai/mediatasks/shared/task"
)

// signingBlobs is the file blob store plus upload URLs, recorded: it
// stands for S3 here (s3blob's and app's tests run the real thing against
// the S3 emulator). A test "sends" a file to a URL by putting it under
// the URL's key.
type signingBlobs struct {
	*fsblob.Store
	mu     sync.Mutex
	signed map[string]signedUpload // by URL
}

type signedUpload struct {
	key, contentType string
	size             int64
	ttl              time.Duration
}

func (s *signingBlobs) UploadURL(_ context.Context, key, contentType string, size int64, ttl time.Duration) (string, map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := "https://uploads.example.com/" + key + "?X-Amz-Signature=" + strconv.Itoa(len(s.signed))
	s.signed[u] = signedUpload{key: key, contentType: contentType, size: size, ttl: ttl}
	return u, map[string]string{"Content-Type": contentType, "Content-Length": strconv.FormatInt(size, 10)}, nil
}

func (s *signingBlobs) lookup(u string) (signedUpload, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	su, ok := s.signed[u]
	return su, ok
}

var _ app.UploadSigner = (*signingBlobs)(nil)

// setupSigning builds the API as setup does, on a blob store that signs
// upload URLs.
func setupSigning(t *testing.T, limits app.Limits) (http.Handler, *bundle, *signingBlobs) {
	t.Helper()
	var blobs *signingBlobs
	h, b := setup(t, withLimits(func(l *app.Limits) { *l = limits }), withBlobs(func(files *fsblob.Store) blob.Store {
		blobs = &signingBlobs{Store: files, signed: map[string]signedUpload{}}
		return blobs
	}))
	return h, b, blobs
}

// A JSON request for an upload URL gets one bound to the declared size
// and type; the file sent to it is then the upload, used by upload_id.
func TestUploadTicket(t *testing.T) {
	t.Parallel()
	h, b, blobs := setupSigning(t, app.Limits{UploadMaxBytes: 1 << 20})
	before := time.Now()
	rec := do(t, h, req{method: "POST", path: Prefix + "/uploads", key: b.keyA,
		body: map[string]any{"content_type": "Audio/WAV; Rate=16000", "size_bytes": 9}})
	wantStatus(t, rec, http.StatusCreated)
	ticket := decode[app.UploadTicket](t, rec)
	if ticket.ID == "" || ticket.Method != "PUT" || ticket.SizeBytes != 9 || ticket.ContentType != "audio/wav; rate=16000" {
		t.Fatalf("ticket %+v", ticket)
	}
	if ticket.Headers["Content-Type"] != ticket.ContentType {
		t.Errorf("headers %v: want the canonical content type", ticket.Headers)
	}
	if ticket.ExpiresAt.Before(before.Add(app.UploadURLTTL-time.Second)) || ticket.ExpiresAt.After(time.Now().Add(app.UploadURLTTL)) {
		t.Errorf("expires at %s, want about %s from now", ticket.ExpiresAt, app.UploadURLTTL)
	}
	signed, ok := blobs.lookup(ticket.URL)
	if !ok {
		t.Fatalf("URL %s was not signed by the blob store", ticket.URL)
	}
	if signed.contentType != ticket.ContentType || signed.size != 9 || signed.ttl != app.UploadURLTTL || !strings.HasSuffix(signed.key, "/"+ticket.ID) {
		t.Errorf("signed %+v for ticket %+v", signed, ticket)
	}

	// Not sent yet: no such upload.
	rec = do(t, h, req{method: "POST", path: Prefix + "/audio/transcribe", key: b.keyA, body: map[string]any{"upload_id": ticket.ID}})
	wantProblem(t, rec, http.StatusBadRequest, "upload_id")

	if _, err := blobs.Put(context.Background(), signed.key, signed.contentType, strings.NewReader("RIFF.WAVE"), 0); err != nil {
		t.Fatal(err)
	}
	rec = do(t, h, req{method: "POST", path: Prefix + "/audio/transcribe", key: b.keyA, body: map[string]any{"upload_id": ticket.ID}})
	wantStatus(t, rec, http.StatusAccepted)
	if tk := decode[*task.Task](t, rec); !strings.Contains(string(tk.Input), ticket.ID) {
		t.Fatalf("input %s", tk.Input)
	}
	rec = do(t, h, req{method: "POST", path: Prefix + "/audio/transcribe", key: b.keyB, body: map[string]any{"upload_id": ticket.ID}})
	wantProblem(t, rec, http.StatusBadRequest, "upload_id")
}

func TestUploadTicketInvalid(t *testing.T) {
	t.Parallel()
	h, b, blobs := setupSigning(t, app.Limits{UploadMaxBytes: 1000})
	tests := map[string]struct {
		body  string
		code  int
		field string
	}{
		"no size":           {`{"content_type":"audio/wav"}`, http.StatusBadRequest, "size_bytes"},
		"zero size":         {`{"content_type":"audio/wav","size_bytes":0}`, http.StatusBadRequest, "size_bytes"},
		"over the limit":    {`{"content_type":"audio/wav","size_bytes":1001}`, http.StatusBadRequest, "size_bytes"},
		"size as text":      {`{"content_type":"audio/wav","size_bytes":"9"}`, http.StatusBadRequest, "size_bytes"},
		"fractional size":   {`{"content_type":"audio/wav","size_bytes":9.5}`, http.StatusBadRequest, "size_bytes"},
		"no content type":   {`{"size_bytes":9}`, http.StatusBadRequest, "content_type"},
		"not a media type":  {`{"content_type":"audio/","size_bytes":9}`, http.StatusBadRequest, "content_type"},
		"html":              {`{"content_type":"text/html","size_bytes":9}`, http.StatusBadRequest, "content_type"},
		"svg":               {`{"content_type":"image/svg+xml","size_bytes":9}`, http.StatusBadRequest, "content_type"},
		"long content type": {`{"content_type":"audio/` + strings.Repeat("x", 250) + `","size_bytes":9}`, http.StatusBadRequest, "content_type"},
		"unknown field":     {`{"content_type":"audio/wav","size_bytes":9,"name":"a.wav"}`, http.StatusBadRequest, "name"},
		"not an object":     {`[]`, http.StatusBadRequest, "body"},
		"too long":          {`{"content_type":"audio/wav","size_bytes":9` + strings.Repeat(" ", 64<<10) + `}`, http.StatusRequestEntityTooLarge, ""},
	}
	// The group returns once its parallel cases are done.
	t.Run("cases", func(t *testing.T) {
		for name, tc := range tests {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				rec := do(t, h, req{method: "POST", path: Prefix + "/uploads", key: b.keyA, body: tc.body})
				wantProblem(t, rec, tc.code, tc.field)
			})
		}
	})
	rec := do(t, h, req{method: "POST", path: Prefix + "/uploads", key: b.keyA, body: `{"content_type":"text/html","size_bytes":0}`})
	wantProblem(t, rec, http.StatusBadRequest, "size_bytes")
	wantProblem(t, rec, http.StatusBadRequest, "content_type")
	blobs.mu.Lock()
	defer blobs.mu.Unlock()
	for u, s := range blobs.signed {
		t.Errorf("signed %s (%+v) for an invalid request", u, s)
	}
}

// A store that signs upload URLs still takes files sent to the API.
func TestUploadTicketStoreTakesFiles(t *testing.T) {
	t.Parallel()
	h, b, _ := setupSigning(t, app.Limits{})
	mp, mpType := multipartBody(t, "file", wav("multipart audio"))
	for name, tc := range map[string]struct {
		body        []byte
		contentType string
	}{
		"multipart": {mp, mpType},
		"raw":       {wav("raw audio"), "audio/mpeg"},
	} {
		rec := do(t, h, req{method: "POST", path: Prefix + "/uploads", key: b.keyA, body: tc.body, header: map[string]string{"Content-Type": tc.contentType}})
		wantStatus(t, rec, http.StatusCreated)
		if up := decode[app.Upload](t, rec); up.SizeBytes == 0 || up.SHA256 == "" {
			t.Errorf("%s: upload %+v", name, up)
		}
	}
}

// Where the store signs no URLs, a JSON body is a file like any other:
// one the platform cannot use, as it is no media, so it is refused
// naming the type.
func TestUploadJSONFileWithoutSigning(t *testing.T) {
	t.Parallel()
	h, b := setup(t)
	body := `{"content_type":"audio/wav","size_bytes":9}`
	rec := do(t, h, req{method: "POST", path: Prefix + "/uploads", key: b.keyA, body: body})
	wantProblem(t, rec, http.StatusBadRequest, "Content-Type")
}

// A request for an upload URL with an Idempotency-Key replays its ticket.
func TestUploadTicketIdempotent(t *testing.T) {
	t.Parallel()
	h, b, _ := setupSigning(t, app.Limits{})
	hk := map[string]string{"Idempotency-Key": "ticket-1"}
	body := map[string]any{"content_type": "video/mp4", "size_bytes": 2048}
	first := do(t, h, req{method: "POST", path: Prefix + "/uploads", key: b.keyA, body: body, header: hk})
	wantStatus(t, first, http.StatusCreated)
	again := do(t, h, req{method: "POST", path: Prefix + "/uploads", key: b.keyA, body: body, header: hk})
	wantStatus(t, again, http.StatusCreated)
	if again.Body.String() != first.Body.String() || again.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay %s (replayed %q), want %s", again.Body, again.Header().Get("Idempotent-Replayed"), first.Body)
	}
	other := map[string]any{"content_type": "video/mp4", "size_bytes": 4096}
	wantProblem(t, do(t, h, req{method: "POST", path: Prefix + "/uploads", key: b.keyA, body: other, header: hk}),
		http.StatusUnprocessableEntity, "")
}
