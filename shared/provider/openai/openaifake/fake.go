// Package openaifake is a fake OpenAI API server for tests: POST
// /v1/images/generations and POST /v1/audio/transcriptions in OpenAI's wire
// format, with its error bodies ({"error": {"message", "type", "param",
// "code"}}), its checks of parameters by model family, output URLs served
// from the fake itself, and the faults of the provider conformance suite
// (providertest.Fault). Every call is recorded, so that a test can assert
// what an adapter sent.
package openaifake

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/videoai/mediatasks/shared/provider/providertest"
)

// Key is the API key New's server takes.
const Key = "sk-fake-openai-0123456789abcdef"

// Text is what the fake hears in every audio file.
const Text = "Hello from the fake OpenAI server. It hears the same words in every file."

// SampleSeconds is the length of the WAV file the fake serves at
// AudioURL.
const SampleSeconds = 2.0

// maxAudioBytes is the transcription API's upload limit.
const maxAudioBytes = 26_214_400

// Request is one call the fake received.
type Request struct {
	Method string
	Path   string
	// JSON is the body of a JSON call (images), decoded.
	JSON map[string]any
	// Form holds the fields of a multipart call (audio), file aside.
	Form map[string][]string
	// The uploaded file of a transcription.
	FileName        string
	FileContentType string
	File            []byte
}

// Server is a running fake.
type Server struct {
	providertest.Faults
	srv *httptest.Server
	key string

	mu       sync.Mutex
	requests []Request
	files    map[string][]byte
	next     int
}

var _ providertest.Fake = (*Server)(nil)

// New starts a fake that takes Key; the caller closes it.
func New() *Server { return NewWithKey(Key) }

// NewWithKey starts a fake that takes key.
func NewWithKey(key string) *Server {
	s := &Server{key: key, files: map[string][]byte{}}
	s.Faults = providertest.Faults{Errors: func(w http.ResponseWriter, status int, message string) {
		if status == http.StatusTooManyRequests {
			w.Header().Set("X-Ratelimit-Remaining-Requests", "0")
			writeError(w, status, "requests", "", "rate_limit_exceeded", message)
			return
		}
		writeError(w, status, "server_error", "", "", message)
	}, Throttled: "Rate limit reached for requests per min (RPM): Limit 5, Used 5, Requested 1. Please try again in 7s.",
		ServerError: "The server had an error while processing your request. Sorry about that!"}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/images/generations", s.api(s.images))
	mux.HandleFunc("POST /v1/audio/transcriptions", s.api(s.transcriptions))
	mux.HandleFunc("/v1/", s.api(func(w http.ResponseWriter, r *http.Request, _ *Request) {
		writeError(w, http.StatusNotFound, "invalid_request_error", "", "unknown_url", fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path))
	}))
	mux.HandleFunc("GET /files/{name}", s.file)
	mux.HandleFunc("GET /media/sample.wav", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		_, _ = w.Write(WAV(SampleSeconds))
	})
	s.srv = httptest.NewServer(mux)
	return s
}

// URL is the base_url to configure (it ends in /v1, as OpenAI's does).
func (s *Server) URL() string { return s.srv.URL + "/v1" }

// AudioURL is a WAV file of SampleSeconds the fake serves, for a task
// whose audio is a user's URL.
func (s *Server) AudioURL() string { return s.srv.URL + "/media/sample.wav" }

// Canceled is always empty: OpenAI's images and audio have no jobs.
func (s *Server) Canceled() []string { return nil }

// Requests are the API calls received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Close stops the server, releasing hung calls.
func (s *Server) Close() {
	s.CloseFaults()
	s.srv.Close()
}

