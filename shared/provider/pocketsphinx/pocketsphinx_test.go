package pocketsphinx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	pngenc "image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/transcript"
)

// corpus is the synthesised speech the tests and the benchmark
// recognise: plain sentences of common words.
var corpus = []string{
	"The weather is nice today and the sun is shining.",
	"Please open the door and turn on the light.",
	"I would like to buy a ticket to the city.",
	"We will meet at the station at nine in the morning.",
	"She reads a book every night before she goes to sleep.",
}

// werBound is the loosest word error rate the recogniser may show on the
// corpus: espeak-ng's voice is far from the speech its model learnt, so
// it is poor (measured 0.45 on this paragraph with the en-us+f2 voice; see
// BenchmarkTranscribe).
const werBound = 0.75

// needTools skips a test when a program it needs is not installed,
// naming the Debian package that brings it.
func needTools(tb testing.TB) {
	tb.Helper()
	for _, tool := range []struct{ bin, pkg string }{
		{DefaultRecognizer, "pocketsphinx and pocketsphinx-en-us"},
		{DefaultFFmpeg, "ffmpeg"},
		{"espeak-ng", "espeak-ng"},
	} {
		if _, err := exec.LookPath(tool.bin); err != nil {
			tb.Skipf("%s is not installed: apt-get install %s", tool.bin, tool.pkg)
		}
	}
}

// synthCache holds each synthesised text's WAV, made once per test binary.
var synthCache sync.Map

// synth is text spoken by espeak-ng, as WAV bytes.
func synth(tb testing.TB, text string) []byte {
	tb.Helper()
	if b, ok := synthCache.Load(text); ok {
		return b.([]byte)
	}
	out := filepath.Join(tb.TempDir(), "speech.wav")
	cmd := exec.Command("espeak-ng", "-v", "en-us+f2", "-s", "150", "-w", out, text)
	if msg, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("espeak-ng: %v: %s", err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		tb.Fatal(err)
	}
	synthCache.Store(text, b)
	return b
}

// wavSeconds is the length of WAV bytes.
func wavSeconds(tb testing.TB, wav []byte) float64 {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "a.wav")
	if err := os.WriteFile(path, wav, 0o600); err != nil {
		tb.Fatal(err)
	}
	d, err := wavDuration(path)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// held is media the platform holds, read through Open.
func held(data []byte, contentType, name string) *provider.Media {
	return &provider.Media{ContentType: contentType, Name: name, URL: "http://localhost/files/" + name,
		Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
}

func newProvider(tb testing.TB, workDir string, opts map[string]any) *Provider {
	tb.Helper()
	if opts == nil {
		opts = map[string]any{}
	}
	opts["work_dir"] = workDir
	raw, err := json.Marshal(opts)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := New(config.Provider{Name: "ps", Type: Type, Options: raw})
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return p.(*Provider)
}

func transcriptionRequest(taskID string, media *provider.Media, language string) provider.Request {
	in, _ := json.Marshal(task.TranscriptionInput{UploadID: "up_1", Language: language})
	return provider.Request{TaskID: taskID, UserID: "u_1", Type: task.TypeAudioTranscription, Input: in, Media: media, Attempt: 1}
}

// finish polls a job until it ends, and returns its result (or error) and
// the progress reported on the way.
func finish(tb testing.TB, p *Provider, req provider.Request, job string) (*provider.Result, []float64, error) {
	tb.Helper()
	var seen []float64
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		resp, err := p.Poll(context.Background(), req, job)
		if err != nil {
			return nil, seen, err
		}
		if resp.Done() {
			return resp.Result, seen, nil
		}
		if resp.Job != "" {
			job = resp.Job
		}
		if resp.PollAfter <= 0 || resp.PollAfter > time.Second {
			tb.Errorf("PollAfter = %s; want about 500ms", resp.PollAfter)
		}
		seen = append(seen, resp.Progress)
		time.Sleep(100 * time.Millisecond)
	}
	tb.Fatal("the job did not finish in 3 minutes")
	return nil, nil, nil
}

func start(tb testing.TB, p *Provider, req provider.Request) string {
	tb.Helper()
	resp, err := p.Start(context.Background(), req)
	if err != nil {
		tb.Fatalf("Start: %v", err)
	}
	if resp.Done() || resp.Job == "" {
		tb.Fatalf("Start = %+v; want a job to poll", resp)
	}
	return resp.Job
}

