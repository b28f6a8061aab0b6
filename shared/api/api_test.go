package api

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/videoai/mediatasks/shared/app"
	"github.com/videoai/mediatasks/shared/auth"
	"github.com/videoai/mediatasks/shared/task"
)

// Each of the four submits answers 202 with the task and its Location; the
// task can then be read, listed and canceled, and a second cancel is 409.
func TestSubmitReadListCancel(t *testing.T) {
	t.Parallel()
	h, b := setup(t)
	tests := map[string]struct {
		path  string
		body  map[string]any
		typ   task.Type
		input map[string]any // expected input_data, defaults filled in
	}{
		"image": {
			path:  "/images/generate",
			body:  map[string]any{"prompt": "a red fox", "priority": "high", "metadata": map[string]string{"ref": "1"}},
			typ:   task.TypeImageGeneration,
			input: map[string]any{"prompt": "a red fox", "size": "1024x1024", "n": 1.0},
		},
		"video": {
			path:  "/videos/generate",
			body:  map[string]any{"prompt": "waves", "image_url": "https://example.com/a.png", "prompt_optimization": map[string]any{"mode": "auto"}},
			typ:   task.TypeVideoGeneration,
			input: map[string]any{"prompt": "waves", "image_url": "https://example.com/a.png", "duration_seconds": 5.0, "aspect_ratio": "16:9", "prompt_optimization": map[string]any{"mode": "auto"}},
		},
		"audio": {
			path:  "/audio/transcribe",
			body:  map[string]any{"audio_url": "https://example.com/a.mp3", "language": "pt-BR"},
			typ:   task.TypeAudioTranscription,
			input: map[string]any{"audio_url": "https://example.com/a.mp3", "language": "pt-BR"},
		},
		"subtitles": {
			path:  "/subtitles/generate",
			body:  map[string]any{"audio_url": "https://example.com/a.mp3", "format": "vtt", "webhook_url": "https://hooks.example.com/x", "webhook_events": []string{"task.completed"}},
			typ:   task.TypeSubtitleGeneration,
			input: map[string]any{"audio_url": "https://example.com/a.mp3", "format": "vtt", "max_line_chars": 42.0},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rec := do(t, h, req{method: "POST", path: Prefix + tc.path, key: b.keyA, body: tc.body})
			wantStatus(t, rec, http.StatusAccepted)
			created := decode[map[string]any](t, rec)
			id, _ := created["id"].(string)
			if loc := rec.Header().Get("Location"); loc != Prefix+"/tasks/"+id {
				t.Fatalf("Location %q for task %q", loc, id)
			}
			if created["status"] != "queued" || created["task_type"] != string(tc.typ) || created["output_data"] != nil || created["error"] != nil {
				t.Fatalf("created %v", created)
			}
			in, _ := json.Marshal(created["input_data"])
			want, _ := json.Marshal(tc.input)
			if !bytes.Equal(in, want) {
				t.Fatalf("input_data %s, want %s", in, want)
			}

			rec = do(t, h, req{method: "GET", path: Prefix + "/tasks/" + id, key: b.keyA})
			wantStatus(t, rec, http.StatusOK)
			if got := decode[map[string]any](t, rec); got["id"] != id {
				t.Fatalf("read %v", got)
			}

			rec = do(t, h, req{method: "GET", path: Prefix + "/tasks?task_type=" + string(tc.typ), key: b.keyA})
			wantStatus(t, rec, http.StatusOK)
			list := decode[taskList](t, rec)
			if len(list.Tasks) != 1 || list.Tasks[0].ID != id {
				t.Fatalf("listed %+v", list)
			}

			rec = do(t, h, req{method: "POST", path: Prefix + "/tasks/" + id + "/cancel", key: b.keyA})
			wantStatus(t, rec, http.StatusOK)
			canceled := decode[*task.Task](t, rec)
			if canceled.Status != task.StatusCanceled || canceled.Error == nil || canceled.CompletedAt == nil {
				t.Fatalf("canceled %+v", canceled)
			}
			rec = do(t, h, req{method: "POST", path: Prefix + "/tasks/" + id + "/cancel", key: b.keyA})
			wantProblem(t, rec, http.StatusConflict, "")
		})
	}
}

