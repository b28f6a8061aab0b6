// Package pocketsphinx is a local, offline transcription provider: CMU
// PocketSphinx's recogniser (pocketsphinx_continuous, Debian's
// pocketsphinx and pocketsphinx-en-us packages) run on the task's audio
// after ffmpeg has converted it, whatever its format, to 16 kHz mono
// 16-bit PCM WAV. It serves audio_transcription and subtitle_generation
// (the same work: the platform makes the subtitles from the transcript's
// timed words), answers in the one transcript shape (words timed with a
// confidence, one segment per utterance, language "en"), and costs
// nothing (Cost{USD: 0, PriceVersion: "local"}).
//
// A job runs in the background in its own work folder
// (<work_dir>/<job id>): the recogniser writes its words there as it goes
// (Poll's progress is the end of the last word heard over the audio's
// duration), and the result is left there until a Poll takes it. Any
// instance sharing the work folder can poll a job; one that finds neither
// a running job nor its result (the platform restarted) runs it again
// from the request. Cancel kills the processes of the job (their process
// group) and removes its folder.
//
// It takes no prompt: input_data.prompt (vocabulary hints) is not used.
// It refuses a language other than English (input_data.language other
// than "en" or "en-*", e.g. "en-US", "en-GB"), input media over
// max_input_bytes, and media ffmpeg cannot read (a permanent error with
// ffmpeg's own last lines). The recogniser's accuracy is modest (its
// generic en-us model): good enough for rough subtitles of clear speech.
//
// In the configuration:
//
//	providers:
//	  - name: pocketsphinx
//	    type: pocketsphinx
//	    task_types: [audio_transcription, subtitle_generation]
//	    options:
//	      pocketsphinx_path: /usr/bin/pocketsphinx_continuous # default: looked up in PATH
//	      ffmpeg_path: /usr/bin/ffmpeg                        # default: looked up in PATH
//	      work_dir: /var/lib/mediatasks/pocketsphinx           # default: $TMPDIR/mediatasks-<name>
//	      max_jobs: 1          # recognisers at once (default: one per two cores)
//	      timeout: 30m         # the longest one job may run (default 30m)
//	      max_input_bytes: 268435456
//	      allow_private: false # input URLs on private addresses (local development only)
//	      # hmm, lm, dict: another acoustic model, language model and dictionary
package pocketsphinx

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/prompt"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/httpapi"
	"github.com/videoai/mediatasks/shared/task"
)

// Type is the provider type name in the configuration.
const Type = "pocketsphinx"

// Defaults of the options.
const (
	DefaultRecognizer    = "pocketsphinx_continuous"
	DefaultFFmpeg        = "ffmpeg"
	DefaultTimeout       = 30 * time.Minute
	DefaultMaxInputBytes = 256 << 20
	// PollAfter is how long a pending job asks the platform to wait.
	PollAfter = 500 * time.Millisecond
)

// Language is the only language the recogniser's model knows.
const Language = "en"

// PriceVersion names the price of local work: nothing.
const PriceVersion = "local"

// options are the settings of a pocketsphinx provider, as configured.
type options struct {
	PocketsphinxPath string   `json:"pocketsphinx_path"`
	FFmpegPath       string   `json:"ffmpeg_path"`
	WorkDir          string   `json:"work_dir"`
	MaxJobs          *int     `json:"max_jobs"`
	Timeout          Duration `json:"timeout"`
	MaxInputBytes    *int64   `json:"max_input_bytes"`
	AllowPrivate     bool     `json:"allow_private"`
	HMM              string   `json:"hmm"`
	LM               string   `json:"lm"`
	Dict             string   `json:"dict"`
}

// Provider is a configured pocketsphinx provider.
type Provider struct {
	name      string
	recog     string // the recogniser's path
	ffmpeg    string
	modelArgs []string // -hmm, -lm, -dict when configured
	workDir   string
	timeout   time.Duration
	maxBytes  int64
	fetcher   *httpapi.Fetcher
	slots     chan struct{} // one per process allowed at once

	mu   sync.Mutex
	jobs map[string]*run // the jobs this instance runs, by id
}

var (
	_ provider.Provider      = (*Provider)(nil)
	_ provider.Checker       = (*Provider)(nil)
	_ provider.PromptLimiter = (*Provider)(nil)
)

