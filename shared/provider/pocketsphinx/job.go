package pocketsphinx

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/httpapi"
	"github.com/videoai/mediatasks/shared/provider/internal/localjob"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/transcript"
)

// The files of a job's folder.
const (
	lockFile   = "lock"        // held (flock) while a run works on the job
	pidFile    = "pid"         // the process group of the tool running now
	audioFile  = "audio.raw"   // the input converted: 16 kHz mono s16le, headerless
	wordsFile  = "words.txt"   // the recogniser's output, as it goes
	logFile    = "recog.log"   // the recogniser's log
	resultFile = "result.json" // the finished transcript
	errorFile  = "error.json"  // the job's failure
)

// sampleRate is the recogniser's: its en-us model's 16 kHz.
const sampleRate = 16000

// audioSeconds is the length of the converted audio (0 while there is
// none): two bytes a sample.
func audioSeconds(path string) float64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return float64(st.Size()) / (2 * sampleRate)
}

// staleAfter is the age of a job folder nobody came back for: removed
// when a provider is built.
const staleAfter = 24 * time.Hour

// handle is what a job handle carries: the job's id (its folder's name)
// and the task it is for.
type handle struct {
	ID   string `json:"id"`
	Task string `json:"task"`
}

var (
	jobIDRe = regexp.MustCompile(`^[0-9a-f]{32}$`)
	extRe   = regexp.MustCompile(`^\.[a-z0-9]{1,5}$`)
)

func (p *Provider) decodeJob(job, taskID string) (handle, error) {
	var h handle
	if err := json.Unmarshal([]byte(job), &h); err != nil || !jobIDRe.MatchString(h.ID) {
		return h, provider.NewRejected("unknown_job", fmt.Sprintf("%q is not a job handle of the pocketsphinx provider", job), nil)
	}
	if h.Task != taskID {
		return h, provider.NewRejected("unknown_job", fmt.Sprintf("job %s is not one of task %s", h.ID, taskID), nil)
	}
	return h, nil
}

func encodeJob(h handle) string {
	b, _ := json.Marshal(h) // two strings: cannot fail
	return string(b)
}

// run is one job being worked on by this instance.
type run struct {
	id     string
	dir    string
	lock   *os.File
	cancel context.CancelFunc
	done   chan struct{}
}

// failure is a job's error as its folder keeps it.
type failure struct {
	Kind     provider.Kind `json:"kind"`
	Code     string        `json:"code"`
	Message  string        `json:"message"`
	Request  bool          `json:"request_fault,omitempty"`
	Deadline bool          `json:"deadline,omitempty"`
}

func (f failure) err() error {
	e := &provider.Error{Kind: f.Kind, Code: f.Code, Message: f.Message, RequestFault: f.Request}
	if f.Deadline {
		e.Err = context.DeadlineExceeded
	}
	return e
}

// done is a finished job's record, as result.json keeps it.
type done struct {
	Transcript        *transcript.Transcript `json:"transcript"`
	ProcessingSeconds float64                `json:"processing_seconds"`
	CPUSeconds        float64                `json:"cpu_seconds"`
}

// Start checks the request, reads its audio and begins the job in the
// background.
func (p *Provider) Start(ctx context.Context, req provider.Request) (provider.Response, error) {
	in, err := p.check(req)
	if err != nil {
		return provider.Response{}, fmt.Errorf("pocketsphinx %s: task %s: %w", p.name, req.TaskID, err)
	}
	data, ct, err := p.fetcher.Media(ctx, req.Media, p.maxBytes)
	if err != nil {
		return provider.Response{}, fmt.Errorf("pocketsphinx %s: task %s: %w", p.name, req.TaskID, err)
	}
	if in.Media().TranscriptionTaskID != "" && isTranscript(ct) {
		// A subtitle task made from a transcription task's transcript:
		// nothing to recognise.
		res, err := transcriptOf(data)
		if err != nil {
			return provider.Response{}, fmt.Errorf("pocketsphinx %s: task %s: %w", p.name, req.TaskID, err)
		}
		return provider.Response{Result: res, Progress: 1}, nil
	}
	h := handle{ID: newID(), Task: req.TaskID}
	dir := filepath.Join(p.workDir, h.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return provider.Response{}, provider.NewTransient("work_dir", "make the job's work folder", err)
	}
	lock, err := openLock(dir)
	if err != nil {
		return provider.Response{}, err
	}
	if err := p.launch(h.ID, dir, lock, req.Media, data); err != nil {
		lock.Close()
		os.RemoveAll(dir)
		return provider.Response{}, fmt.Errorf("pocketsphinx %s: task %s: %w", p.name, req.TaskID, err)
	}
	return provider.Response{Job: encodeJob(h), PollAfter: PollAfter, Progress: 0}, nil
}

