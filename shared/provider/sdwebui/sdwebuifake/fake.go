// Package sdwebuifake is a fake Stable Diffusion web UI (AUTOMATIC1111,
// Forge) API server for tests: POST /sdapi/v1/txt2img and /img2img answer
// real PNGs as base64 with the info JSON string, /sdapi/v1/progress and
// /sdapi/v1/interrupt answer as the web UI does, HTTP Basic auth is
// checked as --api-auth makes it, and the faults of providertest are
// answered in the web UI's own error shapes.
package sdwebuifake

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"

	"github.com/videoai/mediatasks/shared/provider/providertest"
)

// Key is the credential New's server takes, as the adapter's api_key
// ("user:pass", sent as HTTP Basic).
const Key = "fakeuser:fake-pass-1234"

// Samplers are the sampler names the fake knows; another answers 400
// "Sampler not found", as recent web UI versions do (older ones 404).
var Samplers = []string{"Euler a", "Euler", "DPM++ 2M", "DPM++ 2M Karras", "DDIM"}

// Request is one API call the fake received.
type Request struct {
	Method string
	Path   string
	// Body is the decoded JSON body (nil for none).
	Body map[string]any
	// Auth is the Authorization header as sent.
	Auth string
}

// Server is a running fake.
type Server struct {
	providertest.Faults
	srv  *httptest.Server
	key  string
	mu   sync.Mutex
	reqs []Request
	// interrupts counts POST /sdapi/v1/interrupt calls.
	interrupts []string
	seed       int64
}

// New starts a fake that requires Key; the caller closes it.
func New() *Server { return NewWithKey(Key) }

// NewWithKey starts a fake requiring key ("user:pass"); "" turns auth off,
// as a web UI started without --api-auth.
func NewWithKey(key string) *Server {
	s := &Server{key: key, seed: 1000}
	s.Faults = providertest.Faults{Errors: writeError,
		// The web UI has no rate limit of its own; a proxy in front of it
		// (or a queueing extension) answers 429.
		Throttled: "Too Many Requests", ServerError: "CUDA out of memory. Tried to allocate 2.00 GiB"}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /sdapi/v1/txt2img", s.generate)
	mux.HandleFunc("POST /sdapi/v1/img2img", s.generate)
	mux.HandleFunc("POST /sdapi/v1/interrupt", s.interrupt)
	mux.HandleFunc("GET /sdapi/v1/progress", s.progress)
	s.srv = httptest.NewServer(s.guard(mux))
	return s
}

// URL is the base_url to configure (the web UI's root).
func (s *Server) URL() string { return s.srv.URL }

// Close stops the server.
func (s *Server) Close() {
	s.CloseFaults()
	s.srv.Close()
}

// Canceled lists one entry per interrupt received (the web UI has no job
// ids: an interrupt stops whatever runs).
func (s *Server) Canceled() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.interrupts)
}

// Requests are the calls received, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

// Last is the last call received to path (zero Request if none).
func (s *Server) Last(path string) Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.reqs) - 1; i >= 0; i-- {
		if s.reqs[i].Path == path {
			return s.reqs[i]
		}
	}
	return Request{}
}

// writeError writes the web UI's error shapes: FastAPI's detail, and the
// web UI's own for an exception in a generation.
func writeError(w http.ResponseWriter, status int, message string) {
	if status >= 500 {
		writeJSON(w, status, map[string]any{"error": "OutOfMemoryError", "detail": "", "body": "", "errors": message})
		return
	}
	writeJSON(w, status, map[string]any{"detail": message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// guard records the call, checks Basic auth and answers the fault.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		var raw bytes.Buffer
		_, _ = raw.ReadFrom(r.Body)
		if raw.Len() > 0 {
			if err := json.Unmarshal(raw.Bytes(), &body); err != nil {
				writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": []map[string]any{
					{"loc": []any{"body", 0}, "msg": "Expecting value", "type": "value_error.jsondecode"}}})
				return
			}
		}
		s.mu.Lock()
		s.reqs = append(s.reqs, Request{Method: r.Method, Path: r.URL.Path, Body: body, Auth: r.Header.Get("Authorization")})
		fault := s.Fault()
		s.mu.Unlock()
		r.Body = http.NoBody
		if fault == providertest.FaultAuth || !s.authorized(r) {
			// FastAPI's HTTPBasic answer for a wrong user or password.
			w.Header().Set("WWW-Authenticate", "Basic")
			writeJSON(w, http.StatusUnauthorized, map[string]any{"detail": "Incorrect username or password"})
			return
		}
		if s.Answer(w, r) {
			return
		}
		switch fault {
		case providertest.FaultTruncated:
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"images": ["iVBORw0KGgoAAAANSUhEUgAA`))
			return
		}
		r.Body = nopBody{bytes.NewReader(raw.Bytes())}
		next.ServeHTTP(w, r)
	})
}

