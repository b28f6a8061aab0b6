package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	mt "github.com/videoai/mediatasks/client"
)

// cliSetup starts a server on sim providers at low latency and returns a
// runner of the command line against it.
func cliSetup(t *testing.T) (*cliRunner, *client) {
	t.Helper()
	c := serveWithConfig(t, `limits:
  submits_per_minute: 100000
  batch_max: 40
webhooks:
  allow_private: true
providers:
  - {name: sim-image, type: sim, task_types: [image_generation], options: {latency_ms: 1}}
  - {name: sim-video, type: sim, task_types: [video_generation], options: {latency_ms: 1}}
  - {name: sim-transcribe, type: sim, task_types: [audio_transcription], options: {latency_ms: 1}}
  - {name: sim-subtitles, type: sim, task_types: [subtitle_generation], options: {latency_ms: 1}}
  - {name: sim-fail, type: sim, task_types: [image_generation], weight: 0, options: {latency_ms: 1, fail_rate: 1, fail_with: permanent}}
  - {name: sim-slow, type: sim, task_types: [video_generation], weight: 0, options: {latency_ms: 20000}}
`)
	return &cliRunner{t: t, env: map[string]string{"MEDIATASKS_URL": c.base, "MEDIATASKS_API_KEY": c.key}}, c
}

type cliRunner struct {
	t   *testing.T
	env map[string]string
}

// run runs the command line in process and returns its exit code and
// outputs.
func (r *cliRunner) run(args ...string) (int, string, string) {
	r.t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code := run(ctx, args, envMap(r.env), &stdout, &stderr)
	if strings.Contains(stderr.String(), "goroutine ") || strings.Contains(stderr.String(), "panic") {
		r.t.Fatalf("%v: a stack trace on stderr:\n%s", args, stderr.String())
	}
	return code, stdout.String(), stderr.String()
}

// ok runs a command that must exit 0 and returns its stdout.
func (r *cliRunner) ok(args ...string) string {
	r.t.Helper()
	code, out, errOut := r.run(args...)
	if code != exitOK {
		r.t.Fatalf("%v: exit code %d, want 0\nstdout:\n%s\nstderr:\n%s", args, code, out, errOut)
	}
	return out
}

// jsonLines decodes every line of out into a T.
func jsonLines[T any](t *testing.T, out string) []T {
	t.Helper()
	var all []T
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		all = append(all, v)
	}
	return all
}

func jsonOne[T any](t *testing.T, out string) T {
	t.Helper()
	all := jsonLines[T](t, out)
	if len(all) != 1 {
		t.Fatalf("%d JSON lines, want 1:\n%s", len(all), out)
	}
	return all[0]
}

