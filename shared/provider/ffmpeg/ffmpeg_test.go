//go:build unix

package ffmpeg

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/task"
)

// needFFmpeg skips a test that runs the programs when they are absent.
func needFFmpeg(t testing.TB) {
	t.Helper()
	for _, bin := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not installed: apt-get install ffmpeg (Debian's package) to run this test", bin)
		}
	}
}

// setup builds a provider with a work dir of its own (or dir) and opts.
func setup(t testing.TB, dir string, opts map[string]any) *FFmpeg {
	t.Helper()
	needFFmpeg(t)
	if dir == "" {
		dir = t.TempDir()
	}
	o := map[string]any{"work_dir": dir, "poll_after_ms": 50, "allow_private": true}
	for k, v := range opts {
		o[k] = v
	}
	raw, _ := json.Marshal(o)
	p, err := New(config.Provider{Name: "ffmpeg-test", Type: Type, TaskTypes: []task.Type{task.TypeVideoGeneration}, Options: raw})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p.(*FFmpeg)
}

func videoRequest(taskID string, in map[string]any) provider.Request {
	raw, _ := json.Marshal(in)
	return provider.Request{TaskID: taskID, Type: task.TypeVideoGeneration, Input: raw, Attempt: 1}
}

// complete polls a started job until it is done, checking the progress
// stays within 0..1 and never goes back.
func complete(t testing.TB, p provider.Provider, req provider.Request, resp provider.Response) *provider.Result {
	t.Helper()
	job, last := resp.Job, resp.Progress
	deadline := time.Now().Add(2 * time.Minute)
	for !resp.Done() {
		if time.Now().After(deadline) {
			t.Fatalf("job %s not done in time", job)
		}
		time.Sleep(resp.PollAfter)
		var err error
		resp, err = p.Poll(context.Background(), req, job)
		if err != nil {
			t.Fatalf("Poll: %v", err)
		}
		if resp.Progress < 0 || resp.Progress > 1 || resp.Progress < last {
			t.Fatalf("progress %v after %v", resp.Progress, last)
		}
		last = resp.Progress
		if resp.Job != "" {
			job = resp.Job
		}
	}
	return resp.Result
}

func run(t testing.TB, p provider.Provider, req provider.Request) *provider.Result {
	t.Helper()
	resp, err := p.Start(context.Background(), req)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if resp.Done() || resp.Job == "" {
		t.Fatalf("Start answered %+v, want a job", resp)
	}
	return complete(t, p, req, resp)
}

type probed struct {
	Streams []struct {
		CodecName string `json:"codec_name"`
		PixFmt    string `json:"pix_fmt"`
		Width     int    `json:"width"`
		Height    int    `json:"height"`
	} `json:"streams"`
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

// ffprobe reads a file back.
func ffprobe(t testing.TB, data []byte, ext string) probed {
	t.Helper()
	path := filepath.Join(t.TempDir(), "out"+ext)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name,pix_fmt,width,height:format=duration", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", ext, err)
	}
	var pr probed
	if err := json.Unmarshal(out, &pr); err != nil || len(pr.Streams) == 0 {
		t.Fatalf("ffprobe %s: %s (%v)", ext, out, err)
	}
	return pr
}

