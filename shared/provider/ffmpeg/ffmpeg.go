// Package ffmpeg is the local video provider: it renders a
// video_generation task on this machine with the ffmpeg program, as real
// motion over a still (a slow zoom and pan, zoompan), with the prompt as a
// caption (drawtext, in DejaVu Sans from fonts-dejavu-core, when the font
// is there), encoded as H.264 MP4 (libx264, yuv420p, +faststart) of the
// asked duration_seconds and aspect_ratio (16:9 is 1280x720, 9:16 is
// 720x1280, 1:1 is 720x720), with a JPEG poster of the middle frame as a
// second output file.
//
// The still is the task's image: its media when the platform hands one
// (content type image/*), else input_data.image_url, fetched through the
// SSRF guard (image/* only, at most max_image_bytes). A prompt without an
// image starts from a still drawn from the prompt (a deterministic
// gradient, as the sim's images), and the result says
// "simulated_still": true; SetStillMaker hands it another source (an
// image provider) instead.
//
// A render is a long job: Start fetches and checks the still, starts
// ffmpeg in the background and answers a job handle; Poll reports
// ffmpeg's own progress (-progress pipe:1, out_time against the
// duration) and, once done, the files. A job's files live in its own
// folder under work_dir, so another instance on the same machine can
// poll the handle, and an instance that finds neither a process nor a
// result (a restart) renders again from the request. Cancel kills ffmpeg
// (its process group) and removes the folder. The work costs nothing:
// Result.Cost is {USD: 0, PriceVersion: "local"}.
//
// It refuses a duration outside 1 to 20 seconds, an aspect ratio other
// than 16:9, 9:16 and 1:1, an image_url that is not an image or that the
// guard refuses, and an image ffmpeg cannot read (a permanent fault of
// the request, with ffmpeg's last lines). A render that ffmpeg fails is
// permanent, one killed by a signal transient, one over timeout_seconds
// transient (wrapping context.DeadlineExceeded).
//
// In the configuration (every option may be left out):
//
//	providers:
//	  - name: ffmpeg
//	    type: ffmpeg
//	    task_types: [video_generation]
//	    options:
//	      ffmpeg_path: /usr/bin/ffmpeg     # default: ffmpeg in PATH
//	      ffprobe_path: /usr/bin/ffprobe   # default: ffprobe in PATH
//	      font_path: /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf   # default, when present
//	      caption: true                    # draw the prompt over the video
//	      work_dir: /var/tmp/mediatasks-ffmpeg   # default: <os temp dir>/mediatasks-<name>
//	      max_jobs: 1                      # renders at once (default: a core in two)
//	      timeout_seconds: 600             # one render's limit
//	      preset: veryfast                 # libx264's preset
//	      max_image_bytes: 26214400        # the largest input image
//	      poll_after_ms: 500               # the PollAfter of a running job
//	      allow_private: false             # image URLs on private addresses (local development)
package ffmpeg

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/prompt"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/httpapi"
	"github.com/videoai/mediatasks/shared/task"
)

// Type is the provider type name in the configuration.
const Type = "ffmpeg"

// DefaultFont is the font of the captions, from Debian's fonts-dejavu-core.
const DefaultFont = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

// Defaults and bounds of the options.
const (
	DefaultTimeout       = 10 * time.Minute
	DefaultPreset        = "veryfast"
	DefaultMaxImageBytes = 25 << 20
	DefaultPollAfter     = 500 * time.Millisecond
	maxTimeoutSeconds    = 24 * 60 * 60
	maxJobsBound         = 64
	maxImageBytesBound   = 1 << 30
)

// The clip's frame rate, and the durations the API takes.
const (
	FPS         = 25
	MinDuration = 1
	MaxDuration = 20
)

// Sizes are the frame sizes of the aspect ratios served.
var Sizes = map[string][2]int{
	"16:9": {1280, 720},
	"9:16": {720, 1280},
	"1:1":  {720, 720},
}

// presets are libx264's.
var presets = []string{"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"}