// Every task command against the server: submit of each kind (a file
// uploaded first), --wait, get, list, watch with its exit codes, cancel,
// download writing the files.
func TestCommandLineTasks(t *testing.T) {
	t.Parallel()
	r, _ := cliSetup(t)

	h := jsonOne[mt.Health](t, r.ok("health", "--json"))
	if h.Status != "ok" {
		t.Errorf("health %q, want ok", h.Status)
	}
	if out := r.ok("health"); !strings.Contains(out, "status:") {
		t.Errorf("health printed %q", out)
	}

	img := jsonOne[mt.Task](t, r.ok("submit", "image", "--prompt", "a red fox", "--size", "512x512", "--n", "2",
		"--metadata", "project=demo", "--priority", "high", "--json"))
	if img.ID == "" || img.Type != mt.ImageGeneration || img.Metadata["project"] != "demo" || img.Priority != mt.PriorityHigh {
		t.Fatalf("submitted %+v", img)
	}
	events := jsonLines[struct {
		Type mt.EventType `json:"type"`
		Task mt.Task      `json:"task"`
	}](t, r.ok("watch", img.ID, "--json"))
	if len(events) == 0 || events[len(events)-1].Type != mt.EventTaskCompleted {
		t.Fatalf("watch events %+v, want the last task.completed", events)
	}
	if out := r.ok("watch", img.ID); !strings.Contains(out, "completed 100%") {
		t.Errorf("watch printed %q, want a completed line", out)
	}
	got := jsonOne[mt.Task](t, r.ok("get", img.ID, "--json"))
	if got.Status != mt.StatusCompleted || got.Output == nil || len(got.Output.Files) != 2 {
		t.Fatalf("get %+v, want completed with 2 files", got)
	}
	if out := r.ok("get", img.ID); !strings.Contains(out, "completed (100%)") || !strings.Contains(out, "file 1:") {
		t.Errorf("get printed:\n%s", out)
	}

	dir := t.TempDir()
	dl := jsonLines[struct {
		Path      string `json:"path"`
		SizeBytes int64  `json:"size_bytes"`
	}](t, r.ok("download", img.ID, "-o", dir, "--json"))
	if len(dl) != 2 {
		t.Fatalf("download wrote %d files, want 2", len(dl))
	}
	for i, f := range got.Output.Files {
		path := filepath.Join(dir, fmt.Sprintf("%s-%d%s", img.ID, i, extension(f.ContentType)))
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(b)) != f.SizeBytes || dl[i].Path != path {
			t.Errorf("%s: %d bytes at %s, want %d at %s", path, len(b), dl[i].Path, f.SizeBytes, path)
		}
	}

	png := filepath.Join(dir, img.ID+"-0"+extension(got.Output.Files[0].ContentType))
	framed := jsonOne[mt.Task](t, r.ok("submit", "video", "--prompt", "the fox runs", "--file", png, "--wait", "--json"))
	if framed.Status != mt.StatusCompleted || !strings.Contains(string(framed.Input), "image_upload_id") {
		t.Errorf("video from a local first frame: %s, input %s", framed.Status, framed.Input)
	}
	if code, _, errOut := r.run("submit", "image", "--prompt", "x", "--file", png); code != exitUsage || !strings.Contains(errOut, "--file") {
		t.Errorf("submit image --file: exit %d, stderr %q; want 2", code, errOut)
	}

	waited := jsonOne[mt.Task](t, r.ok("submit", "video", "--prompt", "waves on a beach", "--duration", "2", "--aspect-ratio", "1:1", "--wait", "--json"))
	if waited.Status != mt.StatusCompleted {
		t.Errorf("video after --wait: %s", waited.Status)
	}
	if out := r.ok("submit", "image", "--prompt", "a lighthouse", "--prompt-mode", "auto", "--wait"); !strings.Contains(out, "status:    completed") && !strings.Contains(out, "completed (100%)") {
		t.Errorf("submit --wait printed:\n%s", out)
	}

	wav := filepath.Join(t.TempDir(), "talk.wav")
	if err := os.WriteFile(wav, toneWAV(0.5), 0o600); err != nil {
		t.Fatal(err)
	}
	tr := jsonOne[mt.Task](t, r.ok("submit", "transcribe", "--file", wav, "--language", "en", "--wait", "--json"))
	if tr.Status != mt.StatusCompleted || !strings.Contains(string(tr.Input), "upload_id") {
		t.Fatalf("transcription %s, input %s", tr.Status, tr.Input)
	}
	sub := jsonOne[mt.Task](t, r.ok("submit", "subtitles", "--transcription-task", tr.ID, "--format", "vtt", "--max-line-chars", "30", "--wait", "--json"))
	if sub.Status != mt.StatusCompleted {
		t.Fatalf("subtitles %s", sub.Status)
	}
	subDir := t.TempDir()
	r.ok("download", sub.ID, "-o", subDir)
	if b, err := os.ReadFile(filepath.Join(subDir, sub.ID+"-0.vtt")); err != nil || !strings.HasPrefix(string(b), "WEBVTT") {
		t.Errorf("subtitles file: %v %q", err, b)
	}

	listed := jsonLines[mt.Task](t, r.ok("list", "--limit", "2", "--json"))
	if len(listed) != 2 {
		t.Errorf("list --limit 2: %d tasks", len(listed))
	}
	all := jsonLines[mt.Task](t, r.ok("list", "--all", "--type", "image", "--status", "completed", "--json"))
	if len(all) != 2 {
		t.Errorf("list --all --type image: %d tasks, want 2", len(all))
	}
	if out := r.ok("list"); !strings.Contains(out, "ID") || !strings.Contains(out, img.ID) {
		t.Errorf("list printed:\n%s", out)
	}

	// A failed task: watch exits 1 and says why.
	failed := jsonOne[mt.Task](t, r.ok("submit", "image", "--prompt", "a storm", "--provider", "sim-fail", "--json"))
	if code, _, errOut := r.run("watch", failed.ID); code != exitError || !strings.Contains(errOut, "failed") {
		t.Errorf("watch of a failed task: exit %d, stderr %q; want 1 naming the failure", code, errOut)
	}
	if code, _, _ := r.run("submit", "image", "--prompt", "a storm", "--provider", "sim-fail", "--wait"); code != exitError {
		t.Errorf("submit --wait of a failing task: exit %d, want 1", code)
	}

	// Cancel a slow task, then again: 409.
	slow := jsonOne[mt.Task](t, r.ok("submit", "video", "--prompt", "slow", "--provider", "sim-slow", "--json"))
	canceled := jsonOne[mt.Task](t, r.ok("cancel", slow.ID, "--json"))
	if canceled.Status != mt.StatusCanceled {
		t.Errorf("cancel: %s", canceled.Status)
	}
	if code, _, _ := r.run("watch", slow.ID); code != exitError {
		t.Errorf("watch of a canceled task: exit %d, want 1", code)
	}
	if code, _, errOut := r.run("cancel", slow.ID); code != exitError || !strings.Contains(errOut, "409") {
		t.Errorf("cancel again: exit %d, stderr %q; want 1 with the 409", code, errOut)
	}
}