// checkVideo holds a result to the asked clip: an H.264 MP4 of w x h
// lasting secs, and a JPEG poster of the same size.
func checkVideo(t *testing.T, res *provider.Result, w, h, secs int) {
	t.Helper()
	if len(res.Files) != 2 {
		t.Fatalf("files %d, want the video and its poster", len(res.Files))
	}
	v, poster := res.Files[0], res.Files[1]
	if v.ContentType != "video/mp4" || v.Ext != ".mp4" || len(v.Data) == 0 {
		t.Fatalf("video file %s %s %d bytes", v.ContentType, v.Ext, len(v.Data))
	}
	if !bytes.Equal(v.Data[4:8], []byte("ftyp")) {
		t.Errorf("video does not start with an ftyp box")
	}
	pr := ffprobe(t, v.Data, ".mp4")
	s := pr.Streams[0]
	if s.CodecName != "h264" || s.PixFmt != "yuv420p" || s.Width != w || s.Height != h {
		t.Errorf("video is %s %s %dx%d, want h264 yuv420p %dx%d", s.CodecName, s.PixFmt, s.Width, s.Height, w, h)
	}
	d, err := strconv.ParseFloat(pr.Format.Duration, 64)
	if err != nil || math.Abs(d-float64(secs)) > 0.1 {
		t.Errorf("video lasts %q s, want %d ± 0.1", pr.Format.Duration, secs)
	}
	if poster.ContentType != "image/jpeg" || poster.Ext != ".jpg" {
		t.Errorf("poster is %s %s", poster.ContentType, poster.Ext)
	}
	img, err := jpeg.Decode(bytes.NewReader(poster.Data))
	if err != nil {
		t.Fatalf("poster does not decode: %v", err)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Errorf("poster is %dx%d, want %dx%d", b.Dx(), b.Dy(), w, h)
	}
	if res.Cost == nil || res.Cost.USD != 0 || res.Cost.PriceVersion != "local" {
		t.Errorf("cost %+v, want 0 USD local", res.Cost)
	}
	if res.Extra["width"] != w || res.Extra["height"] != h || res.Extra["duration_seconds"] != secs || res.Extra["codec"] != "h264" {
		t.Errorf("extra %v", res.Extra)
	}
}

// testPNG is a real picture: quadrants of colour with a grid, w x h.
func testPNG(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.NRGBA{uint8(255 * x / w), uint8(255 * y / h), 128, 255}
			if x%40 == 0 || y%40 == 0 {
				c = color.NRGBA{255, 255, 255, 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func heldMedia(ct string, data []byte) *provider.Media {
	return &provider.Media{ContentType: ct, Name: "image" + filepath.Ext(ct), Open: func(context.Context) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}}
}

func fontPresent() bool {
	_, err := os.Stat(DefaultFont)
	return err == nil
}

func TestRendersAPNGStill(t *testing.T) {
	p := setup(t, "", nil)
	req := videoRequest("tsk_png", map[string]any{"prompt": "a grid of colours, slowly", "duration_seconds": 3, "aspect_ratio": "16:9"})
	req.Media = heldMedia("image/png", testPNG(t, 640, 480))
	res := run(t, p, req)
	checkVideo(t, res, 1280, 720, 3)
	if res.Extra["still"] != SourceMedia || res.Extra["simulated_still"] != false {
		t.Errorf("extra %v, want the media's still, not simulated", res.Extra)
	}
	if res.Extra["caption"] != fontPresent() {
		t.Errorf("caption %v with the font present %v", res.Extra["caption"], fontPresent())
	}
	// The job's folder goes once the result is handed over.
	if ents, _ := os.ReadDir(p.workDir); len(ents) != 0 {
		t.Errorf("work dir keeps %d entries", len(ents))
	}
}

func TestRendersStillsOfEveryCommonFormat(t *testing.T) {
	p := setup(t, "", map[string]any{"caption": false})
	src, _ := png.Decode(bytes.NewReader(testPNG(t, 320, 240)))
	var jpg, gifData bytes.Buffer
	if err := jpeg.Encode(&jpg, src, nil); err != nil {
		t.Fatal(err)
	}
	// An animated GIF: only its first frame is the still.
	pal := color.Palette{color.Black, color.White, color.NRGBA{200, 30, 30, 255}}
	anim := &gif.GIF{}
	for i := range 3 {
		fr := image.NewPaletted(image.Rect(0, 0, 160, 90), pal)
		for x := range 160 {
			fr.SetColorIndex(x, 45, uint8(1+i%2))
		}
		anim.Image, anim.Delay = append(anim.Image, fr), append(anim.Delay, 10)
	}
	if err := gif.EncodeAll(&gifData, anim); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		ct   string
		data []byte
	}{
		"jpeg": {"image/jpeg", jpg.Bytes()},
		"gif":  {"image/gif", gifData.Bytes()},
		// A type the platform did not know: the bytes say it.
		"untyped png": {"", testPNG(t, 64, 64)},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			req := videoRequest("tsk_"+name, map[string]any{"prompt": name, "duration_seconds": 1, "aspect_ratio": "1:1"})
			req.Media = heldMedia(c.ct, c.data)
			checkVideo(t, run(t, p, req), 720, 720, 1)
		})
	}
}