// Bad input answers 400 problem+json naming the field by its JSON path.
func TestSubmitValidation(t *testing.T) {
	t.Parallel()
	h, b := setup(t)
	long := strings.Repeat("é", 4001)
	meta17 := map[string]string{}
	for i := range 17 {
		meta17[fmt.Sprint("k", i)] = "v"
	}
	tests := map[string]struct {
		path  string
		body  any
		field string
	}{
		"no prompt":              {"/images/generate", map[string]any{}, "prompt"},
		"prompt too long":        {"/images/generate", map[string]any{"prompt": long}, "prompt"},
		"unknown field":          {"/images/generate", map[string]any{"prompt": "x", "colour": "red"}, "colour"},
		"field in another case":  {"/images/generate", `{"PROMPT": "x"}`, "PROMPT"},
		"field twice, two cases": {"/images/generate", `{"prompt": "a", "Prompt": "b"}`, "Prompt"},
		"nested field case":      {"/images/generate", `{"prompt": "x", "prompt_optimization": {"MODE": "auto"}}`, "prompt_optimization.MODE"},
		"batch item field case":  {"/batches", `{"tasks": [{"task_type": "image_generation", "input_data": {"prompt": "x", "Size": "512x512"}}]}`, "tasks[0].input_data.Size"},
		"bad size":               {"/images/generate", map[string]any{"prompt": "x", "size": "100x100"}, "size"},
		"n zero":                 {"/images/generate", map[string]any{"prompt": "x", "n": 0}, "n"},
		"n five":                 {"/images/generate", map[string]any{"prompt": "x", "n": 5}, "n"},
		"n not integer":          {"/images/generate", map[string]any{"prompt": "x", "n": 1.5}, "n"},
		"n string":               {"/images/generate", map[string]any{"prompt": "x", "n": "2"}, "n"},
		"prompt not string":      {"/images/generate", map[string]any{"prompt": 7}, "prompt"},
		"trailing data":          {"/images/generate", `{"prompt":"x"} {}`, "body"},
		"not an object":          {"/images/generate", `[1]`, "body"},
		"bad json":               {"/images/generate", `{"prompt":`, "body"},
		"empty body":             {"/images/generate", ``, "body"},
		"bad priority":           {"/images/generate", map[string]any{"prompt": "x", "priority": "urgent"}, "priority"},
		"metadata too many":      {"/images/generate", map[string]any{"prompt": "x", "metadata": meta17}, "metadata"},
		"metadata value long":    {"/images/generate", map[string]any{"prompt": "x", "metadata": map[string]string{"foo": strings.Repeat("v", 513)}}, "metadata.foo"},
		"metadata not strings":   {"/images/generate", map[string]any{"prompt": "x", "metadata": map[string]any{"foo": 1}}, "metadata"},
		"webhook not http":       {"/images/generate", map[string]any{"prompt": "x", "webhook_url": "ftp://example.com/"}, "webhook_url"},
		"webhook relative":       {"/images/generate", map[string]any{"prompt": "x", "webhook_url": "/hook"}, "webhook_url"},
		"webhook credentials":    {"/images/generate", map[string]any{"prompt": "x", "webhook_url": "https://u:p@example.com/"}, "webhook_url"},
		"events without url":     {"/images/generate", map[string]any{"prompt": "x", "webhook_events": []string{"task.completed"}}, "webhook_events"},
		"unknown event":          {"/images/generate", map[string]any{"prompt": "x", "webhook_url": "https://example.com/", "webhook_events": []string{"task.exploded"}}, "webhook_events[0]"},
		"duplicate event":        {"/images/generate", map[string]any{"prompt": "x", "webhook_url": "https://example.com/", "webhook_events": []string{"task.failed", "task.failed"}}, "webhook_events[1]"},
		"optimization mode":      {"/images/generate", map[string]any{"prompt": "x", "prompt_optimization": map[string]any{"mode": "magic"}}, "prompt_optimization.mode"},
		"template missing":       {"/images/generate", map[string]any{"prompt": "x", "prompt_optimization": map[string]any{"mode": "template"}}, "prompt_optimization.template"},
		"template only spaces":   {"/images/generate", map[string]any{"prompt": "x", "prompt_optimization": map[string]any{"mode": "template", "template": " \t "}}, "prompt_optimization.template"},
		"template too long":      {"/images/generate", map[string]any{"prompt": "x", "prompt_optimization": map[string]any{"mode": "template", "template": " " + strings.Repeat("t", 64)}}, "prompt_optimization.template"},
		"prompt only spaces":     {"/images/generate", map[string]any{"prompt": "   "}, "prompt"},
		"prompt only whitespace": {"/images/generate", map[string]any{"prompt": "\t\n\r \u00a0\u3000"}, "prompt"},
		"prompt long with space": {"/images/generate", map[string]any{"prompt": " " + strings.Repeat("p", 4000)}, "prompt"},
		"video prompt spaces":    {"/videos/generate", map[string]any{"prompt": "  "}, "prompt"},
		"audio url spaces":       {"/audio/transcribe", map[string]any{"audio_url": "   "}, "audio_url"},
		"subtitles task spaces":  {"/subtitles/generate", map[string]any{"transcription_task_id": " "}, "transcription_task_id"},
		"batch prompt spaces":    {"/batches", map[string]any{"tasks": []any{map[string]any{"task_type": "video_generation", "input_data": map[string]any{"prompt": " "}}}}, "tasks[0].input_data.prompt"},
		"optimization unknown":   {"/images/generate", map[string]any{"prompt": "x", "prompt_optimization": map[string]any{"mode": "auto", "x": 1}}, "prompt_optimization.x"},
		"video no prompt":        {"/videos/generate", map[string]any{"image_url": "https://example.com/a.png"}, "prompt"},
		"video duration":         {"/videos/generate", map[string]any{"prompt": "x", "duration_seconds": 21}, "duration_seconds"},
		"video aspect":           {"/videos/generate", map[string]any{"prompt": "x", "aspect_ratio": "4:3"}, "aspect_ratio"},
		"video image url":        {"/videos/generate", map[string]any{"prompt": "x", "image_url": "not a url"}, "image_url"},
		"audio neither":          {"/audio/transcribe", map[string]any{"language": "en"}, "audio_url"},
		"audio both":             {"/audio/transcribe", map[string]any{"audio_url": "https://example.com/a.mp3", "upload_id": "x"}, "audio_url"},
		"audio unknown upload":   {"/audio/transcribe", map[string]any{"upload_id": "0190d5a8-0000-7000-8000-000000000000"}, "upload_id"},
		"audio bad language":     {"/audio/transcribe", map[string]any{"audio_url": "https://example.com/a.mp3", "language": "english!"}, "language"},
		"subtitles none":         {"/subtitles/generate", map[string]any{"format": "srt"}, "audio_url"},
		"subtitles format":       {"/subtitles/generate", map[string]any{"audio_url": "https://example.com/a.mp3", "format": "ass"}, "format"},
		"subtitles line chars":   {"/subtitles/generate", map[string]any{"audio_url": "https://example.com/a.mp3", "max_line_chars": 19}, "max_line_chars"},
		"subtitles unknown task": {"/subtitles/generate", map[string]any{"transcription_task_id": "nope"}, "transcription_task_id"},
		"batch not array":        {"/batches", map[string]any{"tasks": "x"}, "tasks"},
		"batch empty":            {"/batches", map[string]any{"tasks": []any{}}, "tasks"},
		"batch bad type":         {"/batches", map[string]any{"tasks": []any{map[string]any{"task_type": "poem", "input_data": map[string]any{}}}}, "tasks[0].task_type"},
		"batch no input":         {"/batches", map[string]any{"tasks": []any{map[string]any{"task_type": "image_generation"}}}, "tasks[0].input_data"},
		"batch item unknown":     {"/batches", map[string]any{"tasks": []any{map[string]any{"task_type": "image_generation", "input_data": map[string]any{"prompt": "x"}, "webhook_url": "https://example.com"}}}, "tasks[0].webhook_url"},
		"batch input unknown":    {"/batches", map[string]any{"tasks": []any{map[string]any{"task_type": "image_generation", "input_data": map[string]any{"prompt": "x", "q": 1}}}}, "tasks[0].input_data.q"},
		"batch input type":       {"/batches", map[string]any{"tasks": []any{map[string]any{"task_type": "image_generation", "input_data": map[string]any{"prompt": "x", "n": "x"}}}}, "tasks[0].input_data.n"},
		"batch metadata key":     {"/batches", map[string]any{"tasks": []any{map[string]any{"task_type": "image_generation", "input_data": map[string]any{"prompt": "x"}, "metadata": map[string]string{"": "v"}}}}, "tasks[0].metadata"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rec := do(t, h, req{method: "POST", path: Prefix + tc.path, key: b.keyA, body: tc.body})
			wantProblem(t, rec, http.StatusBadRequest, tc.field)
		})
	}
	rec := do(t, h, req{method: "GET", path: Prefix + "/tasks", key: b.keyA})
	if n := len(decode[taskList](t, rec).Tasks); n != 0 {
		t.Fatalf("bad submits created %d tasks", n)
	}
}