// check refuses an input this provider cannot do, and returns it decoded.
func (p *Provider) check(req provider.Request) (task.Input, error) {
	if req.Type != task.TypeAudioTranscription && req.Type != task.TypeSubtitleGeneration {
		return nil, provider.NewRejected("unsupported_task_type", fmt.Sprintf("the pocketsphinx provider does not serve %s", req.Type), nil)
	}
	in, err := task.DecodeInput(req.Type, req.Input)
	if err != nil {
		return nil, provider.NewRejected("invalid_input", "the task's input is not the expected JSON", err)
	}
	if errs := p.CheckInput("input_data", in); len(errs) > 0 {
		return nil, provider.NewRejected("unsupported_language", errs.Error(), nil)
	}
	return in, nil
}

// Poll reports a job's progress, or its result. A job neither running nor
// finished (the platform restarted, or the folder was lost) runs again
// from the request.
func (p *Provider) Poll(ctx context.Context, req provider.Request, job string) (provider.Response, error) {
	h, err := p.decodeJob(job, req.TaskID)
	if err != nil {
		return provider.Response{}, fmt.Errorf("pocketsphinx %s: poll: %w", p.name, err)
	}
	dir := filepath.Join(p.workDir, h.ID)
	if resp, ok, err := p.finished(dir); ok {
		return resp, err
	}
	p.mu.Lock()
	_, running := p.jobs[h.ID]
	p.mu.Unlock()
	if running {
		return p.pending(dir), nil
	}
	// Not ours: another instance may be running it.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return provider.Response{}, provider.NewTransient("work_dir", "make the job's work folder", err)
	}
	lock, err := openLock(dir)
	if err != nil {
		return provider.Response{}, err
	}
	ok, err := localjob.TryLock(lock)
	if err != nil {
		lock.Close()
		return provider.Response{}, provider.NewTransient("work_dir", "lock the job's work folder", err)
	}
	if !ok {
		lock.Close()
		return p.pending(dir), nil
	}
	// Ours now: it may have finished between the look and the lock.
	if resp, ok, err := p.finished(dir); ok {
		lock.Close()
		return resp, err
	}
	if err := localjob.ClearDir(dir, lockFile); err != nil {
		lock.Close()
		return provider.Response{}, provider.NewTransient("work_dir", "clear the job's work folder", err)
	}
	if _, err := p.check(req); err != nil {
		lock.Close()
		os.RemoveAll(dir)
		return provider.Response{}, fmt.Errorf("pocketsphinx %s: task %s: %w", p.name, req.TaskID, err)
	}
	data, _, err := p.fetcher.Media(ctx, req.Media, p.maxBytes)
	if err != nil {
		lock.Close()
		if provider.KindOf(err) == provider.Permanent {
			os.RemoveAll(dir)
		}
		return provider.Response{}, fmt.Errorf("pocketsphinx %s: task %s: restart: %w", p.name, req.TaskID, err)
	}
	if err := p.launch(h.ID, dir, lock, req.Media, data); err != nil {
		lock.Close()
		return provider.Response{}, fmt.Errorf("pocketsphinx %s: task %s: restart: %w", p.name, req.TaskID, err)
	}
	return provider.Response{Job: job, PollAfter: PollAfter, Progress: 0}, nil
}

// Cancel kills the job's processes and removes its folder. A job that has
// ended, or that is unknown, is not an error.
func (p *Provider) Cancel(_ context.Context, req provider.Request, job string) error {
	h, err := p.decodeJob(job, req.TaskID)
	if err != nil {
		return fmt.Errorf("pocketsphinx %s: cancel: %w", p.name, err)
	}
	dir := filepath.Join(p.workDir, h.ID)
	p.mu.Lock()
	r := p.jobs[h.ID]
	p.mu.Unlock()
	if r != nil {
		r.cancel()
		<-r.done
	} else if lock, err := openLockIfExists(dir); err == nil {
		// Run by another instance: kill its tool, whose group the folder names.
		if ok, _ := localjob.TryLock(lock); !ok {
			if b, err := os.ReadFile(filepath.Join(dir, pidFile)); err == nil {
				if pgid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
					_ = localjob.KillGroup(pgid)
				}
			}
		}
		lock.Close()
	}
	if err := os.RemoveAll(dir); err != nil {
		return provider.NewTransient("work_dir", "remove the job's work folder", err)
	}
	return nil
}