// checkTranscript holds a result to the platform's transcript shape.
func checkTranscript(t *testing.T, res *provider.Result, audio float64) *transcript.Transcript {
	t.Helper()
	tr := res.Transcript
	if tr == nil {
		t.Fatalf("result %+v has no transcript", res)
	}
	if tr.Language != "en" || res.Text != tr.Text || tr.Text == "" {
		t.Errorf("language %q, text %q (result's %q); want en and the same text", tr.Language, tr.Text, res.Text)
	}
	if d := tr.DurationSeconds - audio; d < -0.1 || d > 0.1 {
		t.Errorf("duration %.3f s; want the audio's %.3f s", tr.DurationSeconds, audio)
	}
	if len(tr.Words) == 0 || len(tr.Segments) == 0 {
		t.Fatalf("%d words, %d segments; want some of each", len(tr.Words), len(tr.Segments))
	}
	prev := 0.0
	for i, w := range tr.Words {
		if w.Start < prev || w.End < w.Start || w.End > tr.DurationSeconds {
			t.Errorf("word %d %+v: not in order within 0..%.3f (previous start %.3f)", i, w, tr.DurationSeconds, prev)
		}
		if w.Confidence < 0 || w.Confidence > 1 {
			t.Errorf("word %d %+v: confidence out of 0..1", i, w)
		}
		if filler(w.Word) || strings.ContainsAny(w.Word, "()") {
			t.Errorf("word %d %q is a filler or keeps a pronunciation's suffix", i, w.Word)
		}
		prev = w.Start
	}
	for i, s := range tr.Segments {
		if s.End < s.Start || s.Text == "" {
			t.Errorf("segment %d %+v: empty or backwards", i, s)
		}
	}
	if res.Cost == nil || res.Cost.USD != 0 || res.Cost.PriceVersion != PriceVersion {
		t.Errorf("cost %+v; want 0 USD at %q", res.Cost, PriceVersion)
	}
	return tr
}