// Spaces around a required text are kept as sent, and count toward its
// length.
func TestRequiredTextWithSpaces(t *testing.T) {
	t.Parallel()
	h, b := setup(t)
	tests := map[string]struct {
		path string
		body map[string]any
	}{
		"image":    {"/images/generate", map[string]any{"prompt": "  a fox\t"}},
		"at limit": {"/images/generate", map[string]any{"prompt": " " + strings.Repeat("p", 3998) + " "}},
		"video":    {"/videos/generate", map[string]any{"prompt": " waves "}},
		"template": {"/images/generate", map[string]any{"prompt": "x", "prompt_optimization": map[string]any{"mode": "template", "template": " poster "}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rec := do(t, h, req{method: "POST", path: Prefix + tc.path, key: b.keyA, body: tc.body})
			wantStatus(t, rec, http.StatusAccepted)
			var got struct {
				InputData map[string]any `json:"input_data"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if got.InputData["prompt"] != tc.body["prompt"] {
				t.Fatalf("prompt stored as %q, sent %q", got.InputData["prompt"], tc.body["prompt"])
			}
		})
	}
}

// A JSON body with another content type is 415.
func TestSubmitContentType(t *testing.T) {
	t.Parallel()
	h, b := setup(t)
	rec := do(t, h, req{method: "POST", path: Prefix + "/images/generate", key: b.keyA, body: `{"prompt":"x"}`,
		header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}})
	wantProblem(t, rec, http.StatusUnsupportedMediaType, "Content-Type")
}

// The webhook URL guard's verdict is the field's message.
func TestWebhookURLGuard(t *testing.T) {
	t.Parallel()
	h, b := setup(t, withOptions(func(o *Options) {
		o.WebhookURLGuard = func(u string) error {
			if strings.Contains(u, "127.0.0.1") {
				return fmt.Errorf("must not point at a loopback address")
			}
			return nil
		}
	}))
	rec := do(t, h, req{method: "POST", path: Prefix + "/images/generate", key: b.keyA, body: map[string]any{"prompt": "x", "webhook_url": "http://127.0.0.1/hook"}})
	p := wantProblem(t, rec, http.StatusBadRequest, "webhook_url")
	if !strings.Contains(p.Errors[0].Message, "loopback") {
		t.Fatalf("message %q", p.Errors[0].Message)
	}
	rec = do(t, h, req{method: "POST", path: Prefix + "/batches", key: b.keyA, body: map[string]any{"webhook_url": "http://127.0.0.1/hook",
		"tasks": []any{map[string]any{"task_type": "image_generation", "input_data": map[string]any{"prompt": "x"}}}}})
	wantProblem(t, rec, http.StatusBadRequest, "webhook_url")
}

// A pinned provider must be one that serves the task type; the check's
// verdict names the field, in single submits and in batches.
func TestPinnedProviderIsChecked(t *testing.T) {
	t.Parallel()
	h, b := setup(t, withOptions(func(o *Options) {
		o.ProviderCheck = func(typ task.Type, name string) error {
			if typ == task.TypeImageGeneration && (name == "" || name == "sim-image") {
				return nil
			}
			if name == "" {
				return fmt.Errorf("no provider serves %s", typ)
			}
			return fmt.Errorf("no provider %q serves %s", name, typ)
		}
	}))
	rec := do(t, h, req{method: "POST", path: Prefix + "/images/generate", key: b.keyA, body: map[string]any{"prompt": "x", "provider": "sim-image"}})
	wantStatus(t, rec, http.StatusAccepted)
	rec = do(t, h, req{method: "POST", path: Prefix + "/images/generate", key: b.keyA, body: map[string]any{"prompt": "x", "provider": "nope"}})
	p := wantProblem(t, rec, http.StatusBadRequest, "provider")
	if !strings.Contains(p.Errors[0].Message, `"nope"`) {
		t.Fatalf("message %q", p.Errors[0].Message)
	}
	rec = do(t, h, req{method: "POST", path: Prefix + "/batches", key: b.keyA, body: map[string]any{
		"tasks": []any{map[string]any{"task_type": "video_generation", "input_data": map[string]any{"prompt": "x", "provider": "sim-image"}}}}})
	wantProblem(t, rec, http.StatusBadRequest, "tasks[0].input_data.provider")
	// A task type that no provider serves is refused: it could only fail.
	rec = do(t, h, req{method: "POST", path: Prefix + "/videos/generate", key: b.keyA, body: map[string]any{"prompt": "x"}})
	p = wantProblem(t, rec, http.StatusBadRequest, "task_type")
	if !strings.Contains(p.Errors[0].Message, "video_generation") {
		t.Fatalf("message %q", p.Errors[0].Message)
	}
	rec = do(t, h, req{method: "POST", path: Prefix + "/batches", key: b.keyA, body: map[string]any{
		"tasks": []any{map[string]any{"task_type": "video_generation", "input_data": map[string]any{"prompt": "x"}}}}})
	wantProblem(t, rec, http.StatusBadRequest, "tasks[0].task_type")
}

// completeWithFile completes a task as the workflow does, with one output
// file.
func completeWithFile(t *testing.T, b *bundle, tk *task.Task, contentType, ext string) {
	t.Helper()
	ctx := context.Background()
	stored, err := b.app.StartAttempt(ctx, tk.ID, "sim", nil)
	if err != nil {
		t.Fatal(err)
	}
	out := &task.Output{Files: []task.File{{Key: app.OutputKey(stored, 0, ext), ContentType: contentType, SizeBytes: 3}}}
	if _, err := b.app.Complete(ctx, tk.ID, out, "sim", nil); err != nil {
		t.Fatal(err)
	}
}

// A task may read the output of another: transcription_task_id must name
// one of the caller's completed audio_transcription tasks, image_task_id
// a completed image_generation task, image_upload_id an image upload.
// Another user's task is answered as none.
func TestChainedInputs(t *testing.T) {
	t.Parallel()
	h, b := setup(t)
	rec := do(t, h, req{method: "POST", path: Prefix + "/audio/transcribe", key: b.keyA, body: map[string]any{"audio_url": "https://example.com/a.wav"}})
	wantStatus(t, rec, http.StatusAccepted)
	audio := decode[*task.Task](t, rec)
	completeWithFile(t, b, audio, "application/json", ".json")
	image := submitImage(t, h, b.keyA, "a still")
	completeWithFile(t, b, image, "image/png", ".png")
	queued := submitImage(t, h, b.keyA, "not yet")
	upload := func(contentType string) string {
		rec := do(t, h, req{method: "POST", path: Prefix + "/uploads", key: b.keyA, body: sampleOf(contentType, "abc"), header: map[string]string{"Content-Type": contentType}})
		wantStatus(t, rec, http.StatusCreated)
		return decode[app.Upload](t, rec).ID
	}
	png, wav := upload("image/png"), upload("audio/wav")
	const subtitles, videos = "/subtitles/generate", "/videos/generate"
	tests := map[string]struct {
		path, key, field, id string
		code                 int
	}{
		"own transcription":        {subtitles, b.keyA, "transcription_task_id", audio.ID, http.StatusAccepted},
		"an image as transcript":   {subtitles, b.keyA, "transcription_task_id", image.ID, http.StatusBadRequest},
		"another user's audio":     {subtitles, b.keyB, "transcription_task_id", audio.ID, http.StatusBadRequest},
		"no such task":             {subtitles, b.keyA, "transcription_task_id", "0190d5a8-0000-7000-8000-000000000000", http.StatusBadRequest},
		"own image":                {videos, b.keyA, "image_task_id", image.ID, http.StatusAccepted},
		"an image not completed":   {videos, b.keyA, "image_task_id", queued.ID, http.StatusBadRequest},
		"audio as image":           {videos, b.keyA, "image_task_id", audio.ID, http.StatusBadRequest},
		"another user's image":     {videos, b.keyB, "image_task_id", image.ID, http.StatusBadRequest},
		"an image upload":          {videos, b.keyA, "image_upload_id", png, http.StatusAccepted},
		"an audio upload as image": {videos, b.keyA, "image_upload_id", wav, http.StatusBadRequest},
		"another user's upload":    {videos, b.keyB, "image_upload_id", png, http.StatusBadRequest},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body := map[string]any{tc.field: tc.id}
			if tc.path == videos {
				body["prompt"] = "slow zoom"
			}
			rec := do(t, h, req{method: "POST", path: Prefix + tc.path, key: tc.key, body: body})
			if tc.code == http.StatusBadRequest {
				wantProblem(t, rec, tc.code, tc.field)
				return
			}
			wantStatus(t, rec, tc.code)
		})
	}
	rec = do(t, h, req{method: "POST", path: Prefix + videos, key: b.keyA,
		body: map[string]any{"prompt": "x", "image_url": "https://example.com/a.png", "image_task_id": image.ID}})
	wantProblem(t, rec, http.StatusBadRequest, "image_url")
}

func imageItem(prompt string) map[string]any {
	return map[string]any{"task_type": "image_generation", "input_data": map[string]any{"prompt": prompt}}
}

// A batch answers 202 with its tasks; 51 tasks are refused; one bad item
// refuses the whole batch, named by its index, and creates nothing.
func TestBatches(t *testing.T) {
	t.Parallel()
	h, b := setup(t)

	items := []any{
		imageItem("one"),
		map[string]any{"task_type": "audio_transcription", "input_data": map[string]any{"audio_url": "https://example.com/a.mp3"}, "priority": "low", "metadata": map[string]string{"k": "v"}},
		map[string]any{"task_type": "video_generation", "input_data": map[string]any{"prompt": "sea", "duration_seconds": 3}},
	}
	rec := do(t, h, req{method: "POST", path: Prefix + "/batches", key: b.keyA, body: map[string]any{"tasks": items, "webhook_url": "https://hooks.example.com/b"}})
	wantStatus(t, rec, http.StatusAccepted)
	batch := decode[*task.Batch](t, rec)
	if len(batch.TaskIDs) != 3 || batch.Status != task.BatchRunning || batch.Counts[task.StatusQueued] != 3 {
		t.Fatalf("batch %+v", batch)
	}
	if loc := rec.Header().Get("Location"); loc != Prefix+"/batches/"+batch.ID {
		t.Fatalf("Location %q", loc)
	}
	rec = do(t, h, req{method: "GET", path: Prefix + "/batches/" + batch.ID, key: b.keyA})
	wantStatus(t, rec, http.StatusOK)
	rec = do(t, h, req{method: "GET", path: Prefix + "/tasks?batch_id=" + batch.ID, key: b.keyA})
	if got := decode[taskList](t, rec); len(got.Tasks) != 3 {
		t.Fatalf("listed %d tasks of the batch", len(got.Tasks))
	}
	// Canceling a task moves the batch's counters.
	wantStatus(t, do(t, h, req{method: "POST", path: Prefix + "/tasks/" + batch.TaskIDs[0] + "/cancel", key: b.keyA}), http.StatusOK)
	rec = do(t, h, req{method: "GET", path: Prefix + "/batches/" + batch.ID, key: b.keyA})
	if got := decode[*task.Batch](t, rec); got.Counts[task.StatusCanceled] != 1 || got.Counts[task.StatusQueued] != 2 {
		t.Fatalf("counts after a cancel: %v", got.Counts)
	}

	tests := map[string]struct {
		tasks  []any
		fields []string
	}{
		"51 tasks": {func() []any {
			var ts []any
			for i := range 51 {
				ts = append(ts, imageItem(fmt.Sprint(i)))
			}
			return ts
		}(), []string{"tasks"}},
		"bad items": {[]any{
			imageItem("fine"), imageItem("fine"), imageItem(""),
			imageItem("fine"),
			map[string]any{"task_type": "video_generation", "input_data": map[string]any{"prompt": "x", "aspect_ratio": "2:1"}, "priority": "now"},
		}, []string{"tasks[2].input_data.prompt", "tasks[4].input_data.aspect_ratio", "tasks[4].priority"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rec := do(t, h, req{method: "POST", path: Prefix + "/batches", key: b.keyB, body: map[string]any{"tasks": tc.tasks}})
			p := wantProblem(t, rec, http.StatusBadRequest, tc.fields[0])
			if len(p.Errors) != len(tc.fields) {
				t.Fatalf("errors %+v, want fields %q", p.Errors, tc.fields)
			}
			for i, f := range tc.fields {
				if p.Errors[i].Field != f {
					t.Fatalf("errors %+v, want fields %q", p.Errors, tc.fields)
				}
			}
			rec = do(t, h, req{method: "GET", path: Prefix + "/tasks", key: b.keyB})
			if got := decode[taskList](t, rec); len(got.Tasks) != 0 {
				t.Fatalf("a refused batch created %d tasks", len(got.Tasks))
			}
		})
	}
}

// Cursors walk 250 tasks, newest first, without gaps or repeats, at two
// page sizes; bad parameters are 400s naming them.
func TestListCursors(t *testing.T) {
	t.Parallel()
	h, b := setup(t)
	const total = 250
	// 5 batches of 50 make the 250 tasks quickly; ids are time-ordered.
	var created []string
	for range total / 50 {
		var items []any
		for i := range 50 {
			items = append(items, imageItem(fmt.Sprint(i)))
		}
		rec := do(t, h, req{method: "POST", path: Prefix + "/batches", key: b.keyA, body: map[string]any{"tasks": items}})
		wantStatus(t, rec, http.StatusAccepted)
		created = append(created, decode[*task.Batch](t, rec).TaskIDs...)
		time.Sleep(2 * time.Millisecond)
	}
	submitImage(t, h, b.keyB, "someone else's") // never listed for A

	for _, limit := range []int{100, 7} {
		t.Run(fmt.Sprint("limit ", limit), func(t *testing.T) {
			t.Parallel()
			var got []*task.Task
			cursor := ""
			for pages := 0; ; pages++ {
				if pages > total {
					t.Fatal("the cursor never ends")
				}
				q := url.Values{"limit": {strconv.Itoa(limit)}}
				if cursor != "" {
					q.Set("cursor", cursor)
				}
				rec := do(t, h, req{method: "GET", path: Prefix + "/tasks?" + q.Encode(), key: b.keyA})
				wantStatus(t, rec, http.StatusOK)
				page := decode[taskList](t, rec)
				if len(page.Tasks) > limit {
					t.Fatalf("page of %d, limit %d", len(page.Tasks), limit)
				}
				got = append(got, page.Tasks...)
				if cursor = page.NextCursor; cursor == "" {
					break
				}
			}
			if len(got) != total {
				t.Fatalf("walked %d tasks, want %d", len(got), total)
			}
			seen := map[string]bool{}
			for i, tk := range got {
				if seen[tk.ID] {
					t.Fatalf("task %s listed twice", tk.ID)
				}
				seen[tk.ID] = true
				if i > 0 && tk.CreatedAt.After(got[i-1].CreatedAt) {
					t.Fatalf("task %d is newer than task %d", i, i-1)
				}
			}
			for _, id := range created {
				if !seen[id] {
					t.Fatalf("task %s never listed", id)
				}
			}
		})
	}

	bad := map[string]struct{ query, field string }{
		"limit zero":   {"limit=0", "limit"},
		"limit 101":    {"limit=101", "limit"},
		"limit word":   {"limit=ten", "limit"},
		"status":       {"status=done", "status"},
		"task type":    {"task_type=poem", "task_type"},
		"cursor":       {"cursor=not-a-cursor", "cursor"},
		"cursor bytes": {"cursor=%00%ff", "cursor"},
	}
	for name, tc := range bad {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			wantProblem(t, do(t, h, req{method: "GET", path: Prefix + "/tasks?" + tc.query, key: b.keyA}), http.StatusBadRequest, tc.field)
		})
	}
}

// A user never sees another's tasks, batches or uploads: 404 (or, for an
// upload_id in a submit, 400 naming the field).
func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	h, b := setup(t)
	tk := submitImage(t, h, b.keyA, "alice's")
	rec := do(t, h, req{method: "POST", path: Prefix + "/batches", key: b.keyA, body: map[string]any{"tasks": []any{imageItem("a")}}})
	wantStatus(t, rec, http.StatusAccepted)
	batch := decode[*task.Batch](t, rec)
	rec = do(t, h, req{method: "POST", path: Prefix + "/uploads", key: b.keyA, body: "RIFF....WAVE",
		header: map[string]string{"Content-Type": "audio/wav"}})
	wantStatus(t, rec, http.StatusCreated)
	up := decode[app.Upload](t, rec)

	tests := map[string]req{
		"read task":    {method: "GET", path: Prefix + "/tasks/" + tk.ID},
		"cancel task":  {method: "POST", path: Prefix + "/tasks/" + tk.ID + "/cancel"},
		"task events":  {method: "GET", path: Prefix + "/tasks/" + tk.ID + "/events"},
		"read batch":   {method: "GET", path: Prefix + "/batches/" + batch.ID},
		"unknown task": {method: "GET", path: Prefix + "/tasks/" + strings.Repeat("x", 200)},
	}
	// The group returns only when its parallel subtests have ended: the
	// checks of alice's state below run after all of bob's attempts.
	t.Run("bob", func(t *testing.T) {
		for name, r := range tests {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				r.key = b.keyB
				wantProblem(t, do(t, h, r), http.StatusNotFound, "")
			})
		}
		t.Run("use upload", func(t *testing.T) {
			t.Parallel()
			rec := do(t, h, req{method: "POST", path: Prefix + "/audio/transcribe", key: b.keyB, body: map[string]any{"upload_id": up.ID}})
			wantProblem(t, rec, http.StatusBadRequest, "upload_id")
			rec = do(t, h, req{method: "POST", path: Prefix + "/subtitles/generate", key: b.keyB, body: map[string]any{"upload_id": up.ID}})
			wantProblem(t, rec, http.StatusBadRequest, "upload_id")
		})
		t.Run("list", func(t *testing.T) {
			t.Parallel()
			rec := do(t, h, req{method: "GET", path: Prefix + "/tasks", key: b.keyB})
			if got := decode[taskList](t, rec); len(got.Tasks) != 0 {
				t.Fatalf("bob lists %d of alice's tasks", len(got.Tasks))
			}
			rec = do(t, h, req{method: "GET", path: Prefix + "/tasks?batch_id=" + batch.ID, key: b.keyB})
			if got := decode[taskList](t, rec); len(got.Tasks) != 0 {
				t.Fatalf("bob lists %d of alice's batch tasks", len(got.Tasks))
			}
		})
	})
	// Alice still has it all, untouched: bob's cancel did nothing.
	rec = do(t, h, req{method: "GET", path: Prefix + "/tasks/" + tk.ID, key: b.keyA})
	wantStatus(t, rec, http.StatusOK)
	if got := decode[*task.Task](t, rec); got.Status != task.StatusQueued {
		t.Fatalf("alice's task is %s after bob's attempts, want queued", got.Status)
	}
	wantStatus(t, do(t, h, req{method: "GET", path: Prefix + "/batches/" + batch.ID, key: b.keyA}), http.StatusOK)
	rec = do(t, h, req{method: "GET", path: Prefix + "/tasks?batch_id=" + batch.ID, key: b.keyA})
	if got := decode[taskList](t, rec); len(got.Tasks) != 1 {
		t.Fatalf("alice lists %d tasks of her batch, want 1", len(got.Tasks))
	}
}

func signJWT(t *testing.T, method jwt.SigningMethod, key any, claims jwt.RegisteredClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Missing or bad credentials are 401 with WWW-Authenticate; an API key and
// a valid HS256 JWT pass.
func TestAuthentication(t *testing.T) {
	t.Parallel()
	h, b := setup(t)
	future := jwt.NewNumericDate(time.Now().Add(time.Hour))
	past := jwt.NewNumericDate(time.Now().Add(-time.Minute))
	tests := map[string]struct {
		header string
		code   int
	}{
		"missing":         {"", http.StatusUnauthorized},
		"not bearer":      {"Basic " + b.keyA, http.StatusUnauthorized},
		"empty bearer":    {"Bearer ", http.StatusUnauthorized},
		"wrong key":       {"Bearer mt_0000000000000000000000000000000000000000000000000000000000000000", http.StatusUnauthorized},
		"garbage":         {"Bearer \x01\x02", http.StatusUnauthorized},
		"jwt alg none":    {"Bearer " + signJWT(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.RegisteredClaims{Subject: userA, ExpiresAt: future}), http.StatusUnauthorized},
		"jwt expired":     {"Bearer " + signJWT(t, jwt.SigningMethodHS256, b.jwtSecret, jwt.RegisteredClaims{Subject: userA, ExpiresAt: past}), http.StatusUnauthorized},
		"jwt wrong key":   {"Bearer " + signJWT(t, jwt.SigningMethodHS256, []byte("another secret, also thirty-two b"), jwt.RegisteredClaims{Subject: userA, ExpiresAt: future}), http.StatusUnauthorized},
		"jwt no expiry":   {"Bearer " + signJWT(t, jwt.SigningMethodHS256, b.jwtSecret, jwt.RegisteredClaims{Subject: userA}), http.StatusUnauthorized},
		"jwt no subject":  {"Bearer " + signJWT(t, jwt.SigningMethodHS256, b.jwtSecret, jwt.RegisteredClaims{ExpiresAt: future}), http.StatusUnauthorized},
		"api key":         {"Bearer " + b.keyA, http.StatusOK},
		"api key, scheme": {"bearer " + b.keyA, http.StatusOK},
		"valid jwt":       {"Bearer " + signJWT(t, jwt.SigningMethodHS256, b.jwtSecret, jwt.RegisteredClaims{Subject: userA, ExpiresAt: future}), http.StatusOK},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := req{method: "GET", path: Prefix + "/tasks"}
			if tc.header != "" {
				r.header = map[string]string{"Authorization": tc.header}
			}
			rec := do(t, h, r)
			if tc.code == http.StatusUnauthorized {
				wantProblem(t, rec, tc.code, "Authorization")
				if !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
					t.Fatalf("WWW-Authenticate %q", rec.Header().Get("WWW-Authenticate"))
				}
				return
			}
			wantStatus(t, rec, tc.code)
		})
	}
	// A JWT's subject is the user: alice's token reads alice's task.
	tk := submitImage(t, h, b.keyA, "mine")
	token := signJWT(t, jwt.SigningMethodHS256, b.jwtSecret, jwt.RegisteredClaims{Subject: userA, ExpiresAt: future})
	wantStatus(t, do(t, h, req{method: "GET", path: Prefix + "/tasks/" + tk.ID, key: token}), http.StatusOK)

	// Every route but health, the document, metrics and files asks.
	for _, rt := range routes {
		path := strings.NewReplacer("{id}", "x", "{key...}", "k").Replace(rt.pattern)
		rec := do(t, h, req{method: rt.method, path: path})
		if rt.public != (rec.Code != http.StatusUnauthorized) {
			t.Errorf("%s %s without credentials: %d", rt.method, rt.pattern, rec.Code)
		}
	}
}

// Bodies over the limits are 413: JSON over 1 MiB, uploads over theirs.
func TestTooLarge(t *testing.T) {
	t.Parallel()
	h, b := setup(t, withLimits(func(l *app.Limits) { l.UploadMaxBytes = 1024 }))
	big := `{"prompt":"` + strings.Repeat("x", maxJSONBody) + `"}`
	for name, path := range map[string]string{"image": "/images/generate", "batch": "/batches", "cancel": "/tasks/x/cancel"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			wantProblem(t, do(t, h, req{method: "POST", path: Prefix + path, key: b.keyA, body: big}), http.StatusRequestEntityTooLarge, "")
		})
	}
	t.Run("json without length", func(t *testing.T) {
		t.Parallel()
		hr := httptest.NewRequest("POST", Prefix+"/images/generate", strings.NewReader(big))
		hr.ContentLength = -1
		hr.Header.Set("Authorization", "Bearer "+b.keyA)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, hr)
		wantProblem(t, rec, http.StatusRequestEntityTooLarge, "")
	})
	t.Run("raw upload", func(t *testing.T) {
		t.Parallel()
		rec := do(t, h, req{method: "POST", path: Prefix + "/uploads", key: b.keyA, body: padded(wav(""), 1025),
			header: map[string]string{"Content-Type": "audio/wav"}})
		wantProblem(t, rec, http.StatusRequestEntityTooLarge, "file")
	})
	t.Run("multipart upload", func(t *testing.T) {
		t.Parallel()
		body, ct := multipartBody(t, "file", padded(wav(""), 1025))
		rec := do(t, h, req{method: "POST", path: Prefix + "/uploads", key: b.keyA, body: body, header: map[string]string{"Content-Type": ct}})
		wantProblem(t, rec, http.StatusRequestEntityTooLarge, "file")
	})
	t.Run("upload at the limit", func(t *testing.T) {
		t.Parallel()
		rec := do(t, h, req{method: "POST", path: Prefix + "/uploads", key: b.keyA, body: padded(wav(""), 1024),
			header: map[string]string{"Content-Type": "audio/wav"}})
		wantStatus(t, rec, http.StatusCreated)
	})
}

// Past the per-user token bucket, submits are 429 with Retry-After; other
// users and reads are not held back.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	h, b := setup(t, withLimits(func(l *app.Limits) { l.SubmitsPerMinute = 3 }))
	for range 2 {
		submitImage(t, h, b.keyA, "x")
	}
	// A batch costs one token per task: 2 tasks with 1 token left is refused.
	rec := do(t, h, req{method: "POST", path: Prefix + "/batches", key: b.keyA, body: map[string]any{"tasks": []any{imageItem("a"), imageItem("b")}}})
	wantProblem(t, rec, http.StatusTooManyRequests, "")
	submitImage(t, h, b.keyA, "x")
	rec = do(t, h, req{method: "POST", path: Prefix + "/images/generate", key: b.keyA, body: map[string]any{"prompt": "x"}})
	wantProblem(t, rec, http.StatusTooManyRequests, "")
	secs, err := strconv.Atoi(rec.Header().Get("Retry-After"))
	if err != nil || secs < 1 || secs > 20 {
		t.Fatalf("Retry-After %q: one token comes back every 20 s", rec.Header().Get("Retry-After"))
	}
	submitImage(t, h, b.keyB, "bob has his own bucket")
	wantStatus(t, do(t, h, req{method: "GET", path: Prefix + "/tasks", key: b.keyA}), http.StatusOK)
}

// The bucket refills with time, and idle buckets are dropped.
func TestLimiterRefillAndEviction(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter(60, func() time.Time { return now })
	for range 60 {
		if err := l.take("u", 1); err != nil {
			t.Fatal(err)
		}
	}
	err := l.take("u", 1)
	if p, ok := err.(*Problem); !ok || p.retryAfter != 1 {
		t.Fatalf("empty bucket: %v", err)
	}
	now = now.Add(1500 * time.Millisecond)
	if err := l.take("u", 1); err != nil {
		t.Fatalf("after refill: %v", err)
	}
	if err := l.take("big", 500); err != nil { // capped at the bucket's size
		t.Fatalf("a batch larger than the bucket: %v", err)
	}
	now = now.Add(2 * time.Minute)
	_ = l.take("other", 1)
	if len(l.buckets) != 1 {
		t.Fatalf("%d buckets after the others idled", len(l.buckets))
	}
}

// The same Idempotency-Key and request answer the first answer again and
// create nothing; the key with another request is 422.
func TestIdempotency(t *testing.T) {
	t.Parallel()
	h, b := setup(t)
	key := map[string]string{"Idempotency-Key": "order-42"}
	body := map[string]any{"prompt": "a fox"}
	first := do(t, h, req{method: "POST", path: Prefix + "/images/generate", key: b.keyA, body: body, header: key})
	wantStatus(t, first, http.StatusAccepted)
	again := do(t, h, req{method: "POST", path: Prefix + "/images/generate", key: b.keyA, body: body, header: key})
	wantStatus(t, again, http.StatusAccepted)
	if !bytes.Equal(first.Body.Bytes(), again.Body.Bytes()) || first.Header().Get("Location") != again.Header().Get("Location") ||
		again.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("replay differs:\n%s %v\n%s %v", first.Body, first.Header(), again.Body, again.Header())
	}
	rec := do(t, h, req{method: "GET", path: Prefix + "/tasks", key: b.keyA})
	if got := decode[taskList](t, rec); len(got.Tasks) != 1 {
		t.Fatalf("%d tasks after a replay", len(got.Tasks))
	}

	conflicts := map[string]req{
		"other body": {method: "POST", path: Prefix + "/images/generate", body: map[string]any{"prompt": "a wolf"}},
		"other path": {method: "POST", path: Prefix + "/videos/generate", body: body},
	}
	for name, r := range conflicts {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r.key, r.header = b.keyA, key
			wantProblem(t, do(t, h, r), http.StatusUnprocessableEntity, "Idempotency-Key")
		})
	}
	t.Run("keys are per user", func(t *testing.T) {
		t.Parallel()
		rec := do(t, h, req{method: "POST", path: Prefix + "/images/generate", key: b.keyB, body: map[string]any{"prompt": "a wolf"}, header: key})
		wantStatus(t, rec, http.StatusAccepted)
	})
	t.Run("key too long", func(t *testing.T) {
		t.Parallel()
		rec := do(t, h, req{method: "POST", path: Prefix + "/images/generate", key: b.keyA, body: body,
			header: map[string]string{"Idempotency-Key": strings.Repeat("k", 256)}})
		wantProblem(t, rec, http.StatusBadRequest, "Idempotency-Key")
	})
	t.Run("batch", func(t *testing.T) {
		t.Parallel()
		hk := map[string]string{"Idempotency-Key": "batch-1"}
		body := map[string]any{"tasks": []any{imageItem("a"), imageItem("b")}}
		first := do(t, h, req{method: "POST", path: Prefix + "/batches", key: b.keyB, body: body, header: hk})
		wantStatus(t, first, http.StatusAccepted)
		again := do(t, h, req{method: "POST", path: Prefix + "/batches", key: b.keyB, body: body, header: hk})
		if again.Code != http.StatusAccepted || !bytes.Equal(first.Body.Bytes(), again.Body.Bytes()) {
			t.Fatalf("batch replay: %d %s", again.Code, again.Body)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		t.Parallel()
		tk := submitImage(t, h, b.keyA, "to cancel")
		hk := map[string]string{"Idempotency-Key": "cancel-" + tk.ID}
		first := do(t, h, req{method: "POST", path: Prefix + "/tasks/" + tk.ID + "/cancel", key: b.keyA, header: hk})
		wantStatus(t, first, http.StatusOK)
		again := do(t, h, req{method: "POST", path: Prefix + "/tasks/" + tk.ID + "/cancel", key: b.keyA, header: hk})
		if again.Code != http.StatusOK || !bytes.Equal(first.Body.Bytes(), again.Body.Bytes()) || again.Header().Get("Idempotent-Replayed") != "true" {
			t.Fatalf("cancel replay: %d %s", again.Code, again.Body)
		}
		other := do(t, h, req{method: "POST", path: Prefix + "/tasks/" + tk.ID + "/cancel", key: b.keyA,
			header: map[string]string{"Idempotency-Key": "other-" + tk.ID}})
		wantProblem(t, other, http.StatusConflict, "")
		if other.Header().Get("Idempotent-Replayed") != "" || other.Header().Get("Retry-After") != "" {
			t.Fatalf("a cancel of an ended task with a new key: %v", other.Header())
		}
	})
	t.Run("upload", func(t *testing.T) {
		t.Parallel()
		hk := map[string]string{"Idempotency-Key": "upload-1", "Content-Type": "audio/wav"}
		first := do(t, h, req{method: "POST", path: Prefix + "/uploads", key: b.keyA, body: wav("sound"), header: hk})
		wantStatus(t, first, http.StatusCreated)
		again := do(t, h, req{method: "POST", path: Prefix + "/uploads", key: b.keyA, body: wav("sound"), header: hk})
		if again.Code != http.StatusCreated || !bytes.Equal(first.Body.Bytes(), again.Body.Bytes()) {
			t.Fatalf("upload replay: %d %s", again.Code, again.Body)
		}
		wantProblem(t, do(t, h, req{method: "POST", path: Prefix + "/uploads", key: b.keyA, body: "other sound", header: hk}),
			http.StatusUnprocessableEntity, "Idempotency-Key")
	})
}

// A cancel with a key that finds the task ended replays the answer a
// concurrent cancel with the same key stored after this one's first
// look-up; with nothing stored, the 409 stands. (The race is set up by
// hand: the look-up found nothing, then the winner stored its answer.)
func TestCancelLostRace(t *testing.T) {
	t.Parallel()
	h, b := setup(t)
	s := &server{app: b.app}
	tk := submitImage(t, h, b.keyA, "to cancel twice")
	path := Prefix + "/tasks/" + tk.ID + "/cancel"
	won := do(t, h, req{method: "POST", path: path, key: b.keyA})
	wantStatus(t, won, http.StatusOK)
	r := httptest.NewRequest("POST", path, nil)
	hash := hashRequest(r, nil)()
	terminal := fmt.Errorf("change task %s: %w", tk.ID, task.ErrTerminal)

	loser := idempotent{user: userA, key: "cancel-race", hash: hash}
	rec := loser.record(s, http.StatusOK, "", won.Body.Bytes())
	if err := b.store.PutIdempotency(context.Background(), *rec); err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	if err := loser.cancelled(s, w, r, terminal); err != nil {
		t.Fatalf("cancelled: %v", err)
	}
	checkResponse(t, "POST", path, w.Code, w.Header(), w.Body.Bytes())
	if w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), won.Body.Bytes()) || w.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %v %s", w.Code, w.Header(), w.Body)
	}

	for name, idem := range map[string]idempotent{
		"nothing stored": {user: userA, key: "cancel-none", hash: hash},
		"no key":         {user: userA, hash: hash},
	} {
		w := httptest.NewRecorder()
		if err := idem.cancelled(s, w, r, terminal); !errors.Is(err, task.ErrTerminal) || w.Code != http.StatusOK || w.Body.Len() != 0 {
			t.Errorf("%s: err %v, wrote %d %q", name, err, w.Code, w.Body)
		}
	}
	other := idempotent{user: userA, key: "cancel-race", hash: hashRequest(r, []byte("{}"))()}
	if err := other.cancelled(s, httptest.NewRecorder(), r, terminal); err == nil || !strings.Contains(err.Error(), "422") {
		t.Errorf("key stored for another request: %v, want 422", err)
	}
}

// Concurrent requests with one key create one task; all get its answer.
func TestIdempotencyRace(t *testing.T) {
	t.Parallel()
	h, b := setup(t)
	const n = 8
	codes := make(chan *httptest.ResponseRecorder, n)
	for range n {
		go func() {
			hr := httptest.NewRequest("POST", Prefix+"/images/generate", strings.NewReader(`{"prompt":"same"}`))
			hr.Header.Set("Authorization", "Bearer "+b.keyA)
			hr.Header.Set("Idempotency-Key", "race")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, hr)
			codes <- rec
		}()
	}
	var body []byte
	for range n {
		rec := <-codes
		wantStatus(t, rec, http.StatusAccepted)
		if body != nil && !bytes.Equal(body, rec.Body.Bytes()) {
			t.Fatalf("answers differ: %s vs %s", body, rec.Body)
		}
		body = rec.Body.Bytes()
	}
	rec := do(t, h, req{method: "GET", path: Prefix + "/tasks", key: b.keyA})
	if got := decode[taskList](t, rec); len(got.Tasks) != 1 {
		t.Fatalf("%d tasks from one key", len(got.Tasks))
	}
}

// Prefer: wait=N waits up to N seconds for the task to end; a queued task
// is still 202 then.
func TestPreferWait(t *testing.T) {
	t.Parallel()
	h, b := setup(t)
	start := time.Now()
	rec := do(t, h, req{method: "POST", path: Prefix + "/images/generate", key: b.keyA, body: map[string]any{"prompt": "x"},
		header: map[string]string{"Prefer": "respond-async, wait=1"}})
	wantStatus(t, rec, http.StatusAccepted)
	if time.Since(start) < time.Second {
		t.Fatalf("answered after %v, before the wait", time.Since(start))
	}
	if got := rec.Header().Get("Preference-Applied"); got != "wait=1" {
		t.Fatalf("Preference-Applied %q", got)
	}
	if tk := decode[*task.Task](t, rec); tk.Status != task.StatusQueued || rec.Header().Get("Location") == "" {
		t.Fatalf("task %+v", tk)
	}
	for name, v := range map[string]string{"word": "wait=soon", "over 60": "wait=61", "negative": "wait=-1"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rec := do(t, h, req{method: "POST", path: Prefix + "/images/generate", key: b.keyA, body: map[string]any{"prompt": "x"},
				header: map[string]string{"Prefer": v}})
			wantProblem(t, rec, http.StatusBadRequest, "Prefer")
		})
	}
}

func multipartBody(t *testing.T, field string, content []byte) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("note", "ignored")
	fw, err := mw.CreateFormFile(field, "speech.wav")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write(content)
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), mw.FormDataContentType()
}

// Uploads, multipart or raw, can be read back through their signed URL
// and transcribed by upload_id.
func TestUploads(t *testing.T) {
	t.Parallel()
	h, b := setup(t)
	mp, mpType := multipartBody(t, "file", wav("multipart audio"))
	other, otherType := multipartBody(t, "other", []byte("x"))
	tests := map[string]struct {
		body        []byte
		contentType string
		wantType    string
		want        []byte
	}{
		"multipart": {mp, mpType, "application/octet-stream", wav("multipart audio")},
		"raw":       {wav("raw audio"), "audio/mpeg", "audio/mpeg", wav("raw audio")},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rec := do(t, h, req{method: "POST", path: Prefix + "/uploads", key: b.keyA, body: tc.body, header: map[string]string{"Content-Type": tc.contentType}})
			wantStatus(t, rec, http.StatusCreated)
			up := decode[app.Upload](t, rec)
			if up.SizeBytes != int64(len(tc.want)) || up.ContentType != tc.wantType || up.ID == "" {
				t.Fatalf("upload %+v", up)
			}
			u, err := url.Parse(up.URL)
			if err != nil {
				t.Fatal(err)
			}
			rec = do(t, h, req{method: "GET", path: u.RequestURI()})
			if rec.Code != http.StatusOK || !bytes.Equal(rec.Body.Bytes(), tc.want) {
				t.Fatalf("file: %d %q", rec.Code, rec.Body)
			}
			rec = do(t, h, req{method: "POST", path: Prefix + "/audio/transcribe", key: b.keyA, body: map[string]any{"upload_id": up.ID}})
			wantStatus(t, rec, http.StatusAccepted)
			if tk := decode[*task.Task](t, rec); !strings.Contains(string(tk.Input), up.ID) {
				t.Fatalf("input %s", tk.Input)
			}
		})
	}
	bad := map[string]struct {
		body        []byte
		contentType string
		code        int
		field       string
	}{
		"no file field":  {other, otherType, http.StatusBadRequest, "file"},
		"empty file":     {nil, "audio/wav", http.StatusBadRequest, "file"},
		"no boundary":    {[]byte("x"), "multipart/form-data", http.StatusBadRequest, "Content-Type"},
		"bad multipart":  {[]byte("--nope\r\n"), mpType, http.StatusBadRequest, "body"},
		"bad media type": {[]byte("x"), "audio/", http.StatusUnsupportedMediaType, "Content-Type"},
		"a page":         {[]byte("<!DOCTYPE html><html><script>x()</script></html>"), "text/html", http.StatusBadRequest, "Content-Type"},
		"SVG":            {[]byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>x()</script></svg>`), "image/svg+xml", http.StatusBadRequest, "Content-Type"},
		"a page as WAV":  {[]byte("<!DOCTYPE html><html><script>x()</script></html>"), "audio/wav", http.StatusBadRequest, "Content-Type"},
		"a PDF as image": {[]byte("%PDF-1.7\n1 0 obj"), "image/png", http.StatusBadRequest, "Content-Type"},
		"text, untyped":  {[]byte("just some words"), "application/octet-stream", http.StatusBadRequest, "Content-Type"},
	}
	for name, tc := range bad {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rec := do(t, h, req{method: "POST", path: Prefix + "/uploads", key: b.keyA, body: tc.body, header: map[string]string{"Content-Type": tc.contentType}})
			wantProblem(t, rec, tc.code, tc.field)
		})
	}
	t.Run("bad signature", func(t *testing.T) {
		t.Parallel()
		rec := do(t, h, req{method: "GET", path: "/files/uploads/x/y?expires=1&sig=00"})
		if rec.Code < 400 || rec.Code >= 500 {
			t.Fatalf("status %d", rec.Code)
		}
	})
}