// api records a call, answers a fault or a bad key, or hands it on.
func (s *Server) api(h func(w http.ResponseWriter, r *http.Request, rec *Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rec, err := record(r)
		s.mu.Lock()
		s.requests = append(s.requests, rec)
		i := len(s.requests) - 1
		fault := s.Fault()
		s.mu.Unlock()
		w.Header().Set("X-Request-Id", "req_fake_"+strconv.Itoa(i+1))
		if s.Answer(w, r) {
			return
		}
		if fault == providertest.FaultAuth {
			writeAuthError(w, r)
			return
		}
		if got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "); got != s.key || !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			writeAuthError(w, r)
			return
		}
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid_request_error", "", "", err.Error())
			return
		}
		if fault == providertest.FaultTruncated {
			rw := &buffered{header: w.Header()}
			h(rw, r, &rec)
			w.WriteHeader(rw.status())
			_, _ = w.Write(rw.body.Bytes()[:rw.body.Len()/2])
			return
		}
		if fault == providertest.FaultSafety {
			model, _ := rec.JSON["model"].(string)
			if strings.HasPrefix(model, "gpt-image") || strings.HasPrefix(model, "chatgpt-image") {
				writeError(w, http.StatusBadRequest, "image_generation_user_error", "", "moderation_blocked",
					"Your request was rejected by the safety system. If you believe this is an error, contact us.")
				return
			}
			writeError(w, http.StatusBadRequest, "invalid_request_error", "", "content_policy_violation",
				"Your request was rejected as a result of our safety system. Your prompt may contain text that is not allowed by our safety system.")
			return
		}
		h(w, r, &rec)
	}
}

func writeAuthError(w http.ResponseWriter, r *http.Request) {
	given := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	masked := "none"
	if len(given) > 8 {
		masked = given[:3] + "*****" + given[len(given)-4:]
	}
	writeError(w, http.StatusUnauthorized, "invalid_request_error", "", "invalid_api_key",
		"Incorrect API key provided: "+masked+". You can find your API key at https://platform.openai.com/account/api-keys.")
}

// record reads the call's body into a Request.
func record(r *http.Request) (Request, error) {
	rec := Request{Method: r.Method, Path: r.URL.Path}
	ct := r.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "application/json"):
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			return rec, err
		}
		if err := json.Unmarshal(body, &rec.JSON); err != nil {
			return rec, fmt.Errorf("We could not parse the JSON body of your request. (HINT: %v)", err)
		}
	case strings.HasPrefix(ct, "multipart/form-data"):
		if err := r.ParseMultipartForm(maxAudioBytes + 1<<20); err != nil {
			return rec, fmt.Errorf("could not parse multipart form: %v", err)
		}
		rec.Form = map[string][]string(r.MultipartForm.Value)
		if fhs := r.MultipartForm.File["file"]; len(fhs) > 0 {
			rec.FileName = fhs[0].Filename
			rec.FileContentType = fhs[0].Header.Get("Content-Type")
			f, err := fhs[0].Open()
			if err != nil {
				return rec, err
			}
			defer f.Close()
			if rec.File, err = io.ReadAll(f); err != nil {
				return rec, err
			}
		}
	}
	return rec, nil
}

// family is the fake's own reading of a model name; a name it does not
// know is served as a compatible server would, like dall-e-2 or whisper.
func family(model string) string {
	switch {
	case strings.HasPrefix(model, "gpt-image"), strings.HasPrefix(model, "chatgpt-image"):
		return "gpt-image"
	case strings.HasPrefix(model, "dall-e-3"):
		return "dall-e-3"
	case strings.Contains(model, "transcribe"):
		return "gpt-transcribe"
	}
	return "other"
}