func TestTranscribe(t *testing.T) {
	t.Parallel()
	needTools(t)
	ref := strings.Join(corpus, " ")
	wav := synth(t, ref)
	audio := wavSeconds(t, wav)
	dir := t.TempDir()
	p := newProvider(t, dir, nil)
	req := transcriptionRequest("t_transcribe", held(wav, "audio/wav", "speech.wav"), "en-US")
	began := time.Now()
	res, progress, err := finish(t, p, req, start(t, p, req))
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	tr := checkTranscript(t, res, audio)
	w := wer(ref, tr.Text)
	t.Logf("WER %.2f, %.1f s of audio in %.1f s: %q", w, audio, time.Since(began).Seconds(), tr.Text)
	if w >= werBound {
		t.Errorf("WER %.2f; want under %.2f", w, werBound)
	}
	for i := 1; i < len(progress); i++ {
		if progress[i] < progress[i-1] || progress[i] >= 1 {
			t.Errorf("progress %v: want it rising, below 1", progress)
			break
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the work folder keeps %d entries after the result was taken", len(entries))
	}
}

func TestMaxJobsQueues(t *testing.T) {
	t.Parallel()
	needTools(t)
	p := newProvider(t, t.TempDir(), map[string]any{"max_jobs": 1})
	reqs := []provider.Request{
		transcriptionRequest("t_first", held(synth(t, corpus[3]), "audio/wav", "a.wav"), ""),
		transcriptionRequest("t_second", held(synth(t, corpus[4]), "audio/wav", "b.wav"), ""),
	}
	jobs := []string{start(t, p, reqs[0]), start(t, p, reqs[1])}
	var pids []string
	for i, job := range jobs {
		h, _ := p.decodeJob(job, reqs[i].TaskID)
		pids = append(pids, filepath.Join(p.workDir, h.ID, pidFile))
	}
	// One tool at a time: never both jobs' pid files at once.
	done := []bool{false, false}
	deadline := time.Now().Add(3 * time.Minute)
	for !done[0] || !done[1] {
		if time.Now().After(deadline) {
			t.Fatal("the jobs did not finish in 3 minutes")
		}
		_, err0 := os.Stat(pids[0])
		_, err1 := os.Stat(pids[1])
		if err0 == nil && err1 == nil {
			t.Fatal("both jobs run a tool at once, with max_jobs 1")
		}
		for i := range jobs {
			if done[i] {
				continue
			}
			resp, err := p.Poll(context.Background(), reqs[i], jobs[i])
			if err != nil {
				t.Fatalf("Poll job %d: %v", i, err)
			}
			done[i] = resp.Done()
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSubtitleTask(t *testing.T) {
	t.Parallel()
	needTools(t)
	wav := synth(t, corpus[1])
	p := newProvider(t, t.TempDir(), nil)
	in, _ := json.Marshal(task.SubtitleInput{UploadID: "up_2", Format: "srt", Language: "en-GB"})
	req := provider.Request{TaskID: "t_subs", Type: task.TypeSubtitleGeneration, Input: in, Media: held(wav, "audio/x-wav", "a.wav")}
	res, _, err := finish(t, p, req, start(t, p, req))
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	checkTranscript(t, res, wavSeconds(t, wav))
}

func TestAudioByURL(t *testing.T) {
	t.Parallel()
	needTools(t)
	wav := synth(t, corpus[2])
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		w.Write(wav)
	}))
	defer srv.Close()
	media := &provider.Media{URL: srv.URL + "/speech.wav", Name: "speech.wav", Public: true}
	req := transcriptionRequest("t_url", media, "en")
	// The SSRF guard refuses a private address unless allow_private.
	_, err := newProvider(t, t.TempDir(), nil).Start(context.Background(), req)
	if provider.KindOf(err) != provider.Permanent {
		t.Errorf("Start on a loopback URL: %v; want a permanent refusal", err)
	}
	p := newProvider(t, t.TempDir(), map[string]any{"allow_private": true})
	res, _, err := finish(t, p, req, start(t, p, req))
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	checkTranscript(t, res, wavSeconds(t, wav))
}

func TestSubtitlesFromTranscript(t *testing.T) {
	t.Parallel()
	needTools(t)
	p := newProvider(t, t.TempDir(), nil)
	src := transcript.Spread("en", "Hello there. General words.", 4)
	data, err := src.Encode()
	if err != nil {
		t.Fatal(err)
	}
	in, _ := json.Marshal(task.SubtitleInput{TranscriptionTaskID: "t_src", Format: "vtt"})
	req := provider.Request{TaskID: "t_subs2", Type: task.TypeSubtitleGeneration, Input: in, Media: held(data, transcript.ContentType, "transcript.json")}
	resp, err := p.Start(context.Background(), req)
	if err != nil || !resp.Done() {
		t.Fatalf("Start = %+v, %v; want the transcript's result at once", resp, err)
	}
	if got := resp.Result.Transcript; got.Text != src.Text || len(got.Words) != len(src.Words) {
		t.Errorf("transcript %+v; want the input's", got)
	}
}

// longAudio is speech of about a minute: the corpus four times.
func longAudio(tb testing.TB) []byte {
	return synth(tb, strings.Repeat(strings.Join(corpus, " ")+" ", 4))
}

func TestCancelKillsTheRecognizer(t *testing.T) {
	t.Parallel()
	needTools(t)
	dir := t.TempDir()
	p := newProvider(t, dir, nil)
	req := transcriptionRequest("t_cancel", held(longAudio(t), "audio/wav", "long.wav"), "")
	job := start(t, p, req)
	jobDir, pid := recognizing(t, p, req, job)
	if err := p.Cancel(context.Background(), req, job); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if alive(pid) {
		t.Errorf("the recogniser (pid %d) is still there after Cancel", pid)
	}
	if _, err := os.Stat(jobDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the job's folder is still there after Cancel: %v", err)
	}
	if err := p.Cancel(context.Background(), req, job); err != nil {
		t.Errorf("Cancel of a canceled job: %v; want nil", err)
	}
}

// recognizing waits for the recogniser of a job to be running and to
// have heard something, and returns the job's folder and its pid.
func recognizing(t *testing.T, p *Provider, req provider.Request, job string) (string, int) {
	t.Helper()
	h, err := p.decodeJob(job, req.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	jobDir := filepath.Join(p.workDir, h.ID)
	deadline := time.Now().Add(time.Minute)
	for {
		if time.Now().After(deadline) {
			t.Fatal("the recogniser did not start in a minute")
		}
		resp, err := p.Poll(context.Background(), req, job)
		if err != nil || resp.Done() {
			t.Fatalf("Poll = %+v, %v; want the job running", resp, err)
		}
		b, _ := os.ReadFile(filepath.Join(jobDir, pidFile))
		pid, _ := strconv.Atoi(string(b))
		if _, err := os.Stat(filepath.Join(jobDir, wordsFile)); err == nil && pid > 0 && resp.Progress > 0 {
			return jobDir, pid
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestKilledRecognizerIsTransient(t *testing.T) {
	t.Parallel()
	needTools(t)
	p := newProvider(t, t.TempDir(), nil)
	req := transcriptionRequest("t_killed", held(longAudio(t), "audio/wav", "long.wav"), "")
	job := start(t, p, req)
	_, pid := recognizing(t, p, req, job)
	if err := kill(pid); err != nil {
		t.Fatal(err)
	}
	_, _, err := finish(t, p, req, job)
	var e *provider.Error
	if !errors.As(err, &e) || e.Kind != provider.Transient || e.Code != "pocketsphinx_killed" {
		t.Fatalf("Poll: %v; want a transient pocketsphinx_killed", err)
	}
}

func TestAnotherInstancePolls(t *testing.T) {
	t.Parallel()
	needTools(t)
	wav := synth(t, strings.Join(corpus, " "))
	dir := t.TempDir()
	first := newProvider(t, dir, nil)
	req := transcriptionRequest("t_shared", held(wav, "audio/wav", "speech.wav"), "en")
	job := start(t, first, req)
	// A second instance on the same work folder (another process of the
	// platform) sees the job running, and takes its result.
	second := newProvider(t, dir, nil)
	res, _, err := finish(t, second, req, job)
	if err != nil {
		t.Fatalf("Poll on the second instance: %v", err)
	}
	checkTranscript(t, res, wavSeconds(t, wav))
}

func TestRestartRunsTheJobAgain(t *testing.T) {
	t.Parallel()
	needTools(t)
	wav := synth(t, corpus[0])
	old := newProvider(t, t.TempDir(), nil)
	req := transcriptionRequest("t_restart", held(wav, "audio/wav", "speech.wav"), "")
	job := start(t, old, req)
	defer old.Cancel(context.Background(), req, job)
	// After a restart: a new instance, whose work folder has lost the
	// job's output, keeping only a run's leftovers nobody holds.
	dir := t.TempDir()
	h, _ := old.decodeJob(job, req.TaskID)
	if err := os.MkdirAll(filepath.Join(dir, h.ID), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, h.ID, wordsFile), []byte("stale 0.0 99.0 1.0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fresh := newProvider(t, dir, nil)
	res, _, err := finish(t, fresh, req, job)
	if err != nil {
		t.Fatalf("Poll on the new instance: %v", err)
	}
	tr := checkTranscript(t, res, wavSeconds(t, wav))
	if strings.Contains(tr.Text, "stale") {
		t.Errorf("text %q keeps the leftovers of the lost run", tr.Text)
	}
}

func TestRefusesOtherLanguages(t *testing.T) {
	t.Parallel()
	needTools(t)
	p := newProvider(t, t.TempDir(), nil)
	for _, lang := range []string{"", "en", "en-US", "en-GB", "EN-us"} {
		if errs := p.CheckInput("input_data", &task.TranscriptionInput{Language: lang}); len(errs) != 0 {
			t.Errorf("language %q refused: %v", lang, errs)
		}
	}
	for _, lang := range []string{"de", "fr-FR", "eng"} {
		errs := p.CheckInput("input_data", &task.SubtitleInput{Language: lang})
		if len(errs) != 1 || errs[0].Field != "input_data.language" {
			t.Errorf("language %q: %v; want input_data.language refused", lang, errs)
		}
	}
	req := transcriptionRequest("t_de", held([]byte("RIFF"), "audio/wav", "a.wav"), "de")
	_, err := p.Start(context.Background(), req)
	var e *provider.Error
	if !errors.As(err, &e) || e.Kind != provider.Permanent || !e.RequestFault || !strings.Contains(e.Message, "input_data.language") {
		t.Errorf("Start in German: %v; want a permanent request fault naming input_data.language", err)
	}
}

func TestNotAudioIsPermanent(t *testing.T) {
	t.Parallel()
	needTools(t)
	var png bytes.Buffer
	if err := pngenc.Encode(&png, image.NewGray(image.Rect(0, 0, 8, 8))); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		media *provider.Media
		code  string
	}{
		"text":            {held([]byte("this is a text file, not audio at all\n"), "audio/mpeg", "song.mp3"), "unreadable_media"},
		"image, no sound": {held(png.Bytes(), "image/png", "still.png"), "no_audio"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			p := newProvider(t, dir, nil)
			req := transcriptionRequest("t_bad", tc.media, "en")
			_, _, err := finish(t, p, req, start(t, p, req))
			var e *provider.Error
			if !errors.As(err, &e) || e.Kind != provider.Permanent || !e.RequestFault || e.Code != tc.code {
				t.Fatalf("Poll: %v; want a permanent %s request fault", err, tc.code)
			}
			if strings.Contains(e.Message, dir) || strings.Contains(e.Message, "/tmp") || !strings.Contains(e.Message, "ffmpeg") {
				t.Errorf("message %q: want ffmpeg's complaint without the machine's paths", e.Message)
			}
			t.Logf("message: %s", e.Message)
		})
	}
}

func TestTimeoutIsTransient(t *testing.T) {
	t.Parallel()
	needTools(t)
	p := newProvider(t, t.TempDir(), map[string]any{"timeout": "1s"})
	req := transcriptionRequest("t_slow", held(longAudio(t), "audio/wav", "long.wav"), "")
	_, _, err := finish(t, p, req, start(t, p, req))
	if provider.KindOf(err) != provider.Transient || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Poll: %v; want a transient error wrapping context.DeadlineExceeded", err)
	}
}

func TestOptions(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		opts  string
		field string
	}{
		"unknown option":     {`{"model":"x"}`, "model"},
		"missing recogniser": {`{"pocketsphinx_path":"/nonexistent/pocketsphinx_continuous"}`, "pocketsphinx_path"},
		"missing ffmpeg":     {`{"ffmpeg_path":"/nonexistent/ffmpeg"}`, "ffmpeg_path"},
		"max_jobs":           {`{"max_jobs":0}`, "max_jobs"},
		"timeout":            {`{"timeout":"10ms"}`, "timeout"},
		"max_input_bytes":    {`{"max_input_bytes":-1}`, "max_input_bytes"},
		"model folder":       {`{"hmm":"/nonexistent/en-us"}`, "hmm"},
	}
	for name, tc := range tests {
		_, err := New(config.Provider{Name: "ps", Type: Type, Options: json.RawMessage(tc.opts)})
		var oe *provider.OptionError
		found := false
		for _, e := range unjoin(err) {
			if errors.As(e, &oe) && oe.Field == tc.field {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: New: %v; want an option error naming %s", name, err, tc.field)
		}
	}
	err := Available(config.Provider{Name: "ps", Options: json.RawMessage(`{"pocketsphinx_path":"/nonexistent/x"}`)})
	var oe *provider.OptionError
	if !errors.As(err, &oe) || oe.Field != "pocketsphinx_path" || !strings.Contains(oe.Message, "pocketsphinx") {
		t.Errorf("Available: %v; want an option error naming pocketsphinx_path and the package", err)
	}
}

// unjoin flattens errors.Join's tree.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	if u := errors.Unwrap(err); u != nil {
		return append([]error{err}, unjoin(u)...)
	}
	return []error{err}
}

// wer is the word error rate of hyp against ref: the words' Levenshtein
// distance over the reference's length, lower-cased, punctuation gone.
func wer(ref, hyp string) float64 {
	r, h := werWords(ref), werWords(hyp)
	if len(r) == 0 {
		if len(h) == 0 {
			return 0
		}
		return 1
	}
	return float64(editDistance(r, h)) / float64(len(r))
}

func werWords(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(c rune) bool {
		return !unicode.IsLetter(c) && !unicode.IsDigit(c) && c != '\''
	})
}

func editDistance(a, b []string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func TestAvailable(t *testing.T) {
	t.Parallel()
	needTools(t)
	if err := Available(config.Provider{Name: "ps", Type: Type}); err != nil {
		t.Errorf("Available with the binaries in PATH: %v", err)
	}
}