// Health is public and 200 when every component is up; stats and metrics
// answer too.
func TestHealthStatsMetrics(t *testing.T) {
	t.Parallel()
	h, b := setup(t)
	rec := do(t, h, req{method: "GET", path: Prefix + "/health"})
	wantStatus(t, rec, http.StatusOK)
	if hl := decode[map[string]any](t, rec); hl["status"] != "ok" {
		t.Fatalf("health %v", hl)
	}
	submitImage(t, h, b.keyA, "x")
	rec = do(t, h, req{method: "GET", path: Prefix + "/stats", key: b.keyA})
	wantStatus(t, rec, http.StatusOK)
	if st := decode[task.Stats](t, rec); st.Total != 1 {
		t.Fatalf("stats %+v", st)
	}
	rec = do(t, h, req{method: "GET", path: "/metrics"})
	wantStatus(t, rec, http.StatusOK)
	for _, want := range []string{
		`mediatasks_http_requests_total{code="202",route="POST /api/v1/media/images/generate"} 1`,
		`mediatasks_http_request_duration_seconds_bucket{route="GET /api/v1/media/stats"`,
		`mediatasks_queue_depth{priority="normal",state="visible"} 1`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	rec = do(t, h, req{method: "GET", path: Prefix + "/openapi.json"})
	wantStatus(t, rec, http.StatusOK)
}

// With the store down, health is 503, a problem that carries the state
// but not the error's text (that is logged); other routes answer 500
// without saying why.
func TestHealthDown(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	h, b := setup(t, withOptions(func(o *Options) {
		o.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	}))
	// Authenticated once while the store is up, the key is cached: /stats
	// below fails on its own read, not on the key's look-up.
	wantStatus(t, do(t, h, req{method: "GET", path: Prefix + "/stats", key: b.keyA}), http.StatusOK)
	if err := b.db.Close(); err != nil {
		t.Fatal(err)
	}
	rec := do(t, h, req{method: "GET", path: Prefix + "/health"})
	p := wantProblem(t, rec, http.StatusServiceUnavailable, "components.store")
	if p.Health == nil || p.Health.Status != "degraded" || p.Health.Components["store"].Status != "down" {
		t.Fatalf("health %+v", p.Health)
	}
	for name, c := range p.Health.Components {
		if c.Status == "down" && c.Error != "unavailable" {
			t.Errorf("component %s shows error %q, want \"unavailable\"", name, c.Error)
		}
	}
	for _, e := range p.Errors {
		if e.Message != "unavailable" {
			t.Errorf("problem error %+v, want the message \"unavailable\"", e)
		}
	}
	if strings.Contains(rec.Body.String(), "closed") {
		t.Errorf("health shows the store's error: %s", rec.Body)
	}
	if !strings.Contains(logs.String(), `"level":"WARN"`) || !strings.Contains(logs.String(), "closed") {
		t.Errorf("the store's error is not logged at warn level: %s", logs.String())
	}

	rec = do(t, h, req{method: "GET", path: Prefix + "/stats", key: b.keyA})
	if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), "closed") {
		t.Fatalf("stats on a closed store: %d %s", rec.Code, rec.Body)
	}
	if !strings.Contains(logs.String(), "stats") {
		t.Errorf("the failed stats read is not logged: %s", logs.String())
	}
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A write that lost to concurrent changes is 409 with Retry-After: 1; the
// mapping of the other errors stays as it was.
func TestToProblem(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		err        error
		status     int
		retryAfter int
		internal   bool
	}{
		"conflict":         {fmt.Errorf("change task x: %w", task.ErrConflict), http.StatusConflict, 1, false},
		"terminal":         {fmt.Errorf("change task x: %w", task.ErrTerminal), http.StatusConflict, 0, false},
		"not found":        {fmt.Errorf("get task x: %w", task.ErrNotFound), http.StatusNotFound, 0, false},
		"unauthenticated":  {auth.ErrUnauthenticated, http.StatusUnauthorized, 0, false},
		"too large":        {fmt.Errorf("submit 1 tasks: %w", task.ErrTooLarge), http.StatusRequestEntityTooLarge, 0, false},
		"anything else":    {errors.New("disk on fire"), http.StatusInternalServerError, 0, true},
		"problem as given": {&Problem{Status: http.StatusTeapot}, http.StatusTeapot, 0, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, internal := toProblem(tc.err)
			if p.Status != tc.status || p.retryAfter != tc.retryAfter || internal != tc.internal {
				t.Fatalf("toProblem(%v) = %+v internal %v; want status %d, retry after %d, internal %v",
					tc.err, p, internal, tc.status, tc.retryAfter, tc.internal)
			}
		})
	}
	t.Run("answer", func(t *testing.T) {
		t.Parallel()
		p, _ := toProblem(fmt.Errorf("cancel: %w", task.ErrConflict))
		rec := httptest.NewRecorder()
		writeProblem(rec, httptest.NewRequest("POST", Prefix+"/tasks/x/cancel", nil), p)
		checkResponse(t, "POST", Prefix+"/tasks/x/cancel", rec.Code, rec.Header(), rec.Body.Bytes())
		if rec.Code != http.StatusConflict || rec.Header().Get("Retry-After") != "1" {
			t.Fatalf("answer %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
		}
		if got := decode[Problem](t, rec); got.Detail != "the task changed while this request ran; retry" {
			t.Fatalf("detail %q", got.Detail)
		}
	})
}

