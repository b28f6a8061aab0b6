// Package llm rewrites a task's prompt with a large language model: the
// step the `auto` prompt-optimisation mode takes after its rules. One
// Rewriter speaks one wire format, OpenAI Chat Completions (also served by
// Ollama, vLLM and LocalAI at their base URL) or Anthropic Messages, with a
// system prompt per task type, a timeout per attempt, and retries of
// transient failures with backoff.
//
// The API key is read from the environment once, at New. It goes into the
// request headers and nowhere else: not into errors, log lines or the
// Fingerprint, and a provider message that echoes it is redacted.
package llm

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/videoai/mediatasks/shared/task"
)

// The wire formats a Config may name.
const (
	TypeOpenAI    = "openai"
	TypeAnthropic = "anthropic"
)

// Defaults of the settings left zero.
const (
	DefaultOpenAIBaseURL    = "https://api.openai.com/v1"
	DefaultAnthropicBaseURL = "https://api.anthropic.com/v1"
	DefaultTimeout          = 20 * time.Second
	DefaultMaxRetries       = 2
	DefaultMaxTokens        = 1024
)

// Bounds of the settings, and of the wait a provider may ask for.
const (
	MaxTimeout    = 5 * time.Minute
	MaxMaxRetries = 10
	MaxRetryAfter = 30 * time.Second // a provider's Retry-After is capped at this
)

// The backoff between attempts when the provider does not say.
const (
	backoffBase = 500 * time.Millisecond // the first retry waits up to this
	backoffCap  = 8 * time.Second        // no backoff ceiling grows past this
)

// Config is the rewriter's part of the operator's configuration
// (`prompt.llm`).
type Config struct {
	Type      string // "openai" or "anthropic"
	BaseURL   string // default DefaultOpenAIBaseURL or DefaultAnthropicBaseURL; no user, query or fragment
	APIKeyEnv string // the environment variable holding the API key; required for anthropic, optional for openai (local servers)
	Model     string
	// SystemPrompts replace the built-in system prompt of a task type
	// (keys: "image_generation", "video_generation", "audio_transcription",
	// "subtitle_generation"). A replacement is sent as written; a plain
	// text answer to it is taken as the prompt.
	SystemPrompts map[string]string
	Timeout       time.Duration // of one attempt (default 20 s)
	MaxRetries    int           // retries after the first attempt (0: default 2; -1: none)
	Temperature   float64       // sent as is; 0 (the default) keeps rewrites, and so the cache, stable
	MaxTokens     int           // of the answer (default 1024)
}

// FieldError is a bad setting, named by its path in the configuration
// file, such as `prompt.llm.base_url`.
type FieldError struct {
	Path    string
	Message string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Message }

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Validate checks the settings without reading the environment. Its error
// joins a *FieldError for each bad field.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Path: "prompt.llm." + field, Message: fmt.Sprintf(format, args...)})
	}
	maxTemperature := 2.0
	switch c.Type {
	case TypeOpenAI:
	case TypeAnthropic:
		maxTemperature = 1
		if c.APIKeyEnv == "" {
			bad("api_key_env", "required for anthropic")
		}
	case "":
		bad("type", "required: %q or %q", TypeOpenAI, TypeAnthropic)
	default:
		bad("type", "must be %q or %q, not %q", TypeOpenAI, TypeAnthropic, c.Type)
	}
	if c.BaseURL != "" {
		if msg := checkBaseURL(c.BaseURL); msg != "" {
			bad("base_url", "%s", msg)
		}
	}
	if c.APIKeyEnv != "" && !envName.MatchString(c.APIKeyEnv) {
		bad("api_key_env", "must be the name of an environment variable (letters, digits, _), not %q", c.APIKeyEnv)
	}
	if strings.TrimSpace(c.Model) == "" {
		bad("model", "required")
	}
	for _, k := range slices.Sorted(maps.Keys(c.SystemPrompts)) {
		if !task.Type(k).Valid() {
			bad("system_prompts."+k, "unknown task type; one of %s", taskTypeList())
		} else if strings.TrimSpace(c.SystemPrompts[k]) == "" {
			bad("system_prompts."+k, "must not be empty")
		}
	}
	if c.Timeout < 0 || c.Timeout > MaxTimeout {
		bad("timeout", "must be between 0 (default %s) and %s", DefaultTimeout, MaxTimeout)
	}
	if c.MaxRetries < -1 || c.MaxRetries > MaxMaxRetries {
		bad("max_retries", "must be between -1 (none) and %d", MaxMaxRetries)
	}
	if c.Temperature < 0 || c.Temperature > maxTemperature {
		bad("temperature", "must be between 0 and %g", maxTemperature)
	}
	if c.MaxTokens < 0 {
		bad("max_tokens", "must not be negative (0: default %d)", DefaultMaxTokens)
	}
	return errors.Join(errs...)
}

