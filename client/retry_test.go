package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	tests := map[string]struct {
		header string
		want   time.Duration
	}{
		"absent":      {"", 0},
		"seconds":     {"3", 3 * time.Second},
		"a date":      {now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		"a past date": {now.Add(-time.Minute).Format(http.TimeFormat), 0},
		"unreadable":  {"soon", 0},
		"negative":    {"-1", 0},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := parseRetryAfter(tt.header, now); got != tt.want {
				t.Errorf("parseRetryAfter(%q) = %s, want %s", tt.header, got, tt.want)
			}
		})
	}
}

func TestWaitGrowsWithJitterUnderItsBound(t *testing.T) {
	c := New("http://x", "k", WithBackoff(100*time.Millisecond), WithMaxRetryWait(time.Second))
	for _, jitter := range []float64{0, 0.999} {
		c.jitter = func() float64 { return jitter }
		spread := 1 + 0.2*jitter
		for attempt, base := range []time.Duration{100, 200, 400, 800, 1600, 3200, 6400} {
			want := min(time.Duration(float64(base*time.Millisecond)*spread), time.Second)
			if got := c.wait(attempt, 0); got != want {
				t.Errorf("jitter %v, attempt %d: wait %s, want %s", jitter, attempt, got, want)
			}
		}
		if got, want := c.wait(0, 500*time.Millisecond), time.Duration(float64(500*time.Millisecond)*spread); got != want {
			t.Errorf("Retry-After 0.5s: wait %s, want %s", got, want)
		}
	}
}