// failingCollector fails every collection, as a collector reading a store
// that is down does.
type failingCollector struct{ desc *prometheus.Desc }

func (c failingCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c failingCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.NewInvalidMetric(c.desc, errors.New("queue stats: database is closed"))
}

// One failing collector leaves the rest of the scrape standing, and is
// logged.
func TestMetricsCollectorFails(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	h, b := setup(t, withOptions(func(o *Options) {
		o.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	}))
	b.app.Metrics.Registry.MustRegister(failingCollector{prometheus.NewDesc("mediatasks_test_failing", "Always fails.", nil, nil)})
	submitImage(t, h, b.keyA, "x")
	rec := do(t, h, req{method: "GET", path: "/metrics"})
	wantStatus(t, rec, http.StatusOK)
	if want := `mediatasks_http_requests_total{code="202",route="POST /api/v1/media/images/generate"} 1`; !strings.Contains(rec.Body.String(), want) {
		t.Errorf("metrics lack %s:\n%s", want, rec.Body)
	}
	if !strings.Contains(logs.String(), "database is closed") {
		t.Errorf("the failed collection is not logged: %s", logs.String())
	}
}

// Unknown routes and methods are problems too.
func TestUnmatched(t *testing.T) {
	t.Parallel()
	h, b := setup(t)
	wantProblem(t, do(t, h, req{method: "GET", path: Prefix + "/nothing", key: b.keyA}), http.StatusNotFound, "")
	rec := do(t, h, req{method: "DELETE", path: Prefix + "/tasks/x", key: b.keyA})
	wantProblem(t, rec, http.StatusMethodNotAllowed, "")
	if rec.Header().Get("Allow") != "GET" {
		t.Fatalf("Allow %q", rec.Header().Get("Allow"))
	}
}

