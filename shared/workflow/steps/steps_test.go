package steps_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/app"
	"github.com/videoai/mediatasks/shared/blob"
	"github.com/videoai/mediatasks/shared/blob/fsblob"
	"github.com/videoai/mediatasks/shared/prompt"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/queue/sqlitequeue"
	"github.com/videoai/mediatasks/shared/sqlitedb"
	"github.com/videoai/mediatasks/shared/storage"
	"github.com/videoai/mediatasks/shared/store/sqlitestore"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/transcript"
	"github.com/videoai/mediatasks/shared/workflow"
	"github.com/videoai/mediatasks/shared/workflow/steps"
)

// scripted is a provider registry that answers Start with what the test
// sets.
type scripted struct {
	start    func(req provider.Request) (provider.Response, error)
	canceled []string
	// caller, when set, makes the provider one that calls back.
	caller provider.Caller
}

func (s *scripted) Caller(string) (provider.Caller, bool) { return s.caller, s.caller != nil }

func (s *scripted) Choose(task.Type, string, string, []string, task.Input) (string, error) {
	return "p1", nil
}
func (s *scripted) Start(_ context.Context, _ string, req provider.Request) (provider.Response, error) {
	return s.start(req)
}
func (s *scripted) Poll(context.Context, string, provider.Request, string) (provider.Response, error) {
	return provider.Response{Job: "j", PollAfter: time.Second}, nil
}
func (s *scripted) Cancel(_ context.Context, _ string, _ provider.Request, job string) error {
	s.canceled = append(s.canceled, job)
	return nil
}
func (s *scripted) PromptLimits(string, task.Type) prompt.Limits {
	return prompt.Limits{Negative: true}
}
func (s *scripted) Type(string) string { return "scripted" }

type bundle struct {
	app     *app.App
	store   *sqlitestore.Store
	blobs   *fsblob.Store
	actions *steps.Actions
	prov    *scripted
}

func setup(t *testing.T) *bundle { return setupWith(t, true) }