// options are the settings of an ffmpeg provider, as configured.
type options struct {
	FFmpegPath     *string `json:"ffmpeg_path"`
	FFprobePath    *string `json:"ffprobe_path"`
	FontPath       *string `json:"font_path"`
	Caption        *bool   `json:"caption"`
	WorkDir        *string `json:"work_dir"`
	MaxJobs        *int64  `json:"max_jobs"`
	TimeoutSeconds *int64  `json:"timeout_seconds"`
	Preset         *string `json:"preset"`
	MaxImageBytes  *int64  `json:"max_image_bytes"`
	AllowPrivate   *bool   `json:"allow_private"`
	PollAfterMs    *int64  `json:"poll_after_ms"`
}

// StillMaker makes the still a video without an image starts from (an
// image provider's picture of the prompt). width and height are the
// clip's; the still is scaled and cropped to fill them.
type StillMaker interface {
	MakeStill(ctx context.Context, req provider.Request, prompt string, width, height int) (Still, error)
}

// Still is a StillMaker's picture.
type Still struct {
	Data        []byte
	ContentType string
	// Simulated: the picture is invented (a simulated image provider's),
	// and the video says so.
	Simulated bool
}

// FFmpeg is a provider rendering videos with the ffmpeg program.
type FFmpeg struct {
	name      string
	ffmpeg    string
	ffprobe   string
	font      string // "" draws no caption
	workDir   string
	timeout   time.Duration
	preset    string
	maxImage  int64
	pollAfter time.Duration
	fetcher   *httpapi.Fetcher
	slots     chan struct{} // one per render at once
	stills    atomic.Pointer[stillMakerBox]

	mu   sync.Mutex
	jobs map[string]*job // by job id: the renders of this instance
}

type stillMakerBox struct{ m StillMaker }

var (
	_ provider.Provider      = (*FFmpeg)(nil)
	_ provider.Checker       = (*FFmpeg)(nil)
	_ provider.PromptLimiter = (*FFmpeg)(nil)
)