// An input that passes every field's limit but is too large to store
// (32 optimisation parameters of 4,000 characters) is a 400 naming it,
// alone or in a batch, not a failure of the store.
func TestInputTooLargeToStore(t *testing.T) {
	t.Parallel()
	h, b := setup(t)
	params := map[string]string{}
	for i := range 32 {
		params[fmt.Sprintf("p%02d", i)] = strings.Repeat("&", 4000)
	}
	input := map[string]any{"prompt": "a lighthouse", "prompt_optimization": map[string]any{"mode": "manual", "params": params}}
	rec := do(t, h, req{method: "POST", path: Prefix + "/images/generate", key: b.keyA, body: input})
	p := wantProblem(t, rec, http.StatusBadRequest, "body")
	if !strings.Contains(p.Errors[0].Message, "once encoded") {
		t.Fatalf("message %q", p.Errors[0].Message)
	}
	rec = do(t, h, req{method: "POST", path: Prefix + "/batches", key: b.keyA, body: map[string]any{"tasks": []any{
		map[string]any{"task_type": "image_generation", "input_data": map[string]any{"prompt": "fine"}},
		map[string]any{"task_type": "image_generation", "input_data": input},
	}}})
	wantProblem(t, rec, http.StatusBadRequest, "tasks[1].input_data")

	// Below the bound, '&' is stored and answered as one byte, not six.
	small := map[string]any{"prompt": strings.Repeat("&", 4000)}
	rec = do(t, h, req{method: "POST", path: Prefix + "/images/generate", key: b.keyA, body: small})
	wantStatus(t, rec, http.StatusAccepted)
	if strings.Contains(rec.Body.String(), `\u0026`) {
		t.Fatalf("the answer escapes '&' for HTML")
	}
}