// A connection lost before any answer is retried, with the same key; a 4xx
// is not.
func TestNetworkErrorsAreRetried(t *testing.T) {
	var (
		mu    sync.Mutex
		keys  []string
		calls int
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		n := calls
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		mu.Unlock()
		switch {
		case strings.HasSuffix(r.URL.Path, "/busy/cancel") && n == 1:
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusConflict)
		case strings.HasSuffix(r.URL.Path, "/busy/cancel"):
			io.WriteString(w, `{"id":"busy","status":"canceled"}`)
		case strings.HasSuffix(r.URL.Path, "/cancel"):
			w.WriteHeader(http.StatusConflict)
			io.WriteString(w, `{"type":"urn:mediatasks:problem:conflict","title":"Conflict","status":409,"errors":[]}`)
		case n == 1:
			conn, _, _ := http.NewResponseController(w).Hijack()
			conn.Close()
		default:
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, `{"id":"t1","status":"queued"}`)
		}
	}))
	defer srv.Close()
	c := New(srv.URL, "k", WithBackoff(time.Millisecond))
	tk, err := c.SubmitImage(context.Background(), ImageRequest{Prompt: "a"})
	if err != nil || tk.ID != "t1" {
		t.Fatalf("submit: %+v, %v", tk, err)
	}
	mu.Lock()
	if len(keys) != 2 || keys[0] != keys[1] || len(keys[0]) < 16 {
		t.Errorf("keys %q", keys)
	}
	mu.Unlock()
	reset := func() {
		mu.Lock()
		defer mu.Unlock()
		calls, keys = 0, nil
	}
	calledTimes := func() int {
		mu.Lock()
		defer mu.Unlock()
		return calls
	}
	reset()
	_, err = c.CancelTask(context.Background(), "t1")
	var p *Problem
	if !errors.As(err, &p) || p.Status != http.StatusConflict || calledTimes() != 1 {
		t.Errorf("cancel: %v after %d calls, want one 409", err, calledTimes())
	}
	// A 409 that says when to try again is a race lost, tried again.
	reset()
	if tk, err := c.CancelTask(context.Background(), "busy"); err != nil || tk.Status != StatusCanceled || calledTimes() != 2 {
		t.Errorf("cancel of a busy task: %+v, %v after %d calls", tk, err, calledTimes())
	}
	// A key the caller chose is the one sent.
	reset()
	if _, err := c.SubmitImage(WithIdempotencyKey(context.Background(), "mine"), ImageRequest{Prompt: "a"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if keys[0] != "mine" {
		t.Errorf("key %q, want mine", keys[0])
	}
}

// An upload from a reader that cannot rewind is sent once; one that can
// is sent again whole.
func TestUploadRetriesOnlyRewindableBodies(t *testing.T) {
	var (
		mu     sync.Mutex
		bodies []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		n := len(bodies)
		mu.Unlock()
		if n%2 == 1 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"upload_id":"u1","url":"/x","content_type":"audio/wav","size_bytes":5}`)
	}))
	defer srv.Close()
	c := New(srv.URL, "k", WithBackoff(time.Millisecond))
	up, err := c.Upload(context.Background(), bytes.NewReader([]byte("hello")), "audio/wav", 5)
	if err != nil || up.ID != "u1" {
		t.Fatalf("upload: %+v, %v", up, err)
	}
	mu.Lock()
	if len(bodies) != 2 || bodies[1] != "hello" {
		t.Errorf("bodies %q", bodies)
	}
	bodies = nil
	mu.Unlock()
	_, err = c.Upload(context.Background(), io.MultiReader(strings.NewReader("hello")), "audio/wav", 5)
	var p *Problem
	mu.Lock()
	defer mu.Unlock()
	if !errors.As(err, &p) || p.Status != http.StatusBadGateway || len(bodies) != 1 {
		t.Errorf("upload of a stream: %v after %d tries, want the 502 after one", err, len(bodies))
	}
}

func TestReadEvents(t *testing.T) {
	stream := ": heartbeat\n\n" +
		"id: 1\nevent: task.queued\ndata: {\"id\":\"t\",\n" + "data: \"status\":\"queued\"}\n\n" +
		"id: 2\r\nevent: task.started\r\ndata: {\"id\":\"t\",\"status\":\"running\"}\r\n\r\n" +
		"id: 3\nevent: task.completed\ndata: {\"id\":\"t\",\"status\":\"comp" // cut short
	var got []Event
	err := readEvents(strings.NewReader(stream), func(ev Event) error {
		got = append(got, ev)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != 1 || got[0].Task.Status != StatusQueued || got[1].Type != EventTaskStarted || got[1].Task.Status != StatusRunning {
		t.Errorf("events %+v", got)
	}
	err = readEvents(strings.NewReader("id: 4\ndata: not json\n\n"), func(Event) error { return nil })
	if isDrop(err) {
		t.Errorf("bad data: %v, want a decode error", err)
	}
}

func TestSniffType(t *testing.T) {
	tests := map[string]struct {
		head []byte
		ext  string
		want string
	}{
		"wav by bytes":        {[]byte("RIFF\x24\x00\x00\x00WAVEfmt "), ".bin", "audio/wave"},
		"png by bytes":        {[]byte("\x89PNG\r\n\x1a\n"), "", "image/png"},
		"unknown, by its ext": {[]byte{0, 1, 2, 3}, ".png", "image/png"},
		"unknown, no ext":     {[]byte{0, 1, 2, 3}, "", "application/octet-stream"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := sniffType(tt.head, tt.ext); got != tt.want {
				t.Errorf("sniffType = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNewTakesTheBaseURLWithOrWithoutThePrefix(t *testing.T) {
	for _, base := range []string{"http://h:1", "http://h:1/", "http://h:1/api/v1/media", "http://h:1/api/v1/media/"} {
		if got := New(base, "k").baseURL; got != "http://h:1/api/v1/media" {
			t.Errorf("New(%q) base %q", base, got)
		}
	}
}

// On a server that signs upload URLs the file goes to the store, with the
// ticket's headers and without the API's credentials.
func TestUploadThroughASignedURL(t *testing.T) {
	var (
		mu  sync.Mutex
		put *http.Request
		got []byte
	)
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost:
			var in UploadTicketRequest
			if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.ContentType != "video/mp4" || in.SizeBytes != 5 {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, `{"upload_id":"u9","method":"PUT","url":%q,"headers":{"Content-Type":"video/mp4","Content-Length":"5"},"content_type":"video/mp4","size_bytes":5,"expires_at":"2026-12-04T13:00:00Z"}`, srv.URL+"/store/u9?sig=1")
		case http.MethodPut:
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			put, got = r, b
			mu.Unlock()
		}
	}))
	defer srv.Close()
	c := New(srv.URL, "secret-key")
	ctx := context.Background()
	ticket, err := c.RequestUploadURL(ctx, "video/mp4", 5)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.UploadToURL(ctx, ticket, strings.NewReader("hello")); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if ticket.UploadID != "u9" || put == nil || string(got) != "hello" || put.ContentLength != 5 ||
		put.Header.Get("Content-Type") != "video/mp4" || put.Header.Get("Authorization") != "" || put.URL.Query().Get("sig") != "1" {
		t.Errorf("ticket %+v, PUT %v with %q", ticket, put, got)
	}
}