// New builds an ffmpeg provider from its configuration; it is the
// registry's Factory for Type. A bad option, or a program that is not
// there, is a *provider.OptionError naming the option.
func New(cfg config.Provider) (provider.Provider, error) {
	p, err := build(cfg)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Available tells whether the programs cfg names (or ffmpeg and ffprobe
// in PATH) are there: nil, or a *provider.OptionError naming the option
// of the missing one (ffmpeg and ffprobe are in Debian's ffmpeg package).
func Available(cfg config.Provider) error {
	var o options
	if err := provider.DecodeOptions(cfg.Options, &o); err != nil {
		return fmt.Errorf("ffmpeg provider %s: %w", cfg.Name, err)
	}
	var errs []error
	if _, err := lookBinary("ffmpeg_path", o.FFmpegPath, "ffmpeg"); err != nil {
		errs = append(errs, err)
	}
	if _, err := lookBinary("ffprobe_path", o.FFprobePath, "ffprobe"); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("ffmpeg provider %s: %w", cfg.Name, errors.Join(errs...))
	}
	return nil
}

func lookBinary(field string, set *string, name string) (string, error) {
	if set != nil {
		name = *set
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return "", &provider.OptionError{Field: field, Message: fmt.Sprintf("%s is not an executable program here (install Debian's ffmpeg package, or name it): %v", name, err)}
	}
	return path, nil
}

func build(cfg config.Provider) (*FFmpeg, error) {
	var o options
	if err := provider.DecodeOptions(cfg.Options, &o); err != nil {
		return nil, fmt.Errorf("ffmpeg provider %s: %w", cfg.Name, err)
	}
	p := &FFmpeg{
		name: cfg.Name, timeout: DefaultTimeout, preset: DefaultPreset, maxImage: DefaultMaxImageBytes,
		pollAfter: DefaultPollAfter, jobs: map[string]*job{},
	}
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &provider.OptionError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	var err error
	if p.ffmpeg, err = lookBinary("ffmpeg_path", o.FFmpegPath, "ffmpeg"); err != nil {
		errs = append(errs, err)
	}
	if p.ffprobe, err = lookBinary("ffprobe_path", o.FFprobePath, "ffprobe"); err != nil {
		errs = append(errs, err)
	}
	switch {
	case o.Caption != nil && !*o.Caption:
	case o.FontPath != nil && *o.FontPath != "":
		if st, err := os.Stat(*o.FontPath); err != nil || !st.Mode().IsRegular() {
			bad("font_path", "%s is not a font file here", *o.FontPath)
		}
		p.font = *o.FontPath
	default:
		if st, err := os.Stat(DefaultFont); err == nil && st.Mode().IsRegular() {
			p.font = DefaultFont // else no caption: fonts-dejavu-core is not installed
		}
	}
	jobs := max(1, runtime.NumCPU()/2)
	if v := o.MaxJobs; v != nil {
		if *v < 1 || *v > maxJobsBound {
			bad("max_jobs", "must be between 1 and %d, not %d", maxJobsBound, *v)
		}
		jobs = int(min(max(*v, 1), maxJobsBound))
	}
	p.slots = make(chan struct{}, jobs)
	if v := o.TimeoutSeconds; v != nil {
		if *v < 1 || *v > maxTimeoutSeconds {
			bad("timeout_seconds", "must be between 1 and %d, not %d", maxTimeoutSeconds, *v)
		}
		p.timeout = time.Duration(*v) * time.Second
	}
	if v := o.Preset; v != nil {
		if !slices.Contains(presets, *v) {
			bad("preset", "must be one of libx264's presets (%v), not %q", presets, *v)
		}
		p.preset = *v
	}
	if v := o.MaxImageBytes; v != nil {
		if *v < 1 || *v > maxImageBytesBound {
			bad("max_image_bytes", "must be between 1 and %d, not %d", maxImageBytesBound, *v)
		}
		p.maxImage = *v
	}
	if v := o.PollAfterMs; v != nil {
		if *v < 0 || *v > 60_000 {
			bad("poll_after_ms", "must be between 0 and 60000, not %d", *v)
		}
		p.pollAfter = time.Duration(*v) * time.Millisecond
	}
	p.workDir = filepath.Join(os.TempDir(), "mediatasks-"+safeName(cfg.Name))
	if o.WorkDir != nil && *o.WorkDir != "" {
		p.workDir = *o.WorkDir
	}
	if err := os.MkdirAll(p.workDir, 0o700); err != nil {
		bad("work_dir", "cannot be made: %v", err)
	}
	p.sweep(time.Now().Add(-StaleAfter))
	p.fetcher = httpapi.NewFetcher(httpapi.Settings{Timeout: 2 * time.Minute, MaxOutputBytes: p.maxImage, AllowPrivate: o.AllowPrivate != nil && *o.AllowPrivate})
	if len(errs) > 0 {
		return nil, fmt.Errorf("ffmpeg provider %s: %w", cfg.Name, errors.Join(errs...))
	}
	return p, nil
}

// safeName keeps a provider name fit for a folder's name.
func safeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	if len(b) == 0 || string(b) == "." || string(b) == ".." {
		return "ffmpeg"
	}
	return string(b)
}

// SetStillMaker makes the stills of videos without an image with m (nil:
// the drawn still again). It may be called at any time.
func (p *FFmpeg) SetStillMaker(m StillMaker) {
	if m == nil {
		p.stills.Store(nil)
		return
	}
	p.stills.Store(&stillMakerBox{m})
}

// Name is the configured name.
func (p *FFmpeg) Name() string { return p.name }

// TaskTypes is video_generation.
func (p *FFmpeg) TaskTypes() []task.Type { return []task.Type{task.TypeVideoGeneration} }

// PromptLimits: the prompt is only a caption, cut to three lines; any
// length is taken, and there is no negative prompt nor expansion.
func (p *FFmpeg) PromptLimits(task.Type) prompt.Limits { return prompt.Limits{} }