// pending is the answer for a job still running: its progress.
func (p *Provider) pending(dir string) provider.Response {
	return provider.Response{PollAfter: PollAfter, Progress: progress(dir)}
}

// progress is the end of the last word the recogniser has written over
// the audio's duration (0 while the audio is converted), below 1.
func progress(dir string) float64 {
	dur := audioSeconds(filepath.Join(dir, audioFile))
	if dur <= 0 {
		return 0
	}
	tail, err := readTail(filepath.Join(dir, wordsFile), 4096)
	if err != nil {
		return 0
	}
	return min(max(lastWordEnd(tail)/dur, 0), 0.99)
}

// finished answers a job whose folder holds its result or its failure
// (ok), and removes the folder.
func (p *Provider) finished(dir string) (provider.Response, bool, error) {
	if b, err := os.ReadFile(filepath.Join(dir, resultFile)); err == nil {
		var d done
		if err := json.Unmarshal(b, &d); err != nil || d.Transcript == nil {
			os.RemoveAll(dir)
			return provider.Response{}, true, provider.NewTransient("bad_result", "the job's result cannot be read", err)
		}
		os.RemoveAll(dir)
		return provider.Response{Result: result(d.Transcript, d.ProcessingSeconds, d.CPUSeconds), Progress: 1}, true, nil
	}
	if b, err := os.ReadFile(filepath.Join(dir, errorFile)); err == nil {
		var f failure
		os.RemoveAll(dir)
		if err := json.Unmarshal(b, &f); err != nil || f.Kind == "" {
			return provider.Response{}, true, provider.NewTransient("bad_result", "the job's failure cannot be read", err)
		}
		return provider.Response{}, true, fmt.Errorf("pocketsphinx %s: %w", p.name, f.err())
	}
	return provider.Response{}, false, nil
}

// result is the platform's result of a transcript.
func result(t *transcript.Transcript, processing, cpu float64) *provider.Result {
	extra := map[string]any{
		"language":         t.Language,
		"duration_seconds": t.DurationSeconds,
		"segments":         len(t.Segments),
		"words":            len(t.Words),
		"engine":           Type,
	}
	if processing > 0 {
		extra["processing_seconds"] = math.Round(processing*1000) / 1000
		extra["cpu_seconds"] = math.Round(cpu*1000) / 1000
	}
	return &provider.Result{Text: t.Text, Transcript: t, Extra: extra, Cost: &provider.Cost{USD: 0, PriceVersion: PriceVersion}}
}

// isTranscript reports the content type of a transcript file (the input
// of a subtitle task made from a transcription task).
func isTranscript(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.TrimSpace(strings.ToLower(mt)) == transcript.ContentType
}

// transcriptOf is the result of a transcript file given as the input.
func transcriptOf(data []byte) (*provider.Result, error) {
	var t transcript.Transcript
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, provider.NewRejected("bad_transcript", "the input transcript is not a transcript's JSON", err)
	}
	if t.Language == "" {
		t.Language = Language
	}
	res := result(t.Normalize(), 0, 0)
	res.Extra["source"] = "transcript"
	return res, nil
}