func (s *Server) images(w http.ResponseWriter, _ *http.Request, rec *Request) {
	body := rec.JSON
	str := func(k string) string { v, _ := body[k].(string); return v }
	invalid := func(param, format string, args ...any) {
		writeError(w, http.StatusBadRequest, "invalid_request_error", param, "invalid_value", fmt.Sprintf(format, args...))
	}
	model := str("model")
	if model == "" {
		model = "dall-e-2"
	}
	prompt := str("prompt")
	if prompt == "" {
		invalid("prompt", "Missing required parameter: 'prompt'.")
		return
	}
	n := 1
	if v, ok := body["n"].(float64); ok {
		n = int(v)
	}
	fam := family(model)
	size, quality, style, format := str("size"), str("quality"), str("style"), str("response_format")
	switch fam {
	case "gpt-image":
		switch {
		case format != "":
			writeError(w, http.StatusBadRequest, "invalid_request_error", "response_format", "unknown_parameter", "Unknown parameter: 'response_format'.")
			return
		case style != "":
			writeError(w, http.StatusBadRequest, "invalid_request_error", "style", "unknown_parameter", "Unknown parameter: 'style'.")
			return
		case size != "" && !slices.Contains([]string{"1024x1024", "1536x1024", "1024x1536", "auto"}, size):
			invalid("size", "Invalid value: '%s'. Supported values are: '1024x1024', '1024x1536', '1536x1024', and 'auto'.", size)
			return
		case quality != "" && !slices.Contains([]string{"low", "medium", "high", "auto"}, quality):
			invalid("quality", "Invalid value: '%s'. Supported values are: 'low', 'medium', 'high', and 'auto'.", quality)
			return
		case str("background") != "" && !slices.Contains([]string{"auto", "opaque", "transparent"}, str("background")):
			invalid("background", "Invalid value: '%s'. Supported values are: 'transparent', 'opaque', and 'auto'.", str("background"))
			return
		case len(prompt) > 32000:
			invalid("prompt", "Invalid 'prompt': string too long. Expected a string with maximum length 32000.")
			return
		}
		format = "b64_json"
	case "dall-e-3":
		switch {
		case n != 1:
			invalid("n", "Invalid 'n': dall-e-3 only supports n=1.")
			return
		case size != "" && !slices.Contains([]string{"1024x1024", "1792x1024", "1024x1792"}, size):
			invalid("size", "'%s' is not one of ['1024x1024', '1024x1792', '1792x1024'] - 'size'", size)
			return
		case quality != "" && quality != "standard" && quality != "hd":
			invalid("quality", "'%s' is not one of ['standard', 'hd'] - 'quality'", quality)
			return
		case style != "" && style != "vivid" && style != "natural":
			invalid("style", "'%s' is not one of ['vivid', 'natural'] - 'style'", style)
			return
		case len(prompt) > 4000:
			invalid("prompt", "'%s...' is too long - 'prompt'", prompt[:20])
			return
		}
	default:
		switch {
		case str("background") != "" || str("output_format") != "" || str("moderation") != "":
			writeError(w, http.StatusBadRequest, "invalid_request_error", "", "unknown_parameter", "background, output_format and moderation are only supported for GPT image models.")
			return
		case size != "" && !slices.Contains([]string{"256x256", "512x512", "1024x1024"}, size):
			invalid("size", "'%s' is not one of ['256x256', '512x512', '1024x1024'] - 'size'", size)
			return
		case style != "" || (quality != "" && quality != "standard"):
			invalid("style", "style and quality are not supported by %s", model)
			return
		}
	}
	if n < 1 || n > 10 {
		invalid("n", "%d is greater than the maximum of 10 - 'n'", n)
		return
	}
	if format != "" && format != "url" && format != "b64_json" {
		invalid("response_format", "'%s' is not one of ['url', 'b64_json'] - 'response_format'", format)
		return
	}
	type datum struct {
		B64JSON       string `json:"b64_json,omitempty"`
		URL           string `json:"url,omitempty"`
		RevisedPrompt string `json:"revised_prompt,omitempty"`
	}
	ans := map[string]any{"created": 1764806400}
	var data []datum
	for i := range n {
		img := PNG(i)
		var d datum
		if format == "url" {
			s.mu.Lock()
			s.next++
			name := fmt.Sprintf("img-%d.png", s.next)
			s.files[name] = img
			s.mu.Unlock()
			d.URL = s.srv.URL + "/files/" + name + "?se=2026-12-04T19%3A00%3A00Z&sig=fakesignature"
		} else {
			d.B64JSON = base64.StdEncoding.EncodeToString(img)
		}
		if fam == "dall-e-3" {
			d.RevisedPrompt = "A detailed rendering of " + prompt
		}
		data = append(data, d)
	}
	ans["data"] = data
	if fam == "gpt-image" {
		ans["usage"] = map[string]any{"total_tokens": 100 + 272*n, "input_tokens": 100, "output_tokens": 272 * n,
			"input_tokens_details": map[string]any{"text_tokens": 100, "image_tokens": 0}}
		ans["output_format"] = "png"
	}
	writeJSON(w, http.StatusOK, ans)
}