// CheckInput names the fields of a video input this provider cannot do.
func (p *FFmpeg) CheckInput(prefix string, in task.Input) task.FieldErrors {
	v, ok := in.(*task.VideoInput)
	if !ok {
		return nil
	}
	var errs task.FieldErrors
	if v.DurationSeconds != nil && (*v.DurationSeconds < MinDuration || *v.DurationSeconds > MaxDuration) {
		errs = append(errs, task.FieldError{Field: task.FieldPath(prefix, "duration_seconds"), Message: fmt.Sprintf("must be from %d to %d seconds with this provider", MinDuration, MaxDuration)})
	}
	if _, ok := Sizes[v.AspectRatio]; v.AspectRatio != "" && !ok {
		errs = append(errs, task.FieldError{Field: task.FieldPath(prefix, "aspect_ratio"), Message: "must be 16:9, 9:16 or 1:1 with this provider"})
	}
	return errs
}

// spec is what one render makes, from the task's input.
type spec struct {
	in            *task.VideoInput
	width, height int
	frames        int
}

func (s spec) seconds() float64 { return float64(s.frames) / FPS }

func decodeSpec(req provider.Request) (spec, error) {
	if req.Type != task.TypeVideoGeneration {
		return spec{}, provider.NewRejected("unsupported_task_type", fmt.Sprintf("the ffmpeg provider makes videos, not %q", req.Type), nil)
	}
	raw, err := task.DecodeInput(req.Type, req.Input)
	if err != nil {
		return spec{}, provider.NewRejected("invalid_input", "the task's input is not the expected JSON: "+err.Error(), err)
	}
	in := raw.(*task.VideoInput)
	if errs := (&FFmpeg{}).CheckInput("input_data", in); len(errs) > 0 {
		return spec{}, provider.NewRejected("invalid_input", errs.Error(), errs)
	}
	size := Sizes[in.AspectRatio]
	return spec{in: in, width: size[0], height: size[1], frames: *in.DurationSeconds * FPS}, nil
}

// Start checks the input and the still and begins the render.
func (p *FFmpeg) Start(ctx context.Context, req provider.Request) (provider.Response, error) {
	s, err := decodeSpec(req)
	if err != nil {
		return provider.Response{}, p.wrap(req, "start", err)
	}
	id := newJobID()
	if err := p.begin(ctx, req, s, id); err != nil {
		return provider.Response{}, p.wrap(req, "start", err)
	}
	return provider.Response{Job: encodeJob(id, req.TaskID), PollAfter: p.pollAfter}, nil
}

// Poll reports the render's progress, or its result once done. A job no
// instance runs nor has finished (the platform restarted) is rendered
// again from the request.
func (p *FFmpeg) Poll(ctx context.Context, req provider.Request, handle string) (provider.Response, error) {
	id, err := decodeJob(handle, req.TaskID)
	if err != nil {
		return provider.Response{}, p.wrap(req, "poll", err)
	}
	s, err := decodeSpec(req)
	if err != nil {
		return provider.Response{}, p.wrap(req, "poll", err)
	}
	resp, err := p.poll(ctx, req, s, id)
	if err != nil {
		return provider.Response{}, p.wrap(req, "poll", err)
	}
	return resp, nil
}

// Cancel kills the job's ffmpeg and removes its files; a job that has
// ended, or that this machine never ran, is not an error.
func (p *FFmpeg) Cancel(ctx context.Context, req provider.Request, handle string) error {
	id, err := decodeJob(handle, req.TaskID)
	if err != nil {
		return p.wrap(req, "cancel", err)
	}
	p.cancel(ctx, id)
	return nil
}

func (p *FFmpeg) wrap(req provider.Request, op string, err error) error {
	return fmt.Errorf("ffmpeg %s: %s task %s: %w", p.name, op, req.TaskID, err)
}

// extra is the result's type-specific fields.
func (s spec) extra(r rendered) map[string]any {
	return map[string]any{
		"duration_seconds": *s.in.DurationSeconds, "aspect_ratio": s.in.AspectRatio,
		"width": s.width, "height": s.height, "fps": FPS, "frames": s.frames, "codec": "h264",
		"still": r.Still, "simulated_still": r.Still == SourceDrawn || r.SimulatedStill,
		"caption": r.Caption, "render_seconds": r.Seconds,
	}
}
