package client_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/videoai/mediatasks/client"
)

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestSubmitEachTypeAndWait(t *testing.T) {
	t.Parallel()
	srv := newServer(t, serverOptions{})
	c := client.New(srv.URL, srv.Key)
	ctx := testContext(t)

	wait := func(t *testing.T, submit func() (client.Task, error)) client.Task {
		t.Helper()
		submitted, err := submit()
		if err != nil {
			t.Fatal(err)
		}
		if submitted.ID == "" || submitted.Status.Terminal() && submitted.Status != client.StatusCompleted {
			t.Fatalf("submitted %+v", submitted)
		}
		done, err := c.Wait(ctx, submitted.ID)
		if err != nil {
			t.Fatal(err)
		}
		if done.Status != client.StatusCompleted || done.Output == nil || len(done.Output.Files) == 0 {
			t.Fatalf("task %s ended %s with output %+v, error %+v", done.ID, done.Status, done.Output, done.Error)
		}
		return done
	}

	img := wait(t, func() (client.Task, error) {
		return c.SubmitImage(ctx, client.ImageRequest{Prompt: "a lighthouse at dawn", Size: "512x512", N: 2, Metadata: map[string]string{"project": "demo"}})
	})
	if img.Type != client.ImageGeneration || img.Metadata["project"] != "demo" || len(img.Output.Files) != 2 || img.CompletedAt == nil {
		t.Errorf("image task %+v", img)
	}
	vid := wait(t, func() (client.Task, error) {
		return c.SubmitVideo(ctx, client.VideoRequest{Prompt: "waves on a beach", DurationSeconds: 2, AspectRatio: "1:1", Priority: client.PriorityHigh})
	})
	if vid.Priority != client.PriorityHigh {
		t.Errorf("video priority %q", vid.Priority)
	}

	path := filepath.Join(t.TempDir(), "talk.wav")
	if err := os.WriteFile(path, testWAV(), 0o600); err != nil {
		t.Fatal(err)
	}
	up, err := c.UploadFile(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if up.ID == "" || !strings.HasPrefix(up.ContentType, "audio/") || up.SizeBytes != int64(len(testWAV())) {
		t.Fatalf("upload %+v", up)
	}
	tr := wait(t, func() (client.Task, error) {
		return c.SubmitTranscription(ctx, client.TranscriptionRequest{UploadID: up.ID, Language: "en"})
	})
	if tr.Output.Text == "" && !tr.Output.ResultInFile {
		t.Errorf("transcription without text: %+v", tr.Output)
	}
	sub := wait(t, func() (client.Task, error) {
		return c.SubmitSubtitles(ctx, client.SubtitlesRequest{TranscriptionTaskID: tr.ID, Format: "vtt", MaxLineChars: 30})
	})
	if ct := sub.Output.Files[0].ContentType; !strings.Contains(ct, "vtt") {
		t.Errorf("subtitles content type %q", ct)
	}

	batch, err := c.SubmitBatch(ctx, client.BatchRequest{Tasks: []client.BatchItem{
		{Type: client.ImageGeneration, Input: client.ImageRequest{Prompt: "a cat"}},
		{Type: client.VideoGeneration, Input: map[string]any{"prompt": "a dog"}, Priority: client.PriorityLow},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(batch.TaskIDs) != 2 {
		t.Fatalf("batch %+v", batch)
	}
	for _, id := range batch.TaskIDs {
		if done, err := c.Wait(ctx, id); err != nil || done.Status != client.StatusCompleted || done.BatchID != batch.ID {
			t.Errorf("batch task %s: %+v, %v", id, done, err)
		}
	}
	if b, err := c.GetBatch(ctx, batch.ID); err != nil || b.Counts.Completed != 2 {
		t.Errorf("batch after its tasks: %+v, %v", b, err)
	}

	stats, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Succeeded != 6 || stats.Counts[client.ImageGeneration][client.StatusCompleted] != 2 {
		t.Errorf("stats %+v", stats)
	}
}

func TestListTasksFollowsCursors(t *testing.T) {
	t.Parallel()
	srv := newServer(t, serverOptions{})
	c := client.New(srv.URL, srv.Key)
	ctx := testContext(t)
	var submitted []string
	for i := range 7 {
		tk, err := c.SubmitImage(ctx, client.ImageRequest{Prompt: "image " + string(rune('a'+i))})
		if err != nil {
			t.Fatal(err)
		}
		submitted = append(submitted, tk.ID)
	}
	if _, err := c.SubmitVideo(ctx, client.VideoRequest{Prompt: "not an image"}); err != nil {
		t.Fatal(err)
	}
	var listed []string
	for tk, err := range c.ListTasks(ctx, client.TaskFilter{Type: client.ImageGeneration, Limit: 3}) {
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, tk.ID)
	}
	slices.Reverse(listed) // newest first
	if !slices.Equal(listed, submitted) {
		t.Errorf("listed %v, want %v", listed, submitted)
	}
	// Stopping early stops reading.
	n := 0
	for _, err := range c.ListTasks(ctx, client.TaskFilter{Limit: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 3 {
			break
		}
	}
	// A bad filter is the error, yielded once.
	var errs int
	for _, err := range c.ListTasks(ctx, client.TaskFilter{Status: "sleeping"}) {
		var p *client.Problem
		if !errors.As(err, &p) || p.Status != http.StatusBadRequest {
			t.Errorf("bad status filter: %v", err)
		}
		errs++
	}
	if errs != 1 {
		t.Errorf("%d errors yielded, want 1", errs)
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	// Sims that take a minute: the task is running when it is cancelled.
	srv := newServer(t, serverOptions{simOptions: `{"latency_ms":60000}`})
	c := client.New(srv.URL, srv.Key)
	ctx := testContext(t)
	tk, err := c.SubmitImage(ctx, client.ImageRequest{Prompt: "never finished"})
	if err != nil {
		t.Fatal(err)
	}
	canceled, err := c.CancelTask(ctx, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if canceled.Status != client.StatusCanceled {
		t.Errorf("status after cancel %q", canceled.Status)
	}
	if done, err := c.Wait(ctx, tk.ID); err != nil || done.Status != client.StatusCanceled {
		t.Errorf("wait after cancel: %+v, %v", done, err)
	}
	_, err = c.CancelTask(ctx, tk.ID)
	var p *client.Problem
	if !errors.As(err, &p) || p.Status != http.StatusConflict {
		t.Errorf("second cancel: %v, want a 409 Problem", err)
	}
	_, err = c.GetTask(ctx, "no-such-task")
	if !errors.As(err, &p) || p.Status != http.StatusNotFound {
		t.Errorf("unknown task: %v, want a 404 Problem", err)
	}
}

func TestProblemNamesTheField(t *testing.T) {
	t.Parallel()
	srv := newServer(t, serverOptions{})
	c := client.New(srv.URL, srv.Key)
	ctx := testContext(t)
	_, err := c.SubmitImage(ctx, client.ImageRequest{Prompt: "a fox", Size: "3x3", N: 9})
	var p *client.Problem
	if !errors.As(err, &p) {
		t.Fatalf("error %v (%T), want a *Problem", err, err)
	}
	if p.Status != http.StatusBadRequest || p.Type != "urn:mediatasks:problem:invalid-request" {
		t.Errorf("problem %+v", p)
	}
	for _, field := range []string{"size", "n"} {
		if msg, ok := p.Field(field); !ok || msg == "" {
			t.Errorf("problem does not name %s: %+v", field, p.Errors)
		}
	}
	if _, ok := p.Field("prompt"); ok {
		t.Errorf("problem names prompt: %+v", p.Errors)
	}
	if !strings.HasPrefix(err.Error(), "submit image: 400") {
		t.Errorf("error text %q", err)
	}

	_, err = client.New(srv.URL, "mt_wrong").GetTask(ctx, "x")
	if !errors.As(err, &p) || p.Status != http.StatusUnauthorized {
		t.Errorf("bad key: %v, want a 401 Problem", err)
	}
}

// A 429 is waited out as Retry-After says, then the call goes through;
// past the bound on waits it is the caller's.
func TestRateLimitIsRetriedAfterRetryAfter(t *testing.T) {
	t.Parallel()
	var refused atomic.Int32
	srv := newServer(t, serverOptions{wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && refused.Add(1) == 1 {
				w.Header().Set("Content-Type", "application/problem+json")
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusTooManyRequests)
				io.WriteString(w, `{"type":"urn:mediatasks:problem:rate-limited","title":"Too Many Requests","status":429,"detail":"slow down","errors":[]}`)
				return
			}
			h.ServeHTTP(w, r)
		})
	}})
	ctx := testContext(t)
	start := time.Now()
	tk, err := client.New(srv.URL, srv.Key).SubmitImage(ctx, client.ImageRequest{Prompt: "a fox"})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < time.Second || took > 5*time.Second {
		t.Errorf("submit took %s, want Retry-After's second and a little", took)
	}
	if tk.ID == "" || refused.Load() != 2 {
		t.Errorf("task %q after %d POSTs", tk.ID, refused.Load())
	}

	refused.Store(0)
	_, err = client.New(srv.URL, srv.Key, client.WithMaxRetryWait(100*time.Millisecond)).SubmitImage(ctx, client.ImageRequest{Prompt: "a fox"})
	var p *client.Problem
	if !errors.As(err, &p) || p.Status != http.StatusTooManyRequests {
		t.Errorf("a Retry-After past the bound: %v, want the 429", err)
	}
}

// A POST whose answer is lost is sent again with the same Idempotency-Key:
// the server answers the first answer again and creates nothing more.
func TestRetryReusesTheIdempotencyKey(t *testing.T) {
	t.Parallel()
	var (
		mu       sync.Mutex
		keys     []string
		replayed []string
	)
	srv := newServer(t, serverOptions{wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost {
				h.ServeHTTP(w, r)
				return
			}
			mu.Lock()
			keys = append(keys, r.Header.Get("Idempotency-Key"))
			first := len(keys) == 1
			mu.Unlock()
			if first { // the work is done, the answer lost
				h.ServeHTTP(httptest.NewRecorder(), r)
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			mu.Lock()
			replayed = append(replayed, rec.Header().Get("Idempotent-Replayed"))
			mu.Unlock()
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
		})
	}})
	c := client.New(srv.URL, srv.Key, client.WithBackoff(10*time.Millisecond))
	ctx := testContext(t)
	tk, err := c.SubmitImage(ctx, client.ImageRequest{Prompt: "only once"})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(keys) != 2 || keys[0] == "" || keys[0] != keys[1] {
		t.Errorf("Idempotency-Keys %q, want one key twice", keys)
	}
	if !slices.Equal(replayed, []string{"true"}) {
		t.Errorf("Idempotent-Replayed %q", replayed)
	}
	mu.Unlock()
	n := 0
	for got, err := range c.ListTasks(ctx, client.TaskFilter{}) {
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != tk.ID {
			t.Errorf("task %s besides %s", got.ID, tk.ID)
		}
		n++
	}
	if n != 1 {
		t.Errorf("%d tasks, want 1", n)
	}

	// Another call is another key.
	if _, err := c.SubmitImage(ctx, client.ImageRequest{Prompt: "again"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(keys) != 3 || keys[2] == keys[0] {
		t.Errorf("keys %q: a new call reused the key", keys)
	}
}

// A stream cut after its first event is opened again after that event.
func TestWaitResumesADroppedStream(t *testing.T) {
	t.Parallel()
	var (
		mu          sync.Mutex
		streams     int
		lastEventID []string
	)
	srv := newServer(t, serverOptions{
		simOptions: `{"latency_ms":5,"poll_steps":3,"poll_after_ms":100}`,
		wrap: func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !strings.HasSuffix(r.URL.Path, "/events") {
					h.ServeHTTP(w, r)
					return
				}
				mu.Lock()
				streams++
				first := streams == 1
				lastEventID = append(lastEventID, r.Header.Get("Last-Event-ID"))
				mu.Unlock()
				if first {
					h.ServeHTTP(&cutAfterFirstEvent{ResponseWriter: w}, r)
					return
				}
				h.ServeHTTP(w, r)
			})
		},
	})
	c := client.New(srv.URL, srv.Key)
	ctx := testContext(t)
	tk, err := c.SubmitVideo(ctx, client.VideoRequest{Prompt: "waves"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	var last client.Event
	for ev, err := range c.Events(ctx, tk.ID) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.ID)
		last = ev
	}
	if !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != len(ids) || len(ids) < 3 {
		t.Errorf("event ids %v: want each once, in order", ids)
	}
	if last.Type != client.EventTaskCompleted || last.Task.Status != client.StatusCompleted {
		t.Errorf("last event %s, task %s", last.Type, last.Task.Status)
	}
	mu.Lock()
	if len(lastEventID) < 2 || lastEventID[0] != "" || lastEventID[1] != "1" {
		t.Errorf("Last-Event-ID of each stream %q, want none then 1", lastEventID)
	}
	mu.Unlock()

	// Wait on a task that has ended reads it at once.
	done, err := c.Wait(ctx, tk.ID)
	if err != nil || done.Status != client.StatusCompleted {
		t.Errorf("wait on an ended task: %+v, %v", done, err)
	}
}