func TestRendersTheImageOfAURL(t *testing.T) {
	data := testPNG(t, 300, 500)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write(data)
	}))
	defer srv.Close()
	p := setup(t, "", nil)
	res := run(t, p, videoRequest("tsk_url", map[string]any{"prompt": "tall", "image_url": srv.URL + "/a.png", "duration_seconds": 2, "aspect_ratio": "9:16"}))
	checkVideo(t, res, 720, 1280, 2)
	if res.Extra["still"] != SourceURL {
		t.Errorf("still %v", res.Extra["still"])
	}
}

func TestRendersAPromptAlone(t *testing.T) {
	p := setup(t, "", nil)
	cases := map[string]struct {
		ratio string
		secs  int
		w, h  int
	}{
		"landscape": {"16:9", 2, 1280, 720},
		"portrait":  {"9:16", 1, 720, 1280},
		"square":    {"1:1", 2, 720, 720},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			prompt := "a lighthouse at dusk, waves rolling in under a sky of violet clouds, gulls circling over the rocks and a long, long tail of words to cut"
			res := run(t, p, videoRequest("tsk_"+name, map[string]any{"prompt": prompt, "duration_seconds": c.secs, "aspect_ratio": c.ratio}))
			checkVideo(t, res, c.w, c.h, c.secs)
			if dir := os.Getenv("FFMPEG_TEST_OUT"); dir != "" {
				os.WriteFile(filepath.Join(dir, name+".jpg"), res.Files[1].Data, 0o600)
				os.WriteFile(filepath.Join(dir, name+".mp4"), res.Files[0].Data, 0o600)
			}
			if res.Extra["simulated_still"] != true || res.Extra["still"] != SourceDrawn {
				t.Errorf("extra %v, want a simulated still", res.Extra)
			}
		})
	}
}

func TestProgressIsFFmpegs(t *testing.T) {
	p := setup(t, "", map[string]any{"preset": "slow"})
	req := videoRequest("tsk_progress", map[string]any{"prompt": "counting", "duration_seconds": 5})
	resp, err := p.Start(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	var seen []float64
	for !resp.Done() {
		time.Sleep(50 * time.Millisecond)
		job := resp.Job
		if resp, err = p.Poll(context.Background(), req, job); err != nil {
			t.Fatal(err)
		}
		resp.Job = job
		if resp.Progress > 0 && resp.Progress < 1 {
			seen = append(seen, resp.Progress)
		}
	}
	if len(seen) == 0 {
		t.Fatal("no progress between 0 and 1 was reported")
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] < seen[i-1] {
			t.Fatalf("progress went back: %v", seen)
		}
	}
	t.Logf("%d polls saw progress from %.2f to %.2f", len(seen), seen[0], seen[len(seen)-1])
}

