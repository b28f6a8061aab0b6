package ffmpeg

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/internal/localjob"
)

// The files of a job's folder.
const (
	lockName     = ".lock"         // held (flock) by the instance running the job
	progressName = "progress"      // the last progress, 0 to 1, for other instances
	resultName   = "result.json"   // written last: the job has ended
	videoName    = "video.mp4"     // the clip
	posterName   = "poster.jpg"    // its middle frame
	captionName  = "caption.txt"   // drawtext's text
	fontName     = "font.ttf"      // a link to the font, so no path goes into the filter
	stillPrefix  = "still"         // + the image's extension
	partPrefix   = "part-"         // outputs while ffmpeg writes them
	tmpResult    = "result.json.t" // renamed to resultName
)

// Causes of a job's end that are not ffmpeg's.
var (
	errCanceled  = errors.New("job canceled")
	errAbandoned = errors.New("job abandoned")
)

// job is a render this instance runs.
type job struct {
	id     string
	dir    string
	cancel context.CancelCauseFunc
	done   chan struct{} // closed when the process has ended and the lock is let go
	// progress is the render's, as float64 bits.
	progress atomic.Uint64
	pid      atomic.Int64
	lock     *os.File
}

func (j *job) Progress() float64 { return math.Float64frombits(j.progress.Load()) }

func (j *job) setProgress(f float64) { j.progress.Store(math.Float64bits(f)) }

// Job handles are JSON: the job id (its folder's name) and a tag of the
// task id, so that one task's handle is refused for another.
type handle struct {
	V    int    `json:"v"`
	ID   string `json:"id"`
	Task string `json:"task"`
}

var jobIDRe = regexp.MustCompile(`^[0-9a-f]{32}$`)

func newJobID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func taskTag(taskID string) string {
	h := fnv.New64a()
	_, _ = io.WriteString(h, taskID)
	return strconv.FormatUint(h.Sum64()&0xffffffff, 16)
}

func encodeJob(id, taskID string) string {
	b, _ := json.Marshal(handle{V: 1, ID: id, Task: taskTag(taskID)})
	return string(b)
}

func decodeJob(s, taskID string) (string, error) {
	var h handle
	if err := json.Unmarshal([]byte(s), &h); err != nil || h.V != 1 || !jobIDRe.MatchString(h.ID) {
		return "", provider.NewRejected("unknown_job", fmt.Sprintf("%q is not a job handle of the ffmpeg provider", s), nil)
	}
	if h.Task != taskTag(taskID) {
		return "", provider.NewRejected("unknown_job", fmt.Sprintf("job %s is not one of task %s", h.ID, taskID), nil)
	}
	return h.ID, nil
}

// outcome is what result.json holds: the result's extra fields, or the
// error the job ended with.
type outcome struct {
	Render  *rendered     `json:"render,omitempty"`
	Kind    provider.Kind `json:"kind,omitempty"`
	Code    string        `json:"code,omitempty"`
	Message string        `json:"message,omitempty"`
	Request bool          `json:"request_fault,omitempty"`
}

func (o outcome) err() error {
	switch {
	case o.Kind == "":
		return nil
	case o.Code == "timeout":
		return provider.NewTransient(o.Code, o.Message, context.DeadlineExceeded)
	case o.Kind == provider.Permanent && o.Request:
		return provider.NewRejected(o.Code, o.Message, nil)
	case o.Kind == provider.Permanent:
		return provider.NewPermanent(o.Code, o.Message, nil)
	}
	return provider.NewTransient(o.Code, o.Message, nil)
}

// rendered is what a finished render adds to its request's spec.
type rendered struct {
	Still string `json:"still"`
	// SimulatedStill: the StillMaker's still was invented.
	SimulatedStill bool    `json:"simulated_still,omitempty"`
	Caption        bool    `json:"caption"`
	Seconds        float64 `json:"seconds"`
}

// errBusy: another instance holds the job's folder.
var errBusy = errors.New("the job is running in another instance")