// Once today's completed tasks have cost the daily budget, submits are 402
// problem+json naming the setting; reads are still served.
func TestDailyBudgetSpentIs402(t *testing.T) {
	t.Parallel()
	h, b := setup(t, withLimits(func(l *app.Limits) { l.DailyBudgetUSD = 0.01 }))
	ctx := context.Background()
	id := submitImage(t, h, b.keyA, "a fox").ID
	if _, err := b.app.StartAttempt(ctx, id, "sim", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.app.Complete(ctx, id, &task.Output{}, "sim", &task.Cost{USD: 0.04, PriceVersion: "sim"}); err != nil {
		t.Fatal(err)
	}
	rec := do(t, h, req{method: "POST", path: Prefix + "/images/generate", key: b.keyA, body: map[string]any{"prompt": "x"}})
	wantProblem(t, rec, http.StatusPaymentRequired, "limits.daily_budget_usd")
	rec = do(t, h, req{method: "POST", path: Prefix + "/batches", key: b.keyA, body: map[string]any{"tasks": []any{imageItem("a")}}})
	wantProblem(t, rec, http.StatusPaymentRequired, "limits.daily_budget_usd")
	wantStatus(t, do(t, h, req{method: "GET", path: Prefix + "/tasks/" + id, key: b.keyA}), http.StatusOK)
	submitImage(t, h, b.keyB, "bob has spent nothing")
}

// What encoding/json would let through is a 400 naming the field: a key
// given twice, text that is not UTF-8, an escaped lone surrogate, a NUL.
func TestStrictJSONText(t *testing.T) {
	t.Parallel()
	h, b := setup(t)
	for name, tc := range map[string]struct {
		path, body, field string
	}{
		"a key twice":            {"/images/generate", `{"prompt": "a", "prompt": "b"}`, "prompt"},
		"a key twice, nested":    {"/images/generate", `{"prompt": "a", "metadata": {"k": "1", "k": "2"}}`, "metadata.k"},
		"a key twice in a batch": {"/batches", `{"tasks": [{"task_type": "image_generation", "input_data": {"prompt": "a", "size": "512x512", "size": "1024x1024"}}]}`, "tasks[0].input_data.size"},
		"invalid UTF-8":          {"/images/generate", "{\"prompt\": \"caf\xe9\"}", "prompt"},
		"invalid UTF-8 in a key": {"/images/generate", "{\"prompt\": \"a\", \"metadata\": {\"k\xff\": \"v\"}}", "metadata"},
		"a lone surrogate":       {"/images/generate", `{"prompt": "a \ud800 b"}`, "prompt"},
		"a NUL":                  {"/images/generate", `{"prompt": "a\u0000b"}`, "prompt"},
		"a NUL in metadata":      {"/images/generate", `{"prompt": "a", "metadata": {"k": "v\u0000"}}`, "metadata.k"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rec := do(t, h, req{method: "POST", path: Prefix + tc.path, key: b.keyA, body: []byte(tc.body)})
			wantProblem(t, rec, http.StatusBadRequest, tc.field)
		})
	}
	// Real text passes: accents, a replacement character sent as such, and
	// escapes of real characters (a surrogate pair).
	for _, body := range []string{`{"prompt": "café \ufffd ok"}`, "{\"prompt\": \"caf\u00e9 \ufffd\"}", `{"prompt": "a \ud83e\udd8a fox"}`} {
		wantStatus(t, do(t, h, req{method: "POST", path: Prefix + "/images/generate", key: b.keyA, body: []byte(body)}), http.StatusAccepted)
	}
}