type nopBody struct{ *bytes.Reader }

func (nopBody) Close() error { return nil }

func (s *Server) authorized(r *http.Request) bool {
	if s.key == "" {
		return true
	}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(s.key))
	return r.Header.Get("Authorization") == want
}

// body is what the fake reads of a txt2img or img2img body.
type body struct {
	Prompt         string         `json:"prompt"`
	NegativePrompt string         `json:"negative_prompt"`
	Seed           *int64         `json:"seed"`
	Steps          *int           `json:"steps"`
	CFGScale       *float64       `json:"cfg_scale"`
	Width          *int           `json:"width"`
	Height         *int           `json:"height"`
	BatchSize      *int           `json:"batch_size"`
	NIter          *int           `json:"n_iter"`
	SamplerName    string         `json:"sampler_name"`
	Override       map[string]any `json:"override_settings"`
	InitImages     []string       `json:"init_images"`
}

func (s *Server) generate(w http.ResponseWriter, r *http.Request) {
	var b body
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": []map[string]any{
			{"loc": []any{"body"}, "msg": err.Error(), "type": "type_error"}}})
		return
	}
	if b.SamplerName != "" && !slices.Contains(Samplers, b.SamplerName) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "HTTPException", "detail": "Sampler not found", "body": "", "errors": ""})
		return
	}
	if r.URL.Path == "/sdapi/v1/img2img" && len(b.InitImages) == 0 {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": []map[string]any{
			{"loc": []any{"body", "init_images"}, "msg": "field required", "type": "value_error.missing"}}})
		return
	}
	n := or(b.BatchSize, 1) * or(b.NIter, 1)
	seed := int64(-1)
	if b.Seed != nil {
		seed = *b.Seed
	}
	if seed == -1 {
		s.mu.Lock()
		s.seed++
		seed = s.seed
		s.mu.Unlock()
	}
	images := make([]string, 0, n+1)
	seeds := make([]int64, 0, n)
	for i := range n {
		images = append(images, base64.StdEncoding.EncodeToString(PNG(seed+int64(i))))
		seeds = append(seeds, seed+int64(i))
	}
	if n > 1 {
		// The web UI puts a grid of the batch first unless return_grid
		// is off.
		if v, ok := b.Override["return_grid"].(bool); !ok || v {
			images = append([]string{base64.StdEncoding.EncodeToString(PNG(0))}, images...)
		}
	}
	sampler := b.SamplerName
	if sampler == "" {
		sampler = "Euler a"
	}
	model := "v1-5-pruned-emaonly"
	if v, ok := b.Override["sd_model_checkpoint"].(string); ok && v != "" {
		model = v
	}
	info := map[string]any{
		"prompt": b.Prompt, "all_prompts": repeat(b.Prompt, n), "negative_prompt": b.NegativePrompt,
		"seed": seed, "all_seeds": seeds, "subseed": seed + 7, "width": or(b.Width, 512), "height": or(b.Height, 512),
		"sampler_name": sampler, "cfg_scale": orF(b.CFGScale, 7), "steps": or(b.Steps, 50),
		"batch_size": or(b.BatchSize, 1), "sd_model_name": model, "sd_model_hash": "6ce0161689",
		"job_timestamp": "20261204180000", "infotexts": repeat(b.Prompt+"\nSteps: 20", n),
	}
	infoJSON, _ := json.Marshal(info)
	var params map[string]any
	raw, _ := json.Marshal(b)
	_ = json.Unmarshal(raw, &params)
	writeJSON(w, http.StatusOK, map[string]any{"images": images, "parameters": params, "info": string(infoJSON)})
}

func (s *Server) interrupt(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	s.interrupts = append(s.interrupts, "interrupt-"+strconv.Itoa(len(s.interrupts)+1))
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) progress(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"progress": 0.0, "eta_relative": 0.0,
		"state": map[string]any{"skipped": false, "interrupted": false, "job": "", "job_count": 0,
			"job_timestamp": "0", "job_no": 0, "sampling_step": 0, "sampling_steps": 0},
		"current_image": nil, "textinfo": nil})
}

// PNG is a small valid PNG, its colour drawn from seed.
func PNG(seed int64) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	c := color.RGBA{R: uint8(seed * 37), G: uint8(seed * 91), B: uint8(seed * 13), A: 255}
	for y := range 8 {
		for x := range 8 {
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic(fmt.Sprintf("sdwebuifake: encode png: %v", err))
	}
	return buf.Bytes()
}

func or[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

func orF(p *float64, def float64) float64 { return or(p, def) }

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}