// begin prepares the job's folder (the still, the caption) and starts
// the render in the background.
func (p *FFmpeg) begin(ctx context.Context, req provider.Request, s spec, id string) error {
	dir := filepath.Join(p.workDir, id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return provider.NewTransient("work_dir", "make the job's folder", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, lockName), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return provider.NewTransient("work_dir", "open the job's lock", err)
	}
	ok, err := localjob.TryLock(lock)
	if err != nil || !ok {
		lock.Close()
		if err != nil {
			return provider.NewTransient("work_dir", "lock the job's folder", err)
		}
		return errBusy
	}
	fail := func(err error) error {
		lock.Close()
		os.RemoveAll(dir)
		return err
	}
	// What an earlier run left (a restart) goes: this one starts afresh.
	if err := localjob.ClearDir(dir, lockName); err != nil {
		return fail(provider.NewTransient("work_dir", "clear the job's folder", err))
	}
	still, err := p.still(ctx, req, s, dir)
	if err != nil {
		return fail(err)
	}
	caption := p.font != "" && writeCaption(filepath.Join(dir, captionName), s.in.Prompt, s.width, s.height)
	if caption {
		if err := os.Symlink(p.font, filepath.Join(dir, fontName)); err != nil {
			return fail(provider.NewTransient("work_dir", "link the font", err))
		}
	}
	jctx, cancel := context.WithCancelCause(context.Background())
	j := &job{id: id, dir: dir, cancel: cancel, done: make(chan struct{}), lock: lock}
	p.mu.Lock()
	p.jobs[id] = j
	p.mu.Unlock()
	go p.run(jctx, j, s, still, caption)
	return nil
}

// run renders, then writes the job's outcome and lets the lock go.
func (p *FFmpeg) run(ctx context.Context, j *job, s spec, still stillInfo, caption bool) {
	defer close(j.done)
	defer j.lock.Close()
	select {
	case p.slots <- struct{}{}:
		defer func() { <-p.slots }()
	case <-ctx.Done():
		p.finish(ctx, j, nil, nil, still, caption, 0)
		return
	}
	ctx, stop := context.WithTimeout(ctx, p.timeout)
	defer stop()
	began := time.Now()
	tail, err := p.render(ctx, j, s, still, caption)
	p.finish(ctx, j, tail, err, still, caption, time.Since(began))
}

// finish writes result.json, unless the job was canceled or abandoned.
func (p *FFmpeg) finish(ctx context.Context, j *job, tail []byte, runErr error, still stillInfo, caption bool, took time.Duration) {
	cause := context.Cause(ctx)
	if errors.Is(cause, errCanceled) || errors.Is(cause, errAbandoned) {
		return
	}
	var o outcome
	var ee *exec.ExitError
	switch {
	case errors.Is(cause, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		o = outcome{Kind: provider.Transient, Code: "timeout", Message: fmt.Sprintf("the render took over %s", p.timeout)}
	case runErr == nil:
		o.Render = &rendered{Still: still.source, SimulatedStill: still.simulated, Caption: caption, Seconds: math.Round(took.Seconds()*100) / 100}
		if err := os.Rename(filepath.Join(j.dir, partPrefix+videoName), filepath.Join(j.dir, videoName)); err != nil {
			o = outcome{Kind: provider.Transient, Code: "ffmpeg_output", Message: "ffmpeg wrote no video"}
		} else if err := os.Rename(filepath.Join(j.dir, partPrefix+posterName), filepath.Join(j.dir, posterName)); err != nil {
			o = outcome{Kind: provider.Transient, Code: "ffmpeg_output", Message: "ffmpeg wrote no poster"}
		}
	case errors.As(runErr, &ee) && localjob.Signaled(ee.ProcessState):
		o = outcome{Kind: provider.Transient, Code: "ffmpeg_killed", Message: "ffmpeg was killed: " + ee.String()}
	case errors.As(runErr, &ee):
		o = outcome{Kind: provider.Permanent, Code: "ffmpeg_failed", Message: "ffmpeg failed (" + ee.String() + "): " + lastLines(tail, j.dir)}
	default:
		o = outcome{Kind: provider.Transient, Code: "ffmpeg_start", Message: "ffmpeg could not be started"}
	}
	b, _ := json.Marshal(o)
	tmp := filepath.Join(j.dir, tmpResult)
	if err := os.WriteFile(tmp, b, 0o600); err == nil {
		_ = os.Rename(tmp, filepath.Join(j.dir, resultName))
	}
}

func signaled(ee *exec.ExitError) bool {
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled()
}

// render runs ffmpeg for the clip, following its progress, then for the
// poster (its middle frame); it answers the end of the failing run's
// stderr.
func (p *FFmpeg) render(ctx context.Context, j *job, s spec, still stillInfo, caption bool) ([]byte, error) {
	// A process dies with the thread that started it (Pdeathsig): keep
	// this goroutine on that thread until the processes have ended.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if tail, err := p.exec(ctx, j, renderArgs(s, still.file, p.preset, caption), func(r io.Reader) { p.follow(r, j, s) }); err != nil {
		return tail, err
	}
	return p.exec(ctx, j, posterArgs(s), nil)
}