// launch writes the input in the job's folder and runs the job in the
// background, holding lock (closed when the run ends).
func (p *Provider) launch(id, dir string, lock *os.File, m *provider.Media, data []byte) error {
	if ok, err := localjob.TryLock(lock); err != nil || !ok {
		return provider.NewTransient("work_dir", "lock the job's work folder", err)
	}
	in := filepath.Join(dir, "input"+inputExt(m))
	if err := os.WriteFile(in, data, 0o600); err != nil {
		return provider.NewTransient("work_dir", "write the input in the job's work folder", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	r := &run{id: id, dir: dir, lock: lock, cancel: cancel, done: make(chan struct{})}
	p.mu.Lock()
	p.jobs[id] = r
	p.mu.Unlock()
	go p.work(ctx, r, in)
	return nil
}

// inputExt is the media's file extension (ffmpeg probes the content; the
// extension is only a hint).
func inputExt(m *provider.Media) string {
	if m != nil {
		if ext := strings.ToLower(filepath.Ext(m.Name)); extRe.MatchString(ext) {
			return ext
		}
		if ext := httpapi.ExtOf(m.ContentType); ext != ".bin" {
			return ext
		}
	}
	return ".media"
}

// work converts the audio, recognises it and leaves the result, or the
// failure, in the job's folder.
func (p *Provider) work(ctx context.Context, r *run, in string) {
	defer func() {
		r.cancel()
		p.mu.Lock()
		delete(p.jobs, r.id)
		p.mu.Unlock()
		r.lock.Close()
		close(r.done)
	}()
	began := time.Now()
	select {
	case p.slots <- struct{}{}:
		defer func() { <-p.slots }()
	case <-ctx.Done():
		p.fail(ctx, r.dir, nil)
		return
	}
	// Raw samples, not WAV: the recogniser skips a WAV header of 44 bytes
	// whatever its length, and reads the rest as sound.
	audio := filepath.Join(r.dir, audioFile)
	var cpu time.Duration
	if err := p.tool(ctx, r.dir, "ffmpeg", nil, &cpu, p.ffmpeg,
		"-nostdin", "-hide_banner", "-loglevel", "error", "-i", in,
		"-vn", "-ac", "1", "-ar", strconv.Itoa(sampleRate), "-c:a", "pcm_s16le", "-f", "s16le", "-y", audio); err != nil {
		p.fail(ctx, r.dir, err)
		return
	}
	os.Remove(in)
	dur := audioSeconds(audio)
	words, err := os.Create(filepath.Join(r.dir, wordsFile))
	if err != nil {
		p.fail(ctx, r.dir, provider.NewTransient("work_dir", "make the words file", err))
		return
	}
	args := append([]string{"-infile", audio, "-samprate", strconv.Itoa(sampleRate), "-time", "yes", "-logfn", filepath.Join(r.dir, logFile)}, p.modelArgs...)
	err = p.tool(ctx, r.dir, "pocketsphinx", words, &cpu, p.recog, args...)
	words.Close()
	if err != nil {
		p.fail(ctx, r.dir, err)
		return
	}
	f, err := os.Open(filepath.Join(r.dir, wordsFile))
	if err != nil {
		p.fail(ctx, r.dir, provider.NewTransient("work_dir", "read the words file", err))
		return
	}
	t, err := parseWords(f, dur)
	f.Close()
	if err != nil {
		p.fail(ctx, r.dir, provider.NewTransient("bad_output", "read the recogniser's output", err))
		return
	}
	b, err := json.Marshal(done{Transcript: t, ProcessingSeconds: time.Since(began).Seconds(), CPUSeconds: cpu.Seconds()})
	if err == nil {
		err = writeAtomic(r.dir, resultFile, b)
	}
	if err != nil && ctx.Err() == nil {
		p.fail(ctx, r.dir, provider.NewTransient("work_dir", "write the result", err))
	}
	for _, name := range []string{audioFile, wordsFile, logFile} {
		os.Remove(filepath.Join(r.dir, name))
	}
}

// fail leaves the job's failure in its folder: err, or the context's end.
// A canceled job leaves nothing (Cancel removes the folder).
func (p *Provider) fail(ctx context.Context, dir string, err error) {
	var f failure
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		f = failure{Kind: provider.Transient, Code: "timeout", Message: fmt.Sprintf("the job ran over the provider's timeout of %s", p.timeout), Deadline: true}
	default:
		var e *provider.Error
		if !errors.As(err, &e) {
			e = provider.NewTransient("failed", err.Error(), err)
		}
		f = failure{Kind: e.Kind, Code: e.Code, Message: e.Message, Request: e.RequestFault}
	}
	b, _ := json.Marshal(f)
	_ = writeAtomic(dir, errorFile, b)
}

// tool runs one program in its own process group, its standard output to
// stdout (or discarded), adds the CPU time it took to cpu, and classifies its failure: killed by a signal
// is transient; a non-zero exit of ffmpeg is the input's fault (its last
// lines say why), of the recogniser the provider's.
func (p *Provider) tool(ctx context.Context, dir, what string, stdout io.Writer, cpu *time.Duration, path string, args ...string) error {
	var stderr tailBuffer
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = dir
	cmd.Stdout = stdout
	cmd.Stderr = &stderr
	cmd.SysProcAttr = localjob.GroupAttr()
	cmd.Cancel = func() error {
		if err := localjob.KillGroup(cmd.Process.Pid); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return cmd.Process.Kill()
		}
		return nil
	}
	cmd.WaitDelay = 5 * time.Second
	// The death signal of Pdeathsig follows the thread that started the
	// process: keep it until the process ends.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		return provider.NewPermanent("tool_missing", fmt.Sprintf("%s cannot be started", what), err)
	}
	pid := filepath.Join(dir, pidFile)
	_ = os.WriteFile(pid, []byte(strconv.Itoa(cmd.Process.Pid)), 0o600)
	err := cmd.Wait()
	os.Remove(pid) // never a group that has ended, whose number may be reused
	if cmd.ProcessState != nil {
		*cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if cmd.ProcessState != nil && localjob.Signaled(cmd.ProcessState) {
		return provider.NewTransient(what+"_killed", fmt.Sprintf("%s was stopped by a signal (%s)", what, cmd.ProcessState), err)
	}
	lines := stderr.String()
	if what == "pocketsphinx" {
		if b, rerr := readTail(filepath.Join(dir, logFile), 8192); rerr == nil {
			lines = errorLines(string(b))
		}
		return provider.NewPermanent("recognizer_failed", "the recogniser failed: "+tidy(lines, dir), err)
	}
	if strings.Contains(lines, "does not contain any stream") {
		return provider.NewRejected("no_audio", "the input media has no sound to transcribe (ffmpeg finds no audio stream in it)", err)
	}
	return provider.NewRejected("unreadable_media", "ffmpeg cannot read the input media: "+tidy(lines, dir), err)
}

