package api

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/task"
)

// sseEvent is one parsed server-sent event.
type sseEvent struct {
	id, event, data string
}

// readEvent reads the next event, skipping comments; io.EOF at the end.
func readEvent(r *bufio.Reader) (sseEvent, error) {
	var ev sseEvent
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return ev, err
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if ev.event != "" {
				return ev, nil
			}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "id: "):
			ev.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			ev.event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.data = strings.TrimPrefix(line, "data: ")
		}
	}
}

func openStream(t *testing.T, srv *httptest.Server, key, path string, header map[string]string) *http.Response {
	t.Helper()
	hr, err := http.NewRequestWithContext(t.Context(), "GET", srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	hr.Header.Set("Authorization", "Bearer "+key)
	for k, v := range header {
		hr.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	checkResponse(t, "GET", path, resp.StatusCode, resp.Header, nil)
	return resp
}

// The stream sends the queued event, then the canceled one, and closes.
func TestEventStream(t *testing.T) {
	t.Parallel()
	h, b := setup(t, withOptions(func(o *Options) { o.HeartbeatInterval = 50 * time.Millisecond }))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	tk := submitImage(t, h, b.keyA, "stream me")

	resp := openStream(t, srv, b.keyA, Prefix+"/tasks/"+tk.ID+"/events", nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream answer %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	r := bufio.NewReader(resp.Body)
	ev, err := readEvent(r)
	if err != nil || ev.event != string(task.EventTaskQueued) || ev.id != "1" {
		t.Fatalf("first event %+v, %v", ev, err)
	}
	// Heartbeats keep an idle stream alive.
	line := ""
	for !strings.HasPrefix(line, ":") {
		if line, err = r.ReadString('\n'); err != nil {
			t.Fatalf("waiting for a heartbeat: %v", err)
		}
	}

	wantStatus(t, do(t, h, req{method: "POST", path: Prefix + "/tasks/" + tk.ID + "/cancel", key: b.keyA}), http.StatusOK)
	ev, err = readEvent(r)
	if err != nil || ev.event != string(task.EventTaskCanceled) || ev.id != "2" {
		t.Fatalf("second event %+v, %v", ev, err)
	}
	var got task.Task
	if err := json.Unmarshal([]byte(ev.data), &got); err != nil || got.Status != task.StatusCanceled || got.ID != tk.ID {
		t.Fatalf("event data %s: %v", ev.data, err)
	}
	if _, err := readEvent(r); err != io.EOF {
		t.Fatalf("the stream goes on after a terminal event: %v", err)
	}

	// A stream of an ended task replays and closes at once; after the
	// last event it closes without sending any.
	tests := map[string]struct {
		path   string
		header map[string]string
		want   []string
	}{
		"replay":               {"/events", nil, []string{"task.queued", "task.canceled"}},
		"after 1":              {"/events?after=1", nil, []string{"task.canceled"}},
		"Last-Event-ID 1":      {"/events", map[string]string{"Last-Event-ID": "1"}, []string{"task.canceled"}},
		"after the last event": {"/events?after=2", nil, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			resp := openStream(t, srv, b.keyA, Prefix+"/tasks/"+tk.ID+tc.path, tc.header)
			r := bufio.NewReader(resp.Body)
			var names []string
			for {
				ev, err := readEvent(r)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				names = append(names, ev.event)
			}
			if strings.Join(names, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("events %q, want %q", names, tc.want)
			}
		})
	}
	t.Run("bad after", func(t *testing.T) {
		t.Parallel()
		wantProblem(t, do(t, h, req{method: "GET", path: Prefix + "/tasks/" + tk.ID + "/events?after=x", key: b.keyA}), http.StatusBadRequest, "after")
		wantProblem(t, do(t, h, req{method: "GET", path: Prefix + "/tasks/" + tk.ID + "/events", key: b.keyA,
			header: map[string]string{"Last-Event-ID": "-3"}}), http.StatusBadRequest, "Last-Event-ID")
	})
}

// A user holds at most MaxStreamsPerUser streams open; closing one frees
// its place, and other users are not affected.
func TestEventStreamsPerUserAreBounded(t *testing.T) {
	t.Parallel()
	h, b := setup(t, withOptions(func(o *Options) { o.MaxStreamsPerUser = 2 }))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	tk := submitImage(t, h, b.keyA, "watched")
	path := Prefix + "/tasks/" + tk.ID + "/events"
	// open starts a stream and answers its status and, unless it is a
	// stream, its body; a stream stays open until the test ends.
	open := func(key, path string) (int, http.Header, []byte) {
		ctx, cancel := context.WithCancel(t.Context())
		hr, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+path, nil)
		hr.Header.Set("Authorization", "Bearer "+key)
		resp, err := srv.Client().Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusOK {
			t.Cleanup(func() { cancel(); resp.Body.Close() })
			return resp.StatusCode, resp.Header, nil
		}
		defer cancel()
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, body
	}
	first := openStream(t, srv, b.keyA, path, nil)
	openStream(t, srv, b.keyA, path, nil)
	code, header, body := open(b.keyA, path)
	if code != http.StatusTooManyRequests || header.Get("Retry-After") == "" || header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("third stream: %d %v %s; want a 429 problem with Retry-After", code, header, body)
	}
	checkResponse(t, "GET", path, code, header, body)
	other := submitImage(t, h, b.keyB, "bob's")
	if code, _, _ := open(b.keyB, Prefix+"/tasks/"+other.ID+"/events"); code != http.StatusOK {
		t.Fatalf("another user's stream: %d", code)
	}
	first.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _, _ := open(b.keyA, path)
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a closed stream's place was not freed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// bufferedWriter is a ResponseWriter that cannot flush, as in a Lambda
// function behind API Gateway: the answer leaves when the handler returns.
type bufferedWriter struct {
	header http.Header
	status int
	body   strings.Builder
}

func (w *bufferedWriter) Header() http.Header         { return w.header }
func (w *bufferedWriter) WriteHeader(status int)      { w.status = status }
func (w *bufferedWriter) Write(b []byte) (int, error) { return w.body.Write(b) }

func bufferedEvents(t *testing.T, h http.Handler, key, path string) []string {
	t.Helper()
	hr := httptest.NewRequestWithContext(t.Context(), "GET", path, nil)
	hr.Header.Set("Authorization", "Bearer "+key)
	w := &bufferedWriter{header: http.Header{}}
	h.ServeHTTP(w, hr)
	if w.status != http.StatusOK {
		t.Fatalf("%s: %d %s", path, w.status, w.body.String())
	}
	var names []string
	r := bufio.NewReader(strings.NewReader(w.body.String()))
	for {
		ev, err := readEvent(r)
		if err != nil {
			return names
		}
		names = append(names, ev.event)
	}
}

// A buffered stream answers the events there are at once; with none, it
// waits for the next one (or BufferedStreamWait) and answers it.
func TestBufferedEventStream(t *testing.T) {
	t.Parallel()
	h, b := setup(t, withOptions(func(o *Options) { o.BufferedStreams, o.BufferedStreamWait = true, time.Minute }))
	tk := submitImage(t, h, b.keyA, "stream me")
	events := Prefix + "/tasks/" + tk.ID + "/events"
	if got := bufferedEvents(t, h, b.keyA, events); strings.Join(got, ",") != "task.queued" {
		t.Fatalf("first answer %q, want the queued event alone", got)
	}
	next := make(chan []string, 1)
	go func() { next <- bufferedEvents(t, h, b.keyA, events+"?after=1") }()
	time.Sleep(50 * time.Millisecond) // the request waits for a change
	wantStatus(t, do(t, h, req{method: "POST", path: Prefix + "/tasks/" + tk.ID + "/cancel", key: b.keyA}), http.StatusOK)
	select {
	case got := <-next:
		if strings.Join(got, ",") != "task.canceled" {
			t.Fatalf("second answer %q, want the canceled event", got)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a buffered stream waited past the event it waited for")
	}

	h, b = setup(t, withOptions(func(o *Options) { o.BufferedStreams, o.BufferedStreamWait = true, 10*time.Millisecond }))
	tk = submitImage(t, h, b.keyA, "quiet")
	if got := bufferedEvents(t, h, b.keyA, Prefix+"/tasks/"+tk.ID+"/events?after=1"); len(got) != 0 {
		t.Fatalf("nothing happened, yet %q", got)
	}
}