// exec runs ffmpeg with args in the job's folder, its stdout read by
// follow (nil: dropped).
func (p *FFmpeg) exec(ctx context.Context, j *job, args []string, follow func(io.Reader)) ([]byte, error) {
	cmd := exec.CommandContext(ctx, p.ffmpeg, args...)
	cmd.Dir = j.dir
	cmd.SysProcAttr = localjob.GroupAttr()
	cmd.Cancel = func() error { return killGroup(cmd) }
	cmd.WaitDelay = 5 * time.Second
	var stderr tailBuffer
	cmd.Stderr = &stderr
	var out io.ReadCloser
	if follow != nil {
		var err error
		if out, err = cmd.StdoutPipe(); err != nil {
			return nil, err
		}
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	j.pid.Store(int64(cmd.Process.Pid))
	if follow != nil {
		follow(out)
	}
	err := cmd.Wait()
	// Grandchildren, if any, go with the group.
	_ = killGroup(cmd)
	return stderr.Bytes(), err
}

// follow reads ffmpeg's -progress lines until they end. Each block's
// progress is kept, and written for other instances; a folder that has
// gone (another instance canceled the job) stops the render.
func (p *FFmpeg) follow(r io.Reader, j *job, s spec) {
	total := s.seconds() * 1e6
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, val, _ := strings.Cut(sc.Text(), "=")
		switch key {
		case "out_time_us":
			if us, err := strconv.ParseFloat(val, 64); err == nil && us > 0 {
				j.setProgress(min(0.99, us/total))
			}
		case "progress":
			if val == "end" {
				j.setProgress(0.99)
			}
			_ = os.WriteFile(filepath.Join(j.dir, progressName), []byte(strconv.FormatFloat(j.Progress(), 'f', 3, 64)), 0o600)
			if _, err := os.Stat(j.dir); err != nil {
				j.cancel(errCanceled)
			}
		}
	}
	_, _ = io.Copy(io.Discard, r)
}