func (s *Server) file(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	data, ok := s.files[r.PathValue("name")]
	expired := s.Fault() == providertest.FaultExpiredOutput
	s.mu.Unlock()
	if !ok || expired {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `<?xml version="1.0" encoding="utf-8"?><Error><Code>BlobNotFound</Code><Message>The specified blob does not exist.</Message></Error>`)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	_, _ = w.Write(data)
}

func (s *Server) transcriptions(w http.ResponseWriter, _ *http.Request, rec *Request) {
	invalid := func(param, format string, args ...any) {
		writeError(w, http.StatusBadRequest, "invalid_request_error", param, "invalid_value", fmt.Sprintf(format, args...))
	}
	field := func(k string) string {
		if v := rec.Form[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	model := field("model")
	switch {
	case rec.Form == nil:
		invalid("", "The request must be multipart/form-data.")
		return
	case model == "":
		invalid("model", "you must provide a model parameter")
		return
	case rec.FileName == "":
		invalid("file", "Missing required parameter: 'file'.")
		return
	case len(rec.File) > maxAudioBytes:
		writeError(w, http.StatusRequestEntityTooLarge, "invalid_request_error", "file", "", "Maximum content size limit (26214400) exceeded.")
		return
	}
	ext := rec.FileName[strings.LastIndexByte(rec.FileName, '.')+1:]
	if !slices.Contains([]string{"flac", "mp3", "mp4", "mpeg", "mpga", "m4a", "ogg", "wav", "webm"}, ext) {
		invalid("file", "Invalid file format. Supported formats: ['flac', 'm4a', 'mp3', 'mp4', 'mpeg', 'mpga', 'oga', 'ogg', 'wav', 'webm']")
		return
	}
	format := field("response_format")
	if format == "" {
		format = "json"
	}
	grains := rec.Form["timestamp_granularities[]"]
	diarize := strings.Contains(model, "diarize")
	if family(model) == "gpt-transcribe" {
		if format != "json" && format != "text" && (!diarize || format != "diarized_json") {
			invalid("response_format", "response_format '%s' is not compatible with model '%s'. Use 'json' or 'text' instead.", format, model)
			return
		}
		if len(grains) > 0 {
			invalid("timestamp_granularities", "timestamp_granularities is not supported by model '%s'.", model)
			return
		}
	}
	if len(grains) > 0 && format != "verbose_json" {
		invalid("timestamp_granularities", "timestamp_granularities requires response_format=verbose_json")
		return
	}
	duration, ok := wavSeconds(rec.File)
	if !ok {
		duration = SampleSeconds
	}
	words := strings.Fields(Text)
	switch format {
	case "text":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, Text+"\n")
	case "json":
		usage := map[string]any{"type": "duration", "seconds": math.Ceil(duration)}
		if family(model) == "gpt-transcribe" {
			usage = map[string]any{"type": "tokens", "input_tokens": 20, "output_tokens": len(words) + 2, "total_tokens": 22 + len(words),
				"input_token_details": map[string]any{"text_tokens": 0, "audio_tokens": 20}}
		}
		writeJSON(w, http.StatusOK, map[string]any{"text": Text, "usage": usage})
	case "diarized_json":
		half := len(words) / 2
		segs := []map[string]any{
			{"type": "transcript.text.segment", "id": "seg_1", "speaker": "A", "start": 0.0, "end": round(duration / 2), "text": strings.Join(words[:half], " ")},
			{"type": "transcript.text.segment", "id": "seg_2", "speaker": "B", "start": round(duration / 2), "end": round(duration * 0.95), "text": strings.Join(words[half:], " ")},
		}
		writeJSON(w, http.StatusOK, map[string]any{"text": Text, "segments": segs,
			"usage": map[string]any{"type": "tokens", "input_tokens": 20, "output_tokens": 40, "total_tokens": 60}})
	case "verbose_json":
		step := duration / float64(len(words))
		var ws []map[string]any
		for i, word := range words {
			ws = append(ws, map[string]any{"word": strings.Trim(word, ".,"), "start": round(float64(i) * step), "end": round((float64(i) + 0.8) * step)})
		}
		half := len(words) / 2
		segs := []map[string]any{
			{"id": 0, "seek": 0, "start": 0.0, "end": round(float64(half) * step), "text": " " + strings.Join(words[:half], " "), "tokens": []int{50364, 2425}, "temperature": 0.0, "avg_logprob": -0.2, "compression_ratio": 1.1, "no_speech_prob": 0.01},
			{"id": 1, "seek": 0, "start": round(float64(half) * step), "end": round(duration), "text": " " + strings.Join(words[half:], " "), "tokens": []int{50464, 2425}, "temperature": 0.0, "avg_logprob": -0.25, "compression_ratio": 1.1, "no_speech_prob": 0.02},
		}
		ans := map[string]any{"task": "transcribe", "language": "english", "duration": round(duration), "text": Text,
			"usage": map[string]any{"type": "duration", "seconds": math.Ceil(duration)}}
		if len(grains) == 0 || slices.Contains(grains, "segment") {
			ans["segments"] = segs
		}
		if slices.Contains(grains, "word") {
			ans["words"] = ws
		}
		writeJSON(w, http.StatusOK, ans)
	default:
		invalid("response_format", "'%s' is not one of ['json', 'text', 'srt', 'verbose_json', 'vtt'] - 'response_format'", format)
	}
}

func round(v float64) float64 { return math.Round(v*100) / 100 }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers in OpenAI's error shape; an empty param or code is
// null, as OpenAI sends it.
func writeError(w http.ResponseWriter, status int, typ, param, code, message string) {
	nullable := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": message, "type": typ, "param": nullable(param), "code": nullable(code)}})
}

// buffered holds an answer so that it can be cut (FaultTruncated).
type buffered struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (b *buffered) Header() http.Header         { return b.header }
func (b *buffered) Write(p []byte) (int, error) { return b.body.Write(p) }
func (b *buffered) WriteHeader(code int)        { b.code = code }
func (b *buffered) status() int {
	if b.code == 0 {
		return http.StatusOK
	}
	return b.code
}

// PNG is a small valid PNG, its colour varied by i.
func PNG(i int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	for x := range 4 {
		for y := range 4 {
			img.Set(x, y, color.RGBA{R: uint8(40 * i), G: uint8(60 * x), B: uint8(60 * y), A: 255})
		}
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return b.Bytes()
}

// WAV is a silent 8 kHz 16-bit mono WAV file of seconds.
func WAV(seconds float64) []byte {
	const rate, bytesPerSample = 8000, 2
	n := int(seconds * rate * bytesPerSample)
	var b bytes.Buffer
	le := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	le(uint32(36 + n))
	b.WriteString("WAVEfmt ")
	le(uint32(16))
	le(uint16(1)) // PCM
	le(uint16(1)) // mono
	le(uint32(rate))
	le(uint32(rate * bytesPerSample))
	le(uint16(bytesPerSample))
	le(uint16(16))
	b.WriteString("data")
	le(uint32(n))
	b.Write(make([]byte, n))
	return b.Bytes()
}

// wavSeconds is the length of a WAV file, as the fake reads it.
func wavSeconds(data []byte) (float64, bool) {
	if len(data) < 44 || string(data[0:4]) != "RIFF" || string(data[8:16]) != "WAVEfmt " {
		return 0, false
	}
	rate := binary.LittleEndian.Uint32(data[28:32])
	if rate == 0 || string(data[36:40]) != "data" {
		return 0, false
	}
	return float64(binary.LittleEndian.Uint32(data[40:44])) / float64(rate), true
}