// Mistakes: bad flags exit 2, a refused key and a bad input are printed
// as the problem's lines, exit 1.
func TestCommandLineMistakes(t *testing.T) {
	t.Parallel()
	r, c := cliSetup(t)
	for name, args := range map[string][]string{
		"unknown flag":       {"submit", "image", "--nope"},
		"flag of a kind":     {"submit", "image", "--prompt", "x", "--duration", "3"},
		"unknown kind":       {"submit", "poem"},
		"no id":              {"get"},
		"two ids":            {"cancel", "a", "b"},
		"bad limit":          {"list", "--limit", "0"},
		"bad status":         {"list", "--status", "done"},
		"bad url":            {"stats", "--url", "ftp://x"},
		"missing key file":   {"stats", "--key", "", "--key-file", filepath.Join(t.TempDir(), "none")},
		"webhooks":           {"webhooks", "show"},
		"prompts":            {"prompts", "guess"},
		"batch with no file": {"batch"},
	} {
		env := r.env
		if name == "missing key file" {
			env = map[string]string{"MEDIATASKS_URL": c.base}
		}
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, envMap(env), &stdout, &stderr); code != exitUsage {
			t.Errorf("%s: %v: exit %d, want 2; stderr %q", name, args, code, stderr.String())
		}
	}
	if code, out, _ := r.run("submit", "--help"); code != exitOK || !strings.Contains(out, "--prompt") {
		t.Errorf("submit --help: exit %d:\n%s", code, out)
	}

	// An unknown key: 401, printed cleanly.
	bad := &cliRunner{t: t, env: map[string]string{"MEDIATASKS_URL": c.base, "MEDIATASKS_API_KEY": "mt_unknown_key"}}
	code, out, errOut := bad.run("list")
	if code != exitError || out != "" && !strings.HasPrefix(out, "ID") {
		t.Errorf("list with an unknown key: exit %d, stdout %q", code, out)
	}
	if !strings.Contains(errOut, "401") || !strings.Contains(errOut, "API key was refused") || strings.Count(errOut, "\n") > 4 {
		t.Errorf("unknown key: stderr %q, want a short 401 message", errOut)
	}

	// A bad input: the problem's fields, one a line.
	code, _, errOut = r.run("submit", "image", "--size", "3x3")
	if code != exitError || !strings.Contains(errOut, "\nprompt: is required\n") || !strings.Contains(errOut, "\nsize: must be one of") {
		t.Errorf("bad input: exit %d, stderr:\n%s", code, errOut)
	}
}