// renderArgs is the ffmpeg command line of a render, in the job's folder.
func renderArgs(s spec, stillFile, preset string, caption bool) []string {
	w, h, n := s.width, s.height, s.frames
	last := strconv.Itoa(max(n-1, 1))
	seed := hashString(s.in.Prompt, s.in.ImageURL)
	// A slow zoom (in or out, by the seed) with a pan across (left to
	// right or back), over the still scaled to twice the frame, so that
	// zoompan's whole-pixel steps are half a pixel of the output.
	zoom := "1+0.18*on/" + last
	if seed&1 == 1 {
		zoom = "1.18-0.18*on/" + last
	}
	pan := "0.25+0.5*on/" + last
	if seed&2 == 2 {
		pan = "0.75-0.5*on/" + last
	}
	size := strconv.Itoa(w) + "x" + strconv.Itoa(h)
	chain := fmt.Sprintf("[0:v]trim=end_frame=1,scale=%d:%d:force_original_aspect_ratio=increase:flags=bicubic,crop=%d:%d,setsar=1,"+
		"zoompan=z='%s':x='(iw-iw/zoom)*(%s)':y='(ih-ih/zoom)*0.5':d=%d:s=%s:fps=%d",
		2*w, 2*h, 2*w, 2*h, zoom, pan, n, size, FPS)
	if caption {
		fontSize := min(w, h) / 20
		chain += fmt.Sprintf(",drawtext=fontfile=%s:textfile=%s:expansion=none:fontsize=%d:fontcolor=white:line_spacing=%d"+
			":box=1:boxcolor=black@0.45:boxborderw=%d:x=(w-text_w)/2:y=h-text_h-%d",
			fontName, captionName, fontSize, fontSize/4, fontSize/2, h/12)
	}
	chain += ",format=yuv420p[v]"
	return []string{
		"-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-nostats", "-progress", "pipe:1",
		"-i", stillFile,
		"-filter_complex", chain,
		"-map", "[v]", "-frames:v", strconv.Itoa(n), "-c:v", "libx264", "-preset", preset, "-crf", "23",
		"-pix_fmt", "yuv420p", "-movflags", "+faststart", "-an", "-f", "mp4", partPrefix + videoName,
	}
}

// posterArgs is the command line taking the clip's middle frame as a
// JPEG. (A second output of the render would hold back its progress:
// ffmpeg feeds the output that is behind first.)
func posterArgs(s spec) []string {
	mid := strconv.FormatFloat(float64(s.frames/2)/FPS, 'f', 3, 64)
	return []string{
		"-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-nostats",
		"-ss", mid, "-i", partPrefix + videoName,
		"-frames:v", "1", "-q:v", "3", "-update", "1", "-f", "image2", partPrefix + posterName,
	}
}

// poll answers a job's state: this instance's render, a result in its
// folder, another instance's render, or a render started again.
func (p *FFmpeg) poll(ctx context.Context, req provider.Request, s spec, id string) (provider.Response, error) {
	p.mu.Lock()
	j := p.jobs[id]
	if j != nil {
		select {
		case <-j.done:
		default:
			p.mu.Unlock()
			return provider.Response{PollAfter: p.pollAfter, Progress: j.Progress()}, nil
		}
	}
	// Collecting and removing under the lock: a second Poll at once sees
	// either the result or nothing done, never half a folder.
	res, err, found := p.collect(id, s)
	if found || j != nil {
		delete(p.jobs, id)
		os.RemoveAll(filepath.Join(p.workDir, id))
	}
	p.mu.Unlock()
	if found {
		return provider.Response{Result: res, Progress: 1}, err
	}
	if err := p.begin(ctx, req, s, id); err != nil {
		if errors.Is(err, errBusy) {
			return provider.Response{PollAfter: p.pollAfter, Progress: readProgress(filepath.Join(p.workDir, id, progressName))}, nil
		}
		return provider.Response{}, err
	}
	return provider.Response{PollAfter: p.pollAfter}, nil
}

// collect reads a job's ended outcome from its folder; found is false
// when it has none.
func (p *FFmpeg) collect(id string, s spec) (res *provider.Result, err error, found bool) {
	dir := filepath.Join(p.workDir, id)
	b, rerr := os.ReadFile(filepath.Join(dir, resultName))
	if rerr != nil {
		return nil, nil, false
	}
	var o outcome
	if json.Unmarshal(b, &o) != nil {
		return nil, nil, false
	}
	if err := o.err(); err != nil {
		return nil, err, true
	}
	if o.Render == nil {
		return nil, nil, false
	}
	video, verr := os.ReadFile(filepath.Join(dir, videoName))
	poster, perr := os.ReadFile(filepath.Join(dir, posterName))
	if verr != nil || perr != nil {
		return nil, nil, false
	}
	return &provider.Result{
		Files: []provider.File{
			{ContentType: "video/mp4", Ext: ".mp4", Data: video},
			{ContentType: "image/jpeg", Ext: ".jpg", Data: poster},
		},
		Extra: s.extra(*o.Render),
		Cost:  &provider.Cost{USD: 0, PriceVersion: "local"},
	}, nil, true
}

