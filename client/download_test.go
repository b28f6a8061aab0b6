package client_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/videoai/mediatasks/client"
)

// A submit that prefers to wait gets the task completed in the answer, and
// its files download byte for byte as the server serves them.
func TestPreferWaitThenDownload(t *testing.T) {
	t.Parallel()
	srv := newServer(t, serverOptions{})
	c := client.New(srv.URL, srv.Key)
	ctx := testContext(t)

	got, err := c.SubmitImage(client.WithPreferWait(ctx, 20*time.Second), client.ImageRequest{Prompt: "a harbour at night"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != client.StatusCompleted || got.Output == nil || len(got.Output.Files) == 0 {
		t.Fatalf("answer of a submit that waits: %s, output %+v", got.Status, got.Output)
	}
	f := got.Output.Files[0]
	var buf bytes.Buffer
	n, err := c.Download(ctx, f.URL, &buf)
	if err != nil {
		t.Fatal(err)
	}
	want := fetch(t, f.URL)
	if n != int64(len(want)) || !bytes.Equal(buf.Bytes(), want) || len(want) == 0 {
		t.Fatalf("downloaded %d bytes, the server serves %d", n, len(want))
	}
	path := filepath.Join(t.TempDir(), "out.png")
	if _, err := c.DownloadFile(ctx, f.URL, path); err != nil {
		t.Fatal(err)
	}
	if onDisk, err := os.ReadFile(path); err != nil || !bytes.Equal(onDisk, want) {
		t.Fatalf("file on disk: %d bytes, %v", len(onDisk), err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*.part")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}

	// Without the preference the answer is at once, queued.
	quick, err := c.SubmitImage(ctx, client.ImageRequest{Prompt: "a harbour at dawn"})
	if err != nil || quick.Status.Terminal() {
		t.Fatalf("submit without waiting: %s, %v", quick.Status, err)
	}
}

func fetch(t *testing.T, u string) []byte {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A download answered 503 is tried again; a 404 is not, and leaves no file.
func TestDownloadRetriesServerErrorsOnly(t *testing.T) {
	t.Parallel()
	var tries atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/files/flaky", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			t.Error("a file URL was sent the API key")
		}
		if tries.Add(1) == 1 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("payload"))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	ts := srv.URL
	c := client.New(ts, "key", client.WithBackoff(time.Millisecond))
	var buf bytes.Buffer
	if _, err := c.Download(context.Background(), ts+"/files/flaky", &buf); err != nil || buf.String() != "payload" || tries.Load() != 2 {
		t.Fatalf("download %q after %d tries: %v", buf.String(), tries.Load(), err)
	}
	// Relative to the server, as a local server's URLs may be.
	buf.Reset()
	if _, err := c.Download(context.Background(), "/files/flaky", &buf); err != nil || buf.String() != "payload" {
		t.Fatalf("relative download %q: %v", buf.String(), err)
	}

	path := filepath.Join(t.TempDir(), "missing.bin")
	_, err := c.DownloadFile(context.Background(), ts+"/files/missing", path)
	var p *client.Problem
	if !errors.As(err, &p) || p.Status != http.StatusNotFound {
		t.Fatalf("missing file: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
	if !strings.Contains(err.Error(), "download") {
		t.Errorf("error %q does not say what failed", err)
	}
}