// errorLines keeps the recogniser's ERROR and FATAL lines of its log, or
// its last lines when it has none.
func errorLines(log string) string {
	var keep []string
	for _, l := range strings.Split(log, "\n") {
		if strings.HasPrefix(l, "ERROR") || strings.HasPrefix(l, "FATAL") {
			keep = append(keep, l)
		}
	}
	if len(keep) == 0 {
		return log
	}
	return strings.Join(keep, "\n")
}

var (
	absPath   = regexp.MustCompile(`(?:/[^\s/:'"]+)+/`)
	pointer   = regexp.MustCompile(` @ 0x[0-9a-fA-F]+`)
	srcPrefix = regexp.MustCompile(`\s*"[^"]*\.c", line \d+:\s*`)
)

// tidy is a tool's complaint fit to show the task's owner: its last three
// lines, the job folder cut from paths and other folders dropped (no path
// of the machine shows).
func tidy(s, dir string) string {
	s = strings.ReplaceAll(s, dir+string(filepath.Separator), "")
	s = strings.ReplaceAll(s, dir, ".")
	s = absPath.ReplaceAllString(s, "")
	s = pointer.ReplaceAllString(s, "")
	s = srcPrefix.ReplaceAllString(s, " ")
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	out := strings.Join(lines, "; ")
	if len(out) > 600 {
		out = out[len(out)-600:]
	}
	if out == "" {
		return "no reason given"
	}
	return out
}

// tailBuffer keeps the last 8 KB written to it.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 8192 {
		t.b = append([]byte(nil), t.b[len(t.b)-8192:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }

// readTail is the last n bytes of a file.
func readTail(path string, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	off := max(st.Size()-n, 0)
	buf := make([]byte, st.Size()-off)
	_, err = f.ReadAt(buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return bytes.TrimLeft(buf, "\x00"), nil
}

// writeAtomic writes a file of dir whole or not at all, and never
// re-creates a folder Cancel removed.
func writeAtomic(dir, name string, data []byte) error {
	tmp, err := os.CreateTemp(dir, name+".*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, name))
}

func openLock(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, provider.NewTransient("work_dir", "open the job's lock", err)
	}
	return f, nil
}

func openLockIfExists(dir string) (*os.File, error) {
	return os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR, 0)
}

// sweep removes job folders older than age that no run holds: jobs
// nobody came back for.
func (p *Provider) sweep(age time.Duration) {
	entries, err := os.ReadDir(p.workDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !jobIDRe.MatchString(e.Name()) {
			continue
		}
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) < age {
			continue
		}
		dir := filepath.Join(p.workDir, e.Name())
		lock, err := openLockIfExists(dir)
		if errors.Is(err, fs.ErrNotExist) {
			os.RemoveAll(dir)
			continue
		}
		if err != nil {
			continue
		}
		if ok, _ := localjob.TryLock(lock); ok {
			os.RemoveAll(dir)
		}
		lock.Close()
	}
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