func readProgress(path string) float64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	if err != nil || !(f >= 0 && f <= 1) {
		return 0
	}
	return f
}

// cancel stops this instance's render of the job and removes its folder;
// a render of another instance stops when it sees the folder gone.
func (p *FFmpeg) cancel(ctx context.Context, id string) {
	p.mu.Lock()
	j := p.jobs[id]
	delete(p.jobs, id)
	p.mu.Unlock()
	if j != nil {
		j.cancel(errCanceled)
		select {
		case <-j.done:
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
		}
	}
	os.RemoveAll(filepath.Join(p.workDir, id))
}

// StaleAfter is how long the folder of a job nobody polls is kept: New
// removes older ones that no instance holds.
const StaleAfter = 24 * time.Hour

// sweep removes the job folders last changed before cutoff whose lock
// is free.
func (p *FFmpeg) sweep(cutoff time.Time) {
	ents, err := os.ReadDir(p.workDir)
	if err != nil {
		return
	}
	for _, e := range ents {
		info, err := e.Info()
		if err != nil || !e.IsDir() || !jobIDRe.MatchString(e.Name()) || !info.ModTime().Before(cutoff) {
			continue
		}
		dir := filepath.Join(p.workDir, e.Name())
		f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			continue
		}
		if ok, _ := localjob.TryLock(f); ok {
			os.RemoveAll(dir)
		}
		f.Close()
	}
}

// abandon is what a crash does to a job: its process is killed, its lock
// let go, and its folder left as it was.
func (p *FFmpeg) abandon(id string) {
	p.mu.Lock()
	j := p.jobs[id]
	delete(p.jobs, id)
	p.mu.Unlock()
	if j != nil {
		j.cancel(errAbandoned)
		<-j.done
	}
}

// tailBuffer keeps the last bytes written to it.
type tailBuffer struct{ b []byte }

const tailBytes = 4096

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > tailBytes {
		t.b = append(t.b[:0], t.b[len(t.b)-tailBytes:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) Bytes() []byte { return t.b }

// lastLines is the end of a tool's stderr, fit to show the task's owner:
// its last few lines, trimmed, without the machine's paths.
func lastLines(b []byte, dir string) string {
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(strings.ReplaceAll(l, dir+string(filepath.Separator), ""))
		l = strings.ReplaceAll(l, dir, ".")
		l = logContext.ReplaceAllString(l, "$1: ")
		if l != "" && (len(lines) == 0 || lines[len(lines)-1] != l) {
			lines = append(lines, l)
		}
	}
	if len(lines) > 4 {
		lines = lines[len(lines)-4:]
	}
	s := strings.Join(lines, "; ")
	if len(s) > 600 {
		s = s[len(s)-600:]
	}
	if s == "" {
		return "no message"
	}
	return s
}

// logContext is the "[png @ 0x55d0c8a0]" before a line of ffmpeg's log.
var logContext = regexp.MustCompile(`\[([\w:.-]+) @ 0x[0-9a-f]+\] *`)

// hashString is FNV-1a 64 over the parts: stable across processes.
func hashString(parts ...string) uint64 {
	h := fnv.New64a()
	for _, s := range parts {
		_, _ = io.WriteString(h, s)
		_, _ = h.Write([]byte{0xff})
	}
	return h.Sum64()
}

// killGroup kills the group of cmd's ffmpeg (exec.Cmd.Cancel's contract:
// os.ErrProcessDone when it had ended).
func killGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	return localjob.KillGroup(cmd.Process.Pid)
}