// cutAfterFirstEvent passes an event stream through until its first event
// and then drops the connection, as a proxy that times out would.
type cutAfterFirstEvent struct {
	http.ResponseWriter
	written strings.Builder
	cut     bool
}

func (c *cutAfterFirstEvent) Write(p []byte) (int, error) {
	if c.cut {
		return 0, errors.New("connection cut")
	}
	n, err := c.ResponseWriter.Write(p)
	c.written.Write(p[:n])
	if strings.Contains(c.written.String(), "\n\n") {
		c.cut = true
		rc := http.NewResponseController(c.ResponseWriter)
		_ = rc.Flush()
		if conn, _, herr := rc.Hijack(); herr == nil {
			conn.Close()
		}
	}
	return n, err
}

func (c *cutAfterFirstEvent) Flush() {
	if !c.cut {
		_ = http.NewResponseController(c.ResponseWriter).Flush()
	}
}

func (c *cutAfterFirstEvent) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func TestAccountCalls(t *testing.T) {
	t.Parallel()
	srv := newServer(t, serverOptions{})
	c := client.New(srv.URL, srv.Key)
	ctx := testContext(t)
	h, err := c.Health(ctx)
	if err != nil || h.Status != "ok" {
		t.Errorf("health %+v, %v", h, err)
	}
	tpls, err := c.Templates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(tpls) > 0 && tpls[0].Name == "" {
		t.Errorf("templates %+v", tpls)
	}
	op, err := c.PromptPreview(ctx, client.PromptPreview{TaskType: client.ImageGeneration, Prompt: "  a   fox  ", PromptOptimization: client.PromptOptimization{Mode: "auto"}})
	if err != nil {
		t.Fatal(err)
	}
	if op.Original == "" || op.Final == "" || op.Mode != "auto" {
		t.Errorf("optimized prompt %+v", op)
	}
	secret, err := c.WebhookSecret(ctx)
	if err != nil || !strings.HasPrefix(secret.Secret, "whsec_") {
		t.Fatalf("webhook secret %+v, %v", secret, err)
	}
	rotated, err := c.RotateWebhookSecret(ctx)
	if err != nil || rotated.Secret == secret.Secret || !slices.Contains(rotated.Previous, secret.Secret) {
		t.Errorf("rotated secret %+v, %v", rotated, err)
	}
	// The local server stores uploads itself: it signs no upload URLs.
	var p *client.Problem
	if _, err := c.RequestUploadURL(ctx, "audio/wav", 10); !errors.As(err, &p) || p.Status != http.StatusBadRequest {
		t.Errorf("an upload URL from the local server: %v, want a 400", err)
	}
	for d, err := range c.ListDeliveries(ctx, client.DeliveryFilter{}) {
		t.Errorf("a delivery without webhooks: %+v, %v", d, err)
	}
}