func checkBaseURL(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "not a URL"
	case u.Scheme != "http" && u.Scheme != "https":
		return "must be an http or https URL"
	case u.Host == "":
		return "must name a host"
	case u.User != nil:
		return "must not hold a user or password (the key comes from api_key_env)"
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "must not have a query or fragment"
	}
	return ""
}

func taskTypeList() string {
	names := make([]string, len(task.Types))
	for i, t := range task.Types {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

// Options are the rewriter's collaborators; every one may be left zero.
type Options struct {
	// HTTP sends the requests (default: a client of its own). The
	// rewriter never follows a redirect, with this client or its own, so
	// that the key is never sent to another host.
	HTTP   *http.Client
	Getenv func(string) string                              // default os.Getenv
	Now    func() time.Time                                 // reads Retry-After dates (default time.Now)
	Sleep  func(ctx context.Context, d time.Duration) error // waits between attempts (default: a timer, ended by ctx)
	Log    *slog.Logger                                     // default: discarded
}

// Rewriter rewrites prompts with one model. It is safe for concurrent use.
type Rewriter struct {
	cfg    Config // defaults filled in; BaseURL without a trailing slash
	wire   wire
	key    string
	system map[string]string // the system prompt in force per task type
	http   *http.Client
	now    func() time.Time
	sleep  func(context.Context, time.Duration) error
	log    *slog.Logger
	fp     string
}

// New validates cfg, reads the API key from the environment, and returns
// the rewriter.
func New(cfg Config, opts Options) (*Rewriter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	r := &Rewriter{cfg: cfg, now: opts.Now, sleep: opts.Sleep, log: opts.Log}
	if cfg.APIKeyEnv != "" {
		r.key = strings.TrimSpace(opts.Getenv(cfg.APIKeyEnv))
		if r.key == "" {
			return nil, &FieldError{Path: "prompt.llm.api_key_env", Message: "the environment variable " + cfg.APIKeyEnv + " is empty or unset"}
		}
	}
	switch cfg.Type {
	case TypeOpenAI:
		r.wire = openAI{}
		r.cfg.BaseURL = cmp.Or(cfg.BaseURL, DefaultOpenAIBaseURL)
	case TypeAnthropic:
		r.wire = anthropic{}
		r.cfg.BaseURL = cmp.Or(cfg.BaseURL, DefaultAnthropicBaseURL)
	}
	r.cfg.BaseURL = strings.TrimRight(r.cfg.BaseURL, "/")
	if cfg.Timeout == 0 {
		r.cfg.Timeout = DefaultTimeout
	}
	switch cfg.MaxRetries {
	case 0:
		r.cfg.MaxRetries = DefaultMaxRetries
	case -1:
		r.cfg.MaxRetries = 0
	}
	if cfg.MaxTokens == 0 {
		r.cfg.MaxTokens = DefaultMaxTokens
	}
	r.system = make(map[string]string, len(task.Types))
	for _, t := range task.Types {
		r.system[string(t)] = cmp.Or(cfg.SystemPrompts[string(t)], builtinSystemPrompts[t])
	}
	r.cfg.SystemPrompts = nil // r.system holds them

	client := http.Client{}
	if opts.HTTP != nil {
		client = *opts.HTTP
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	r.http = &client
	if r.now == nil {
		r.now = time.Now
	}
	if r.sleep == nil {
		r.sleep = sleep
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.log = r.log.With(slog.String("llm", r.cfg.Type), slog.String("model", r.cfg.Model))
	r.fp = r.fingerprint()
	return r, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fingerprintVersion changes when the request the rewriter sends for the
// same settings changes (the user message's framing, the answer's
// reading), so that cached rewrites of the old shape are not reused.
const fingerprintVersion = "llm/1"

// Fingerprint names what decides a rewrite besides the request: the wire
// format, base URL, model, sampling settings and the system prompts in
// force. The prompt cache keys by it; it holds no secret.
func (r *Rewriter) Fingerprint() string { return r.fp }

func (r *Rewriter) fingerprint() string {
	h := sha256.New()
	field := func(s string) { fmt.Fprintf(h, "%d:%s;", len(s), s) }
	field(fingerprintVersion)
	field(r.cfg.Type)
	field(r.cfg.BaseURL)
	field(r.cfg.Model)
	field(strconv.FormatFloat(r.cfg.Temperature, 'g', -1, 64))
	field(strconv.Itoa(r.cfg.MaxTokens))
	for _, t := range task.Types {
		field(string(t))
		field(r.system[string(t)])
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// redact removes the key from text that may echo it (a provider's error
// message, a transport error).
func (r *Rewriter) redact(s string) string {
	if r.key == "" {
		return s
	}
	return strings.ReplaceAll(s, r.key, "[redacted]")
}