// A batch of 120 lines goes as 3 batches (the server's limit learnt from
// its 400), with one result line per task; a bad line is named by number
// before anything is sent.
func TestCommandLineBatch(t *testing.T) {
	t.Parallel()
	r, _ := cliSetup(t)
	dir := t.TempDir()

	var b strings.Builder
	for i := range 120 {
		fmt.Fprintf(&b, `{"task_type": "image_generation", "input_data": {"prompt": "cat %d"}, "priority": "low"}`+"\n", i)
		if i == 10 {
			b.WriteString("\n") // blank lines are skipped, not counted as tasks
		}
	}
	file := filepath.Join(dir, "tasks.jsonl")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	results := jsonLines[batchResult](t, r.ok("batch", file, "--wait"))
	if len(results) != 120 {
		t.Fatalf("%d results, want 120", len(results))
	}
	batches := map[string]int{}
	for i, res := range results {
		want := i + 1
		if i > 10 {
			want++
		}
		if res.Line != want || res.Task == nil || res.Task.Status != mt.StatusCompleted || res.Task.BatchID != res.BatchID {
			t.Fatalf("result %d: %+v, want line %d completed", i, res, want)
		}
		batches[res.BatchID]++
	}
	if len(batches) != 3 {
		t.Errorf("sent as %d batches %v, want 3 of at most 40", len(batches), batches)
	}

	// Without --wait: the task ids, at once.
	small := filepath.Join(dir, "small.jsonl")
	if err := os.WriteFile(small, []byte(`{"task_type":"video_generation","input_data":{"prompt":"a dog"}}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	one := jsonOne[batchResult](t, r.ok("batch", small))
	if one.TaskID == "" || one.BatchID == "" || one.Line != 1 {
		t.Errorf("batch without --wait: %+v", one)
	}

	before := len(jsonLines[mt.Task](t, r.ok("list", "--all", "--json")))
	for name, tc := range map[string]struct{ lines, want string }{
		"not json":     {"{\"task_type\":\"image_generation\",\"input_data\":{\"prompt\":\"a\"}}\n{\"task_type\":\"image_generation\",\"input_data\":{\"prompt\":\"b\"}}\nnot json\n", "line 3"},
		"unknown type": {"{\"task_type\":\"poem\",\"input_data\":{}}\n", "line 1: task_type"},
		"no input":     {"\n{\"task_type\":\"image_generation\"}\n", "line 2: input_data"},
		"extra field":  {"{\"task_type\":\"image_generation\",\"input_data\":{},\"prio\":\"x\"}\n", "line 1"},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".jsonl")
		if err := os.WriteFile(path, []byte(tc.lines), 0o600); err != nil {
			t.Fatal(err)
		}
		code, _, errOut := r.run("batch", path)
		if code != exitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want 2 naming %q", name, code, errOut, tc.want)
		}
	}
	if after := len(jsonLines[mt.Task](t, r.ok("list", "--all", "--json"))); after != before {
		t.Errorf("%d tasks after the bad files, want %d: something was sent", after, before)
	}

	// A line the server refuses is named by its line too.
	refused := filepath.Join(dir, "refused.jsonl")
	if err := os.WriteFile(refused, []byte("{\"task_type\":\"image_generation\",\"input_data\":{\"prompt\":\"a\"}}\n{\"task_type\":\"image_generation\",\"input_data\":{\"size\":\"3x3\"}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := r.run("batch", refused); code != exitError || !strings.Contains(errOut, "line 2: input_data.prompt") {
		t.Errorf("refused line: exit %d, stderr %q", code, errOut)
	}
}

// The account commands: webhooks' secret and rotation, deliveries and a
// retry, stats, prompts.
func TestCommandLineAccount(t *testing.T) {
	t.Parallel()
	r, _ := cliSetup(t)
	got := make(chan string, 16)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		got <- req.Header.Get("webhook-id")
	}))
	defer hook.Close()

	secret := jsonOne[mt.WebhookSecret](t, r.ok("webhooks", "secret", "--json"))
	if !strings.HasPrefix(secret.Secret, "whsec_") {
		t.Fatalf("secret %q", secret.Secret)
	}
	rotated := jsonOne[mt.WebhookSecret](t, r.ok("webhooks", "rotate", "--json"))
	if rotated.Secret == secret.Secret || len(rotated.Previous) != 1 {
		t.Errorf("rotate: %+v", rotated)
	}
	if out := r.ok("webhooks", "secret"); strings.TrimSpace(out) != rotated.Secret {
		t.Errorf("webhooks secret printed %q, want %q", out, rotated.Secret)
	}

	tk := jsonOne[mt.Task](t, r.ok("submit", "image", "--prompt", "a hook", "--webhook", hook.URL, "--wait", "--json"))
	select {
	case <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("no webhook came")
	}
	var ds []mt.Delivery
	for deadline := time.Now().Add(30 * time.Second); ; {
		ds = jsonLines[mt.Delivery](t, r.ok("deliveries", tk.ID, "--json"))
		if len(ds) > 0 && ds[0].Status == "delivered" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries %+v, want one delivered", ds)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out := r.ok("deliveries"); !strings.Contains(out, ds[0].ID) {
		t.Errorf("deliveries printed:\n%s", out)
	}
	retried := jsonOne[mt.Delivery](t, r.ok("retry", ds[0].ID, "--json"))
	if retried.ID != ds[0].ID {
		t.Errorf("retry answered %+v", retried)
	}

	st := jsonOne[mt.Stats](t, r.ok("stats", "--json"))
	if st.Total != 1 || st.Succeeded != 1 {
		t.Errorf("stats %+v, want 1 task succeeded", st)
	}
	if out := r.ok("stats"); !strings.Contains(out, "tasks:") {
		t.Errorf("stats printed:\n%s", out)
	}
	templates := jsonLines[mt.Template](t, r.ok("prompts", "templates", "--json"))
	if len(templates) == 0 {
		t.Fatal("no templates")
	}
	o := jsonOne[mt.OptimizedPrompt](t, r.ok("prompts", "optimize", "--prompt", "a cat", "--json"))
	if o.Original != "a cat" || o.Final == "" {
		t.Errorf("optimize: %+v", o)
	}
	if out := r.ok("prompts", "optimize", "--prompt", "a cat", "--prompt-mode", "manual"); strings.TrimSpace(out) != "a cat" {
		t.Errorf("manual optimize printed %q", out)
	}
}

// The progress bar is redrawn in place on a terminal; elsewhere a line is
// written only when what it shows changes.
func TestProgress(t *testing.T) {
	t.Parallel()
	var tty bytes.Buffer
	p := &progress{w: &tty, tty: true}
	p.show("abc", 0.5, "running")
	p.show("abc", 1, "completed")
	p.end()
	want := "\rabc [###############...............]  50% running   " +
		"\rabc [##############################] 100% completed \n"
	if tty.String() != want {
		t.Errorf("tty:\n%q\nwant\n%q", tty.String(), want)
	}
	var plain bytes.Buffer
	p = newProgress(&plain)
	for _, s := range []string{"queued", "running", "running", "completed"} {
		p.show("id", map[string]float64{"queued": 0, "running": 0.5, "completed": 1}[s], s)
	}
	p.end()
	if want := "id queued 0%\nid running 50%\nid completed 100%\n"; plain.String() != want {
		t.Errorf("plain:\n%q\nwant\n%q", plain.String(), want)
	}
}

// The key comes from --key-file when neither --key nor MEDIATASKS_API_KEY
// gives one.
func TestCommandLineKeyFile(t *testing.T) {
	t.Parallel()
	_, c := cliSetup(t)
	path := filepath.Join(t.TempDir(), "api-key")
	if err := os.WriteFile(path, []byte(c.key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := &cliRunner{t: t, env: map[string]string{"MEDIATASKS_URL": c.base}}
	if out := r.ok("list", "--key-file", path, "--json"); out != "" {
		t.Errorf("list of a new user: %q", out)
	}
	if code, _, _ := r.run("list", "--key-file", path+".none"); code != exitUsage {
		t.Errorf("a missing --key-file: exit %d, want 2", code)
	}
}

// An expired JWT is refused as a 401, printed as the problem's lines, with
// no stack trace; a fresh one is accepted.
func TestCommandLineExpiredToken(t *testing.T) {
	t.Parallel()
	const secret = "s3cret-for-cli-tests-0123456789"
	dir := t.TempDir()
	opts, err := parseServe([]string{"--addr", "127.0.0.1:0", "--data", filepath.Join(dir, "data")}, envMap(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	urls := make(chan string, 1)
	opts.ready = func(u string) { urls <- u }
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		_ = serve(ctx, opts, envMap(map[string]string{"MEDIATASKS_JWT_SECRET": secret}), &lockedBuffer{})
	}()
	t.Cleanup(func() {
		cancel()
		<-stopped
	})
	var base string
	select {
	case base = <-urls:
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not listen")
	}
	token := func(exp time.Duration) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
			Subject: "cli-user", ExpiresAt: jwt.NewNumericDate(time.Now().Add(exp)),
		}).SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	r := &cliRunner{t: t, env: map[string]string{"MEDIATASKS_URL": base, "MEDIATASKS_API_KEY": token(-time.Minute)}}
	code, out, errOut := r.run("stats")
	if code != exitError || out != "" || !strings.Contains(errOut, "401 Unauthorized") || !strings.Contains(errOut, "API key was refused") {
		t.Errorf("expired token: exit %d, stdout %q, stderr %q; want 1 and a 401", code, out, errOut)
	}
	r.env["MEDIATASKS_API_KEY"] = token(time.Hour)
	if st := jsonOne[mt.Stats](t, r.ok("stats", "--json")); st.Total != 0 {
		t.Errorf("a new user's stats: %+v", st)
	}
}