// setupWith builds the actions; allowPrivate lets them fetch provider
// outputs from the loopback test servers.
func setupWith(t *testing.T, allowPrivate bool) *bundle {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlitedb.Open(filepath.Join(dir, "t.db"), sqlitedb.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st, err := sqlitestore.New(ctx, db, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	q, err := sqlitequeue.New(ctx, db, "tasks", sqlitequeue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := fsblob.New(filepath.Join(dir, "blobs"), fsblob.Options{BaseURL: "http://127.0.0.1:1", Secret: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(app.Deps{Store: sqlitestore.WithQueue{Store: st, Queue: q}, Tasks: q, Blobs: blobs})
	if err != nil {
		t.Fatal(err)
	}
	p := &scripted{}
	opt, err := prompt.New(prompt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &bundle{app: a, store: st, blobs: blobs, prov: p,
		actions: steps.New(steps.Deps{App: a, Blobs: blobs, Providers: p, Optimizer: opt, AllowPrivateOutputs: allowPrivate})}
}

// The provider is sent the optimised prompt the task shows, with its
// expansion off; a task that asked for no optimisation is sent as written.
func TestProviderIsSentTheOptimisedPrompt(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		input     string
		optimised bool
	}{
		"auto":       {`{"prompt":"a lighthouse","negative_prompt":"blur","prompt_optimization":{"mode":"auto"}}`, true},
		"as written": {`{"prompt":"a lighthouse","negative_prompt":"blur"}`, false},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			var sent provider.Request
			b.prov.start = func(req provider.Request) (provider.Response, error) {
				sent = req
				return provider.Response{Result: &provider.Result{Files: []provider.File{{ContentType: "image/png", Ext: ".png", Data: []byte("png")}}}}, nil
			}
			tk, err := b.app.SubmitTask(context.Background(), "alice", app.TaskSpec{Type: task.TypeImageGeneration, Input: json.RawMessage(tc.input)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.invoke(t, map[string]any{"action": "start", "task_id": tk.ID, "tried": []string{}}); err != nil {
				t.Fatal(err)
			}
			got, err := b.app.Task(context.Background(), tk.ID)
			if err != nil {
				t.Fatal(err)
			}
			var in task.ImageInput
			if err := json.Unmarshal(sent.Input, &in); err != nil {
				t.Fatal(err)
			}
			if !tc.optimised {
				if got.OptimizedPrompt != nil || string(sent.Input) != tc.input || sent.Expansion != nil {
					t.Errorf("sent %s (expansion %v), task shows %+v", sent.Input, sent.Expansion, got.OptimizedPrompt)
				}
				return
			}
			op := got.OptimizedPrompt
			if op == nil || in.Prompt != op.Final || in.NegativePrompt != op.NegativePrompt || op.Final == "a lighthouse" ||
				op.Provider != "p1" || sent.Expansion == nil || *sent.Expansion {
				t.Errorf("sent %s (expansion %v), task shows %+v", sent.Input, sent.Expansion, op)
			}
		})
	}
}

func (b *bundle) submit(t *testing.T) *task.Task {
	t.Helper()
	tk, err := b.app.SubmitTask(context.Background(), "alice", app.TaskSpec{Type: task.TypeAudioTranscription,
		Input: json.RawMessage(`{"audio_url":"https://example.com/a.wav"}`)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func (b *bundle) invoke(t *testing.T, in any) (json.RawMessage, error) {
	t.Helper()
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	return b.actions.Invoke(context.Background(), raw)
}

// A provider's output URL that names a loopback address is refused, as a
// webhook's would be: an answer cannot make the server fetch from itself.
func TestOutputURLOnAPrivateAddressIsRefused(t *testing.T) {
	t.Parallel()
	b := setupWith(t, false)
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the guarded client fetched %s", r.URL)
	}))
	defer src.Close()
	b.prov.start = func(provider.Request) (provider.Response, error) {
		return provider.Response{Result: &provider.Result{Files: []provider.File{{ContentType: "image/png", Ext: ".png", URL: src.URL + "/x.png"}}}}, nil
	}
	tk := b.submit(t)
	out, err := b.invoke(t, map[string]any{"action": "start", "task_id": tk.ID, "tried": []string{}})
	if err != nil {
		t.Fatal(err)
	}
	var step workflow.Step
	if err := json.Unmarshal(out, &step); err != nil {
		t.Fatal(err)
	}
	_, err = b.invoke(t, map[string]any{"action": "complete", "task_id": tk.ID, "step": step})
	if err == nil || !strings.Contains(err.Error(), "output_url_refused") {
		t.Fatalf("complete with a loopback output URL: %v; want output_url_refused", err)
	}
}

// A result larger than a workflow's state may carry is staged in the blob
// store; complete reads it back, and fetches the files the provider gave
// as URLs into the task's outputs.
func TestLargeOutputAndURLFilesAreStored(t *testing.T) {
	t.Parallel()
	b := setup(t)
	video := []byte("GIF89a a short film")
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/gif")
		w.Write(video)
	}))
	defer src.Close()
	text := strings.Repeat("every word of a long talk ", 4000) // ~100 KB
	b.prov.start = func(provider.Request) (provider.Response, error) {
		return provider.Response{Result: &provider.Result{Text: text, Files: []provider.File{
			{ContentType: "application/json", Ext: ".json", Data: []byte(`{"simulated":true}`)},
			{ContentType: "image/gif", Ext: ".gif", URL: src.URL + "/film.gif"},
		}}}, nil
	}
	tk := b.submit(t)
	out, err := b.invoke(t, map[string]any{"action": "start", "task_id": tk.ID, "tried": []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) > 4<<10 {
		t.Fatalf("the start step answered %d bytes: the output should be staged, not carried", len(out))
	}
	var step workflow.Step
	if err := json.Unmarshal(out, &step); err != nil || step.State != "done" || step.OutputKey == "" {
		t.Fatalf("step %s, %v", out, err)
	}
	if _, err := b.invoke(t, map[string]any{"action": "complete", "task_id": tk.ID, "step": step}); err != nil {
		t.Fatal(err)
	}
	got, err := b.store.GetTask(context.Background(), "alice", tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	// The text is too large to show inline: it is the third file.
	if got.Status != task.StatusCompleted || !got.Output.ResultInFile || got.Output.Text != "" || len(got.Output.Files) != 3 {
		t.Fatalf("task %s, result in file %v, %d bytes of text, %d files", got.Status, got.Output.ResultInFile, len(got.Output.Text), len(got.Output.Files))
	}
	resultFile := got.Output.Files[2]
	if resultFile.Role != task.RoleResult || resultFile.ContentType != "application/json" {
		t.Fatalf("result file %+v", resultFile)
	}
	rc, _, err := b.blobs.Get(context.Background(), resultFile.Key)
	if err != nil {
		t.Fatal(err)
	}
	var result struct {
		Text string `json:"text"`
	}
	err = json.NewDecoder(rc).Decode(&result)
	rc.Close()
	if err != nil || result.Text != text {
		t.Fatalf("result file holds %d bytes of text (%v), want %d", len(result.Text), err, len(text))
	}
	rc, obj, err := b.blobs.Get(context.Background(), got.Output.Files[1].Key)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rc)
	rc.Close()
	if string(body) != string(video) || obj.ContentType != "image/gif" {
		t.Fatalf("fetched file %q (%s)", body, obj.ContentType)
	}
}

// A result that arrives after a cancel is dropped: the task stays
// canceled, without output.
func TestResultAfterCancelIsDropped(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.prov.start = func(provider.Request) (provider.Response, error) {
		return provider.Response{Result: &provider.Result{Files: []provider.File{{ContentType: "application/json", Ext: ".json", Data: []byte(`{}`)}}}}, nil
	}
	tk := b.submit(t)
	out, err := b.invoke(t, map[string]any{"action": "start", "task_id": tk.ID, "tried": []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.app.Cancel(context.Background(), "alice", tk.ID); err != nil {
		t.Fatal(err)
	}
	var step workflow.Step
	if err := json.Unmarshal(out, &step); err != nil {
		t.Fatal(err)
	}
	res, err := b.invoke(t, map[string]any{"action": "complete", "task_id": tk.ID, "step": step})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(res), `"canceled"`) {
		t.Errorf("complete answered %s, want the task's canceled status", res)
	}
	got, err := b.store.GetTask(context.Background(), "alice", tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != task.StatusCanceled || got.Output != nil {
		t.Fatalf("task %s with output %+v, want canceled without output", got.Status, got.Output)
	}
	// A poll of the canceled task's job cancels it at the provider.
	if _, err := b.invoke(t, map[string]any{"action": "poll", "task_id": tk.ID, "provider": "p1", "job": "job-1", "polls": 0}); err != nil {
		t.Fatal(err)
	}
	if len(b.prov.canceled) != 1 || b.prov.canceled[0] != "job-1" {
		t.Fatalf("provider cancels %v", b.prov.canceled)
	}
}

// A task canceled while its provider was starting the job: the start
// step finds it canceled once the provider answers, cancels the job and
// ends, rather than hand a pending job to an execution that was stopped.
func TestJobStartedDuringCancelIsCanceled(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tk := b.submit(t)
	b.prov.start = func(provider.Request) (provider.Response, error) {
		if _, err := b.app.Cancel(context.Background(), "alice", tk.ID); err != nil {
			t.Error(err)
		}
		return provider.Response{Job: "job-started", PollAfter: time.Second}, nil
	}
	out, err := b.invoke(t, map[string]any{"action": "start", "task_id": tk.ID, "tried": []string{}})
	if err != nil {
		t.Fatal(err)
	}
	var step workflow.Step
	if err := json.Unmarshal(out, &step); err != nil {
		t.Fatal(err)
	}
	if step.State == "pending" {
		t.Fatalf("start answered a pending job for a canceled task: %s", out)
	}
	if len(b.prov.canceled) != 1 || b.prov.canceled[0] != "job-started" {
		t.Fatalf("provider cancels %v, want the started job", b.prov.canceled)
	}
}

// Provider errors come out under the names the definitions' Retry and
// Catch blocks match, with the provider in the cause; the failed call
// shows in the task's attempt history.
func TestProviderErrorsAreNamedForTheWorkflow(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		err     error
		asl     string
		outcome string
	}{
		"transient": {provider.NewTransient("http_503", "unavailable", nil), provider.NameTransient, "transient"},
		"throttled": {provider.NewThrottled("rate_limit", "slow down", 2*time.Second, nil), provider.NameThrottled, "throttled"},
		"permanent": {provider.NewRejected("content_policy", "refused", nil), provider.NamePermanent, "permanent"},
		"timeout":   {context.DeadlineExceeded, provider.NameTransient, "timeout"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.prov.start = func(provider.Request) (provider.Response, error) { return provider.Response{}, tc.err }
			tk := b.submit(t)
			_, err := b.invoke(t, map[string]any{"action": "start", "task_id": tk.ID, "tried": []string{}})
			se, ok := errors.AsType[*workflow.StepError](err)
			if !ok || se.Name != tc.asl {
				t.Fatalf("error %v, want %s", err, tc.asl)
			}
			var cause steps.Cause
			if err := json.Unmarshal([]byte(se.Cause), &cause); err != nil || cause.Provider != "p1" {
				t.Fatalf("cause %s (%v), want the provider named", se.Cause, err)
			}
			got, err := b.store.GetTask(context.Background(), "alice", tk.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != task.StatusRunning || len(got.AttemptHistory) != 1 || got.AttemptHistory[0].Outcome != tc.outcome {
				t.Fatalf("task %s, history %+v, want running with one %s attempt", got.Status, got.AttemptHistory, tc.outcome)
			}
		})
	}
}

// Input that is not what the definitions send is a named step error, not
// a panic or a store failure.
func TestBadInputIsNamed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, in := range []string{`[]`, `{"action":"dance"}`, `{"action":"start","task_id":"missing","tried":[]}`, `{"action":"start","task_id":7}`} {
		_, err := b.actions.Invoke(context.Background(), json.RawMessage(in))
		if se, ok := errors.AsType[*workflow.StepError](err); !ok || se.Name != workflow.ErrNameBadInput {
			t.Errorf("%s: %v, want %s", in, err, workflow.ErrNameBadInput)
		}
	}
}

// A safety refusal fails over once, as another provider's rules may
// differ; a second refusal ends the task's tries.
func TestSafetyRefusalFailsOverOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.prov.start = func(provider.Request) (provider.Response, error) {
		return provider.Response{}, provider.NewSafetyRefusal("content_policy_violation", "the prompt was refused", nil)
	}
	tk := b.submit(t)
	tried := []string{}
	for i, want := range []string{"retry", "none"} {
		_, err := b.invoke(t, map[string]any{"action": "start", "task_id": tk.ID, "tried": tried})
		var se *workflow.StepError
		if !errors.As(err, &se) || se.Name != provider.NamePermanent {
			t.Fatalf("start %d: %v; want a permanent step error", i+1, err)
		}
		errObj, _ := json.Marshal(map[string]string{"Error": se.Name, "Cause": se.Cause})
		out, err := b.invoke(t, map[string]any{"action": "failover", "task_id": tk.ID, "tried": tried, "error": json.RawMessage(errObj)})
		if err != nil {
			t.Fatal(err)
		}
		var ans steps.FailoverAnswer
		if err := json.Unmarshal(out, &ans); err != nil {
			t.Fatal(err)
		}
		if ans.Next != want {
			t.Fatalf("failover after refusal %d: next %q, want %q", i+1, ans.Next, want)
		}
		tried = ans.Tried
	}
	got, err := b.store.GetTask(context.Background(), "alice", tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(got.AttemptHistory); n != 2 || got.AttemptHistory[0].Outcome != "refused" || got.AttemptHistory[1].Outcome != "refused" {
		t.Errorf("attempt history %+v: want two refused calls", got.AttemptHistory)
	}
}

// A video from an image task is handed that task's first image as media,
// its bytes readable from the blob store.
func TestVideoFromAnImageTaskReadsItsImage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var sent provider.Request
	b.prov.start = func(req provider.Request) (provider.Response, error) {
		sent = req
		return provider.Response{Result: &provider.Result{Files: []provider.File{{ContentType: "image/png", Ext: ".png", Data: []byte("the still")}}}}, nil
	}
	img, err := b.app.SubmitTask(ctx, "alice", app.TaskSpec{Type: task.TypeImageGeneration, Input: json.RawMessage(`{"prompt":"a still"}`)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.startAndComplete(t, img.ID)
	vid, err := b.app.SubmitTask(ctx, "alice", app.TaskSpec{Type: task.TypeVideoGeneration, Input: json.RawMessage(`{"prompt":"zoom","image_task_id":"` + img.ID + `"}`)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.invoke(t, map[string]any{"action": "start", "task_id": vid.ID, "tried": []string{}}); err != nil {
		t.Fatal(err)
	}
	if sent.Media == nil || sent.Media.ContentType != "image/png" || sent.Media.Open == nil || sent.Media.Public {
		t.Fatalf("media sent: %+v", sent.Media)
	}
	rc, err := sent.Media.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if data, _ := io.ReadAll(rc); string(data) != "the still" {
		t.Errorf("media bytes %q", data)
	}
}

// A subtitle task's transcript, whoever made it, becomes the platform's
// subtitles in the task's format and line length, then the transcript.
func TestSubtitlesAreFormattedFromTheProvidersWords(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.prov.start = func(req provider.Request) (provider.Response, error) {
		return provider.Response{Result: &provider.Result{Transcript: transcript.Spread("en",
			"The quick brown fox jumps over the lazy dog. Then it runs away into the forest, far from the city.", 8)}}, nil
	}
	tk, err := b.app.SubmitTask(ctx, "alice", app.TaskSpec{Type: task.TypeSubtitleGeneration,
		Input: json.RawMessage(`{"audio_url":"https://example.com/a.wav","format":"vtt","max_line_chars":20}`)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.startAndComplete(t, tk.ID)
	got, err := b.app.Task(ctx, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != task.StatusCompleted || len(got.Output.Files) != 2 || got.Output.Files[0].ContentType != "text/vtt" ||
		got.Output.Files[1].ContentType != transcript.ContentType || got.Output.Extra["format"] != "vtt" {
		t.Fatalf("task %+v, output %+v", got, got.Output)
	}
	rc, _, err := b.blobs.Get(ctx, got.Output.Files[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	vtt := string(data)
	if !strings.HasPrefix(vtt, "WEBVTT\n\n00:00:00.000 --> ") || !strings.Contains(vtt, "forest") {
		t.Fatalf("subtitles:\n%s", vtt)
	}
	for _, line := range strings.Split(vtt, "\n") {
		if !strings.Contains(line, "-->") && len([]rune(line)) > 20 {
			t.Errorf("line %q is longer than max_line_chars 20", line)
		}
	}
}

// A transcript with no words makes empty subtitles, stored as an empty
// file, not mistaken for a file to download.
func TestSilenceMakesEmptySubtitles(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.prov.start = func(req provider.Request) (provider.Response, error) {
		return provider.Response{Result: &provider.Result{Transcript: &transcript.Transcript{Language: "en", DurationSeconds: 3}}}, nil
	}
	tk, err := b.app.SubmitTask(ctx, "alice", app.TaskSpec{Type: task.TypeSubtitleGeneration,
		Input: json.RawMessage(`{"audio_url":"https://example.com/silence.wav","format":"srt"}`)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.startAndComplete(t, tk.ID)
	got, err := b.app.Task(ctx, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != task.StatusCompleted || got.Output.Files[0].ContentType != "application/x-subrip" || got.Output.Files[0].SizeBytes != 0 {
		t.Fatalf("task %s, files %+v", got.Status, got.Output.Files)
	}
}

// A provider call cut by the step's deadline shows outcome "timeout" in
// the task's attempts, though the step's context has ended by then.
func TestATimedOutCallShowsTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.prov.start = func(req provider.Request) (provider.Response, error) {
		cancel() // the step's context ends with the call, as at a deadline
		return provider.Response{}, provider.NewTransient("timeout", "no answer", context.DeadlineExceeded)
	}
	tk := b.submit(t)
	raw, _ := json.Marshal(map[string]any{"action": "start", "task_id": tk.ID, "tried": []string{}})
	if _, err := b.actions.Invoke(ctx, raw); err == nil {
		t.Fatal("the start succeeded")
	}
	got, err := b.app.Task(context.Background(), tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(got.AttemptHistory); n != 1 || got.AttemptHistory[0].Outcome != "timeout" {
		t.Errorf("attempts %+v, want one timed out", got.AttemptHistory)
	}
}

// fullBlobs is a blob store whose disk is full.
type fullBlobs struct{ blob.Store }

func (fullBlobs) Put(context.Context, string, string, io.Reader, int64) (blob.Object, error) {
	return blob.Object{}, fmt.Errorf("put: no space left on device: %w", storage.ErrFull)
}

// A step that cannot store because the storage is full fails as
// Step.StorageFault, which the definitions wait out instead of failing
// the task; the task is left as it was (running, its output not stored).
func TestAFullStoreIsAStorageFault(t *testing.T) {
	t.Parallel()
	b := setup(t)
	actions := steps.New(steps.Deps{App: b.app, Blobs: fullBlobs{b.blobs}, Providers: b.prov, AllowPrivateOutputs: true})
	b.prov.start = func(req provider.Request) (provider.Response, error) {
		return provider.Response{Result: &provider.Result{Files: []provider.File{{ContentType: "application/json", Ext: ".json", Data: []byte("{}")}}}}, nil
	}
	tk := b.submit(t)
	raw, _ := json.Marshal(map[string]any{"action": "start", "task_id": tk.ID, "tried": []string{}})
	_, err := actions.Invoke(context.Background(), raw)
	var se *workflow.StepError
	if !errors.As(err, &se) || se.Name != workflow.ErrNameStorageFault {
		t.Fatalf("err = %v; want a Step.StorageFault", err)
	}
	if got, _ := b.app.Task(context.Background(), tk.ID); got.Status.Terminal() {
		t.Errorf("task %s after a storage fault", got.Status)
	}
}

// startAndComplete runs a task's start step, then its complete step, as
// the workflow does for a provider that answers at once.
func (b *bundle) startAndComplete(t *testing.T, id string) {
	t.Helper()
	step, err := b.invoke(t, map[string]any{"action": "start", "task_id": id, "tried": []string{}})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if _, err := b.invoke(t, map[string]any{"action": "complete", "task_id": id, "step": json.RawMessage(step)}); err != nil {
		t.Fatalf("complete: %v", err)
	}
}