// wav is the start of a WAV file (its bytes sniff as audio) followed by
// data: an upload the platform takes.
func wav(data string) []byte { return []byte("RIFF\x24\x00\x00\x00WAVEfmt " + data) }

// sampleOf is a file of contentType's kind holding data.
func sampleOf(contentType, data string) []byte {
	if strings.HasPrefix(contentType, "image/") {
		return []byte("\x89PNG\r\n\x1a\n" + data)
	}
	return wav(data)
}

// padded is b made n bytes long with zeros.
func padded(b []byte, n int) []byte { return append(b, make([]byte, n-len(b))...) }

// A full database is a pause, not a failure: submits answer 507 with
// Retry-After and store nothing, and are taken again once there is room.
func TestFullStorageIs507(t *testing.T) {
	t.Parallel()
	h, b := setup(t)
	submitImage(t, h, b.keyA, "before")
	ctx := context.Background()
	limit := func(pages string) {
		t.Helper()
		err := b.db.Write(ctx, func(tx *sql.Tx) error {
			if pages == "" {
				return tx.QueryRow(`PRAGMA page_count`).Scan(&pages)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// The writer's one connection takes the limit: the database is
		// full at its present size.
		if err := b.db.Write(ctx, func(tx *sql.Tx) error { _, err := tx.Exec(`PRAGMA max_page_count = ` + pages); return err }); err != nil {
			t.Fatal(err)
		}
	}
	limit("")
	for i := range 20 { // enough to outgrow the free pages left
		rec := do(t, h, req{method: "POST", path: Prefix + "/images/generate", key: b.keyA, body: map[string]any{"prompt": strings.Repeat("a fox ", 500)}})
		if rec.Code == http.StatusInsufficientStorage {
			wantProblem(t, rec, http.StatusInsufficientStorage, "")
			if rec.Header().Get("Retry-After") == "" {
				t.Error("a 507 without Retry-After")
			}
			break
		}
		if rec.Code != http.StatusAccepted || i == 19 {
			t.Fatalf("submit %d into a full database: %d %s", i, rec.Code, rec.Body)
		}
	}
	limit("1073741823")
	submitImage(t, h, b.keyA, "after")
}