func TestTheDrawnStillIsTheSameForAPrompt(t *testing.T) {
	a, err := drawStill(320, 180, hashString("sea"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := drawStill(320, 180, hashString("sea"))
	c, _ := drawStill(320, 180, hashString("desert"))
	if !bytes.Equal(a, b) || bytes.Equal(a, c) {
		t.Errorf("a prompt's still must be the same every time, and differ from another prompt's")
	}
	if _, err := png.Decode(bytes.NewReader(a)); err != nil {
		t.Errorf("still does not decode: %v", err)
	}
}

type fakeMaker struct {
	data      []byte
	calls     int
	simulated bool
}

func (m *fakeMaker) MakeStill(_ context.Context, _ provider.Request, prompt string, w, h int) (Still, error) {
	m.calls++
	if prompt == "" || w < 1 || h < 1 {
		return Still{}, errors.New("bad call")
	}
	return Still{Data: m.data, ContentType: "image/png", Simulated: m.simulated}, nil
}

func TestAStillMakerMakesTheStill(t *testing.T) {
	p := setup(t, "", map[string]any{"caption": false})
	m := &fakeMaker{data: testPNG(t, 400, 400)}
	p.SetStillMaker(m)
	res := run(t, p, videoRequest("tsk_maker", map[string]any{"prompt": "made elsewhere", "duration_seconds": 1, "aspect_ratio": "1:1"}))
	checkVideo(t, res, 720, 720, 1)
	if m.calls != 1 || res.Extra["still"] != SourceMaker || res.Extra["simulated_still"] != false || res.Extra["caption"] != false {
		t.Errorf("maker calls %d, extra %v", m.calls, res.Extra)
	}
	m.simulated = true
	res = run(t, p, videoRequest("tsk_maker_sim", map[string]any{"prompt": "made by a simulator", "duration_seconds": 1, "aspect_ratio": "1:1"}))
	if res.Extra["still"] != SourceMaker || res.Extra["simulated_still"] != true {
		t.Errorf("a simulated still: extra %v", res.Extra)
	}
}

// pidOf waits for the job's ffmpeg to run and answers its pid.
func pidOf(t *testing.T, p *FFmpeg, handle, taskID string) int {
	t.Helper()
	id, err := decodeJob(handle, taskID)
	if err != nil {
		t.Fatal(err)
	}
	for range 200 {
		p.mu.Lock()
		j := p.jobs[id]
		p.mu.Unlock()
		if j != nil && j.pid.Load() != 0 {
			return int(j.pid.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("ffmpeg did not start")
	return 0
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func TestCancelKillsFFmpeg(t *testing.T) {
	p := setup(t, "", map[string]any{"preset": "veryslow"})
	req := videoRequest("tsk_cancel", map[string]any{"prompt": "long", "duration_seconds": 20})
	resp, err := p.Start(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	pid := pidOf(t, p, resp.Job, req.TaskID)
	if !alive(pid) {
		t.Fatal("ffmpeg is not running")
	}
	if err := p.Cancel(context.Background(), req, resp.Job); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if alive(pid) {
		t.Errorf("ffmpeg %d still runs after Cancel", pid)
	}
	if ents, _ := os.ReadDir(p.workDir); len(ents) != 0 {
		t.Errorf("work dir keeps %d entries after Cancel", len(ents))
	}
	// Again, or a job never run here: not an error.
	if err := p.Cancel(context.Background(), req, resp.Job); err != nil {
		t.Errorf("second Cancel: %v", err)
	}
	if err := p.Cancel(context.Background(), req, encodeJob(newJobID(), req.TaskID)); err != nil {
		t.Errorf("Cancel of an unknown job: %v", err)
	}
}

func TestANewInstanceFinishesAnAbandonedJob(t *testing.T) {
	dir := t.TempDir()
	p1 := setup(t, dir, map[string]any{"preset": "veryslow"})
	req := videoRequest("tsk_restart", map[string]any{"prompt": "survives a restart", "duration_seconds": 2, "aspect_ratio": "1:1"})
	resp, err := p1.Start(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	pid := pidOf(t, p1, resp.Job, req.TaskID)
	id, _ := decodeJob(resp.Job, req.TaskID)
	p1.abandon(id) // the server crashed: its ffmpeg is gone, the folder stays
	if alive(pid) {
		t.Fatalf("the abandoned ffmpeg %d still runs", pid)
	}
	if _, err := os.Stat(filepath.Join(dir, id)); err != nil {
		t.Fatalf("the job's folder is gone: %v", err)
	}
	p2 := setup(t, dir, nil)
	res := complete(t, p2, req, provider.Response{Job: resp.Job, PollAfter: time.Millisecond})
	checkVideo(t, res, 720, 720, 2)
}

func TestAnotherInstancePollsARunningJob(t *testing.T) {
	dir := t.TempDir()
	p1 := setup(t, dir, nil)
	p2 := setup(t, dir, nil)
	req := videoRequest("tsk_other", map[string]any{"prompt": "seen from elsewhere", "duration_seconds": 2})
	resp, err := p1.Start(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	res := complete(t, p2, req, provider.Response{Job: resp.Job, PollAfter: time.Millisecond})
	checkVideo(t, res, 1280, 720, 2)
	p2.mu.Lock()
	n := len(p2.jobs)
	p2.mu.Unlock()
	if n != 0 {
		t.Errorf("the second instance rendered again (%d jobs) instead of waiting for the first", n)
	}
}

func TestCancelFromAnotherInstanceStopsTheRender(t *testing.T) {
	dir := t.TempDir()
	p1 := setup(t, dir, map[string]any{"preset": "veryslow"})
	p2 := setup(t, dir, nil)
	req := videoRequest("tsk_cancel2", map[string]any{"prompt": "long", "duration_seconds": 20})
	resp, err := p1.Start(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	pid := pidOf(t, p1, resp.Job, req.TaskID)
	if err := p2.Cancel(context.Background(), req, resp.Job); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	for i := 0; alive(pid); i++ {
		if i == 100 {
			t.Fatalf("ffmpeg %d still runs 5 s after another instance canceled its job", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("work dir keeps %d entries", len(ents))
	}
}

func TestNewSweepsStaleJobs(t *testing.T) {
	dir := t.TempDir()
	stale, fresh := filepath.Join(dir, newJobID()), filepath.Join(dir, newJobID())
	other := filepath.Join(dir, "not-a-job")
	for _, d := range []string{stale, fresh, other} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-StaleAfter - time.Hour)
	os.Chtimes(stale, old, old)
	os.Chtimes(other, old, old)
	setup(t, dir, nil)
	for d, want := range map[string]bool{stale: false, fresh: true, other: true} {
		if _, err := os.Stat(d); (err == nil) != want {
			t.Errorf("%s kept %v, want %v", filepath.Base(d), err == nil, want)
		}
	}
}

func TestABadImageIsPermanent(t *testing.T) {
	p := setup(t, "", nil)
	random := make([]byte, 4096)
	for i := range random {
		random[i] = byte(i*7919 + i/13)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<html>not an image</html>")
	}))
	defer srv.Close()
	cases := map[string]struct {
		media *provider.Media
		url   string
		want  string
	}{
		"text as png":      {media: heldMedia("image/png", []byte("this is not an image at all")), want: "not an image"},
		"noise as png":     {media: heldMedia("image/png", random), want: "ffmpeg cannot read the input image: png: Invalid PNG signature"},
		"a cut png":        {media: heldMedia("image/png", testPNG(t, 640, 480)[:3000]), want: "ffmpeg cannot read the input image: png: "},
		"audio media":      {media: heldMedia("audio/wav", random), want: "not an image"},
		"a page at a URL":  {url: srv.URL + "/page", want: "input_data.image_url could not be fetched: the file is text/html, not image/"},
		"a refused URL":    {url: "http://169.254.169.254/latest/meta-data", want: "image_url"},
		"an absent server": {url: "http://127.0.0.1:1/a.png", want: "image_url"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			in := map[string]any{"prompt": "x", "duration_seconds": 1}
			if c.url != "" {
				in["image_url"] = c.url
			}
			req := videoRequest("tsk_bad", in)
			req.Media = c.media
			_, err := p.Start(context.Background(), req)
			if err == nil {
				t.Fatal("Start took a bad image")
			}
			t.Log(err)
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
			if strings.Contains(err.Error(), p.workDir) {
				t.Errorf("error %q shows the machine's paths", err)
			}
			if name == "an absent server" {
				if provider.KindOf(err) != provider.Transient {
					t.Errorf("kind %s, want transient for a connection failure", provider.KindOf(err))
				}
				return
			}
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Kind != provider.Permanent || !pe.RequestFault {
				t.Errorf("error %v, want a permanent fault of the request", err)
			}
		})
	}
	if ents, _ := os.ReadDir(p.workDir); len(ents) != 0 {
		t.Errorf("work dir keeps %d entries", len(ents))
	}
}

func TestRefusesWhatItCannotDo(t *testing.T) {
	p := setup(t, "", nil)
	ten, zero, long := 10, 0, 21
	cases := map[string]struct {
		in   task.VideoInput
		want []string
	}{
		"fine":           {in: task.VideoInput{Prompt: "x", DurationSeconds: &ten, AspectRatio: "9:16"}},
		"too short":      {in: task.VideoInput{Prompt: "x", DurationSeconds: &zero, AspectRatio: "1:1"}, want: []string{"input_data.duration_seconds"}},
		"too long, 4:3":  {in: task.VideoInput{Prompt: "x", DurationSeconds: &long, AspectRatio: "4:3"}, want: []string{"input_data.duration_seconds", "input_data.aspect_ratio"}},
		"defaults taken": {in: task.VideoInput{Prompt: "x"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			errs := p.CheckInput("input_data", &c.in)
			var got []string
			for _, e := range errs {
				got = append(got, e.Field)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("fields %v, want %v", got, c.want)
			}
		})
	}
	_, err := p.Start(context.Background(), videoRequest("tsk_long", map[string]any{"prompt": "x", "duration_seconds": 30}))
	if provider.KindOf(err) != provider.Permanent {
		t.Errorf("Start of 30 s: %v, want permanent", err)
	}
	req := provider.Request{TaskID: "t", Type: task.TypeImageGeneration, Input: json.RawMessage(`{"prompt":"x"}`)}
	if _, err := p.Start(context.Background(), req); provider.KindOf(err) != provider.Permanent {
		t.Errorf("Start of an image task: %v, want permanent", err)
	}
	if got := p.TaskTypes(); len(got) != 1 || got[0] != task.TypeVideoGeneration {
		t.Errorf("task types %v", got)
	}
}

func TestAHandleIsRefusedForAnotherTask(t *testing.T) {
	p := setup(t, "", nil)
	handle := encodeJob(newJobID(), "tsk_a")
	for _, h := range []string{handle, "garbage", `{"v":1,"id":"../../etc","task":"0"}`} {
		if _, err := p.Poll(context.Background(), videoRequest("tsk_b", map[string]any{"prompt": "x"}), h); provider.KindOf(err) != provider.Permanent {
			t.Errorf("Poll(%s) of another task: %v, want permanent", h, err)
		}
	}
}

// fakeFFmpeg is a stand-in for ffmpeg that ends as script says.
func fakeFFmpeg(t *testing.T, script string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ffmpeg")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+script+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestHowARenderEnds(t *testing.T) {
	cases := map[string]struct {
		script string
		kind   provider.Kind
		want   string
	}{
		"fails": {script: `echo "[libx264 @ 0x55aa01] first" >&2; echo "[libx264 @ 0x55aa01] cannot encode $PWD/still.png" >&2; exit 1`,
			kind: provider.Permanent, want: "ffmpeg failed (exit status 1): libx264: first; libx264: cannot encode still.png"},
		"is killed":      {script: `kill -9 $$`, kind: provider.Transient, want: "ffmpeg was killed: signal: killed"},
		"writes no file": {script: `exit 0`, kind: provider.Transient, want: "ffmpeg wrote no video"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			p := setup(t, "", map[string]any{"ffmpeg_path": fakeFFmpeg(t, c.script)})
			req := videoRequest("tsk_end", map[string]any{"prompt": "x", "duration_seconds": 1})
			resp, err := p.Start(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			job := resp.Job
			for range 200 {
				time.Sleep(20 * time.Millisecond)
				if resp, err = p.Poll(context.Background(), req, job); err != nil || resp.Done() {
					break
				}
			}
			if provider.KindOf(err) != c.kind || err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %s saying %q", err, c.kind, c.want)
			}
			if err != nil && strings.Contains(err.Error(), p.workDir) {
				t.Errorf("error %q shows the machine's paths", err)
			}
		})
	}
}

func TestARenderOverItsTimeoutIsTransient(t *testing.T) {
	p := setup(t, "", map[string]any{"preset": "veryslow", "timeout_seconds": 1})
	req := videoRequest("tsk_timeout", map[string]any{"prompt": "slow", "duration_seconds": 20})
	resp, err := p.Start(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	job := resp.Job
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		resp, err = p.Poll(context.Background(), req, job)
		if err != nil || resp.Done() {
			break
		}
	}
	if provider.KindOf(err) != provider.Transient || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want transient wrapping context.DeadlineExceeded", err)
	}
}

func TestOptions(t *testing.T) {
	needFFmpeg(t)
	cases := map[string]struct {
		opts  string
		field string
	}{
		"unknown":         {`{"speed": 2}`, "speed"},
		"no ffmpeg":       {`{"ffmpeg_path": "/nonexistent/ffmpeg"}`, "ffmpeg_path"},
		"no ffprobe":      {`{"ffprobe_path": "/nonexistent/ffprobe"}`, "ffprobe_path"},
		"no font":         {`{"font_path": "/nonexistent/font.ttf"}`, "font_path"},
		"a preset":        {`{"preset": "warp"}`, "preset"},
		"jobs":            {`{"max_jobs": 0}`, "max_jobs"},
		"timeout":         {`{"timeout_seconds": -1}`, "timeout_seconds"},
		"a wrong type":    {`{"caption": "yes"}`, "caption"},
		"image bytes cap": {`{"max_image_bytes": 0}`, "max_image_bytes"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := New(config.Provider{Name: "f", Type: Type, Options: json.RawMessage(c.opts)})
			var oe *provider.OptionError
			if !errors.As(err, &oe) || oe.Field != c.field {
				t.Errorf("New: %v, want an option error on %s", err, c.field)
			}
		})
	}
	if err := Available(config.Provider{Name: "f", Type: Type}); err != nil {
		t.Errorf("Available: %v", err)
	}
	var oe *provider.OptionError
	if err := Available(config.Provider{Name: "f", Type: Type, Options: json.RawMessage(`{"ffmpeg_path":"no-such-ffmpeg"}`)}); !errors.As(err, &oe) || oe.Field != "ffmpeg_path" {
		t.Errorf("Available without the program: %v", err)
	}
	p, err := New(config.Provider{Name: "a/b", Type: Type})
	if err != nil {
		t.Fatal(err)
	}
	if dir := p.(*FFmpeg).workDir; dir != filepath.Join(os.TempDir(), "mediatasks-a_b") {
		t.Errorf("default work dir %s", dir)
	}
}

func TestWrapCaption(t *testing.T) {
	cases := map[string]struct {
		prompt string
		width  int
		want   string
	}{
		"blank":      {" \n\t", 20, ""},
		"one line":   {"a red fox", 20, "a red fox"},
		"wrapped":    {"the quick brown fox jumps over the lazy dog", 16, "the quick brown\nfox jumps over\nthe lazy dog"},
		"cut":        {"one two three four five six seven eight nine ten", 9, "one two\nthree\nfour…"},
		"long word":  {"supercalifragilistic", 8, "superca…"},
		"controls":   {"a\x00b\x1bc d", 20, "a b c d"},
		"expansions": {"100% %{pts} done", 40, "100% %{pts} done"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if got := wrapCaption(c.prompt, c.width); got != c.want {
				t.Errorf("wrapCaption(%q, %d) = %q, want %q", c.prompt, c.width, got, c.want)
			}
		})
	}
}

// BenchmarkRender renders a 5 s 1280x720 clip from a prompt.
func BenchmarkRender(b *testing.B) {
	p := setup(b, "", nil)
	req := videoRequest("tsk_bench", map[string]any{"prompt": "a benchmark at dusk", "duration_seconds": 5, "aspect_ratio": "16:9"})
	var ffmpegSecs float64
	for b.Loop() {
		res := run(b, p, req)
		ffmpegSecs += res.Extra["render_seconds"].(float64)
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/clip")
	b.ReportMetric(ffmpegSecs/float64(b.N), "ffmpeg-s/clip")
}