// New builds a pocketsphinx provider from its configuration; it is the
// registry's Factory for Type. A bad option, or a binary that cannot be
// found (pocketsphinx_path, ffmpeg_path), is a *provider.OptionError
// naming it, so the platform can fall back and say what is missing.
func New(cfg config.Provider) (provider.Provider, error) {
	p, err := build(cfg)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Available reports whether the binaries cfg names (or the defaults, in
// PATH) are present: nil when New would find them, else the
// *provider.OptionError New would give.
func Available(cfg config.Provider) error {
	var o options
	if err := provider.DecodeOptions(cfg.Options, &o); err != nil {
		return fmt.Errorf("pocketsphinx provider %s: %w", cfg.Name, err)
	}
	var errs []error
	if _, err := findBinary("pocketsphinx_path", o.PocketsphinxPath, DefaultRecognizer, "pocketsphinx"); err != nil {
		errs = append(errs, err)
	}
	if _, err := findBinary("ffmpeg_path", o.FFmpegPath, DefaultFFmpeg, "ffmpeg"); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("pocketsphinx provider %s: %w", cfg.Name, errors.Join(errs...))
	}
	return nil
}

func build(cfg config.Provider) (*Provider, error) {
	var o options
	if err := provider.DecodeOptions(cfg.Options, &o); err != nil {
		return nil, fmt.Errorf("pocketsphinx provider %s: %w", cfg.Name, err)
	}
	p := &Provider{name: cfg.Name, timeout: DefaultTimeout, maxBytes: DefaultMaxInputBytes, jobs: map[string]*run{}}
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &provider.OptionError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	var err error
	if p.recog, err = findBinary("pocketsphinx_path", o.PocketsphinxPath, DefaultRecognizer, "pocketsphinx"); err != nil {
		errs = append(errs, err)
	}
	if p.ffmpeg, err = findBinary("ffmpeg_path", o.FFmpegPath, DefaultFFmpeg, "ffmpeg"); err != nil {
		errs = append(errs, err)
	}
	for _, m := range []struct{ field, flag, path string }{{"hmm", "-hmm", o.HMM}, {"lm", "-lm", o.LM}, {"dict", "-dict", o.Dict}} {
		if m.path == "" {
			continue
		}
		if _, err := os.Stat(m.path); err != nil {
			bad(m.field, "%s cannot be read: %v", m.path, errors.Unwrap(err))
			continue
		}
		p.modelArgs = append(p.modelArgs, m.flag, m.path)
	}
	jobs := max(1, runtime.NumCPU()/2)
	if o.MaxJobs != nil {
		if *o.MaxJobs < 1 || *o.MaxJobs > 256 {
			bad("max_jobs", "must be between 1 and 256, not %d", *o.MaxJobs)
		}
		jobs = *o.MaxJobs
	}
	p.slots = make(chan struct{}, max(jobs, 1))
	if o.Timeout.Set {
		if o.Timeout.D < time.Second || o.Timeout.D > 24*time.Hour {
			bad("timeout", "must be between 1s and 24h, not %s", o.Timeout.D)
		}
		p.timeout = o.Timeout.D
	}
	if o.MaxInputBytes != nil {
		if *o.MaxInputBytes < 1 {
			bad("max_input_bytes", "must be positive, not %d", *o.MaxInputBytes)
		}
		p.maxBytes = *o.MaxInputBytes
	}
	p.workDir = o.WorkDir
	if p.workDir == "" {
		p.workDir = filepath.Join(os.TempDir(), "mediatasks-"+safeName(cfg.Name))
	}
	if len(errs) == 0 {
		if err := os.MkdirAll(p.workDir, 0o700); err != nil {
			bad("work_dir", "cannot be made: %v", errors.Unwrap(err))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("pocketsphinx provider %s: %w", cfg.Name, errors.Join(errs...))
	}
	p.fetcher = httpapi.NewFetcher(httpapi.Settings{Timeout: 2 * time.Minute, MaxOutputBytes: p.maxBytes, AllowPrivate: o.AllowPrivate})
	p.sweep(staleAfter)
	return p, nil
}

// findBinary finds an executable: the configured path, or def in PATH. pkg
// names the Debian package to install when it is missing.
func findBinary(field, configured, def, pkg string) (string, error) {
	name := configured
	if name == "" {
		name = def
	}
	path, err := exec.LookPath(name)
	if err != nil {
		msg := fmt.Sprintf("%s is not found (install the %s package, or set %s)", name, pkg, field)
		if configured != "" {
			msg = fmt.Sprintf("%s is not an executable file (install the %s package, or fix %s)", configured, pkg, field)
		}
		return "", &provider.OptionError{Field: field, Message: msg}
	}
	return path, nil
}

// safeName keeps the letters, digits, '-', '_' and '.' of a provider
// name, for a folder name.
func safeName(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
	if s == "" || s == "." || s == ".." {
		return Type
	}
	return s
}

// Name is the configured name.
func (p *Provider) Name() string { return p.name }

// TaskTypes are transcription and subtitles.
func (p *Provider) TaskTypes() []task.Type {
	return []task.Type{task.TypeAudioTranscription, task.TypeSubtitleGeneration}
}

// PromptLimits: the recogniser takes no prompt (input_data.prompt, the
// vocabulary hints, is not used) and no negative prompt.
func (p *Provider) PromptLimits(task.Type) prompt.Limits { return prompt.Limits{} }

// CheckInput refuses a language other than English.
func (p *Provider) CheckInput(prefix string, in task.Input) task.FieldErrors {
	var lang string
	switch in := in.(type) {
	case *task.TranscriptionInput:
		lang = in.Language
	case *task.SubtitleInput:
		lang = in.Language
	default:
		return nil
	}
	if english(lang) {
		return nil
	}
	return task.FieldErrors{{Field: task.FieldPath(prefix, "language"),
		Message: fmt.Sprintf("this provider transcribes English only (\"en\", \"en-US\", \"en-GB\"), not %q", lang)}}
}

// english reports a language tag of English, or none (English is assumed).
func english(tag string) bool {
	primary, _, _ := strings.Cut(tag, "-")
	return tag == "" || strings.EqualFold(primary, "en")
}
