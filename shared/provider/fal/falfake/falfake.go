// Package falfake is a fake of fal.ai's queue API for tests: submit,
// status (IN_QUEUE, then IN_PROGRESS, then COMPLETED over three polls),
// result, cancel, with fal's error bodies, and output files (a real PNG,
// a few bytes of MP4) served from the fake's own URL without auth, as
// fal's CDN serves them.
package falfake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"

	"github.com/videoai/mediatasks/shared/provider/providertest"
)

// Key is the key the fake takes: "Authorization: Key " + Key.
const Key = "fal-fake-key-0123456789"

// Prompts with these words get images flagged by the fake's "safety
// checker": every image, or only the first (fal answers black images and
// has_nsfw_concepts true for them).
const (
	FlagAll   = "[flag-all]"
	FlagFirst = "[flag-first]"
)

// Request is one API call the fake received.
type Request struct {
	Method string
	Path   string
	Header http.Header
	// Body is the JSON body decoded (nil for none).
	Body map[string]any
}

// Server is a started fake; Close it.
type Server struct {
	providertest.Faults
	srv *httptest.Server

	mu       sync.Mutex
	seq      int
	jobs     map[string]*job
	requests []Request
}

type job struct {
	app      string // owner/alias
	model    string // the whole app id
	input    map[string]any
	polls    int
	canceled bool
	safety   bool // fails with a content policy violation
}

// New starts a fake.
func New() *Server {
	s := &Server{jobs: map[string]*job{}}
	s.Faults = providertest.Faults{Errors: writeError, ServerStatus: http.StatusServiceUnavailable,
		Throttled: "Rate limit exceeded: too many concurrent requests", ServerError: "The runner failed to process the request"}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL is the base_url to configure.
func (s *Server) URL() string { return s.srv.URL }

// Close stops the fake.
func (s *Server) Close() {
	s.CloseFaults()
	s.srv.Close()
}

// Requests lists the API calls received (not the file downloads).
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Submitted is the input of the last submit, or nil.
func (s *Server) Submitted() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.requests) - 1; i >= 0; i-- {
		if s.requests[i].Method == http.MethodPost {
			return s.requests[i].Body
		}
	}
	return nil
}

// writeError writes fal's error shape; a server fault says its type in a
// header and the body, as fal's runners do.
func writeError(w http.ResponseWriter, status int, message string) {
	if status >= 500 {
		w.Header().Set("X-Fal-Error-Type", "runner_server_error")
		writeJSON(w, status, map[string]any{"detail": message, "error_type": "runner_server_error"})
		return
	}
	writeJSON(w, status, map[string]any{"detail": message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/files/") {
		s.serveFile(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var decoded map[string]any
	_ = json.Unmarshal(body, &decoded)
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: decoded})
	fault := s.Fault()
	s.mu.Unlock()

	if r.Header.Get("Authorization") != "Key "+Key {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"detail": "No user found for Key ID and Secret"})
		return
	}
	if s.Answer(w, r) {
		return
	}
	switch fault {
	case providertest.FaultAuth:
		writeJSON(w, http.StatusUnauthorized, map[string]any{"detail": "No user found for Key ID and Secret"})
		return
	case providertest.FaultTruncated:
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"request_id": "0f3c`))
		return
	}

	// /{owner}/{alias}/requests/{id}[/status|/cancel], or a submit.
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) >= 4 && parts[2] == "requests" {
		s.serveRequest(w, r, parts[0]+"/"+parts[1], parts[3], parts[4:], fault)
		return
	}
	if r.Method != http.MethodPost || len(parts) < 2 {
		writeJSON(w, http.StatusNotFound, map[string]any{"detail": "Not Found"})
		return
	}
	if decoded == nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": []any{map[string]any{"loc": []any{"body"}, "msg": "Input should be a valid dictionary", "type": "dict_type"}}})
		return
	}
	if p, _ := decoded["prompt"].(string); p == "" {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": []any{map[string]any{"loc": []any{"body", "prompt"}, "msg": "Field required", "type": "missing"}}})
		return
	}
	s.mu.Lock()
	s.seq++
	id := fmt.Sprintf("req-%04d", s.seq)
	app := parts[0] + "/" + parts[1]
	s.jobs[id] = &job{app: app, model: strings.Join(parts, "/"), input: decoded, safety: fault == providertest.FaultSafety}
	s.mu.Unlock()
	root := s.srv.URL + "/" + app + "/requests/" + id
	writeJSON(w, http.StatusOK, map[string]any{
		"request_id": id, "response_url": root, "status_url": root + "/status", "cancel_url": root + "/cancel",
		"queue_position": 0,
	})
}

func (s *Server) serveRequest(w http.ResponseWriter, r *http.Request, app, id string, rest []string, fault providertest.Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[id]
	if !ok || j.app != app {
		writeJSON(w, http.StatusNotFound, map[string]any{"detail": "Request not found"})
		return
	}
	root := s.srv.URL + "/" + app + "/requests/" + id
	switch {
	case len(rest) == 1 && rest[0] == "status" && r.Method == http.MethodGet:
		j.polls++
		switch {
		case j.canceled || j.safety || j.polls >= 3:
			writeJSON(w, http.StatusOK, map[string]any{"status": "COMPLETED", "response_url": root, "logs": nil, "metrics": map[string]any{"inference_time": 1.25}})
		case j.polls == 1:
			writeJSON(w, http.StatusAccepted, map[string]any{"status": "IN_QUEUE", "queue_position": 1, "response_url": root})
		default:
			writeJSON(w, http.StatusAccepted, map[string]any{"status": "IN_PROGRESS", "response_url": root, "logs": []any{}})
		}
	case len(rest) == 1 && rest[0] == "cancel" && r.Method == http.MethodPut:
		if j.canceled || j.polls >= 3 {
			writeJSON(w, http.StatusBadRequest, map[string]any{"status": "ALREADY_COMPLETED"})
			return
		}
		j.canceled = true
		s.AddCanceled(id)
		writeJSON(w, http.StatusAccepted, map[string]any{"status": "CANCELLATION_REQUESTED"})
	case len(rest) == 0 && r.Method == http.MethodGet:
		switch {
		case j.canceled:
			writeJSON(w, http.StatusBadRequest, map[string]any{"detail": "Request was cancelled", "error_type": "request_cancelled"})
		case j.safety:
			writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": []any{map[string]any{
				"loc": []any{"body", "prompt"}, "msg": "The content could not be processed because it contained material flagged by a content checker.",
				"type": "content_policy_violation", "url": "https://docs.fal.ai/errors#content_policy_violation",
			}}})
		case j.polls < 3:
			writeJSON(w, http.StatusBadRequest, map[string]any{"detail": "Request is still in progress"})
		default:
			writeJSON(w, http.StatusOK, s.output(j, id, fault))
		}
	default:
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"detail": "Method Not Allowed"})
	}
}

// isVideo tells the fake's outputs apart by the app's name.
func isVideo(model string) bool {
	m := strings.ToLower(model)
	for _, s := range []string{"video", "kling", "pika", "wan", "minimax", "hailuo", "ltx", "t2v", "i2v"} {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

func (s *Server) output(j *job, id string, fault providertest.Fault) map[string]any {
	files := s.srv.URL + "/files/" + id
	if fault == providertest.FaultExpiredOutput {
		files = s.srv.URL + "/files/expired-" + id
	}
	prompt, _ := j.input["prompt"].(string)
	if isVideo(j.model) {
		return map[string]any{"video": map[string]any{"url": files + "/video.mp4", "content_type": "video/mp4", "file_name": "video.mp4", "file_size": len(providertest.MP4)}, "seed": 42}
	}
	n := 1
	if v, ok := j.input["num_images"].(float64); ok && v >= 1 {
		n = int(v)
	}
	w, h := 1024, 1024
	if sz, ok := j.input["image_size"].(map[string]any); ok {
		w, _ = toInt(sz["width"])
		h, _ = toInt(sz["height"])
	} else if name, _ := j.input["image_size"].(string); name == "square" {
		w, h = 512, 512
	}
	images := make([]any, n)
	nsfw := make([]bool, n)
	for i := range n {
		nsfw[i] = strings.Contains(prompt, FlagAll) || (i == 0 && strings.Contains(prompt, FlagFirst))
		images[i] = map[string]any{"url": fmt.Sprintf("%s/%d.png", files, i), "content_type": "image/png", "width": w, "height": h}
	}
	return map[string]any{"images": images, "seed": 1234, "has_nsfw_concepts": nsfw, "prompt": prompt, "timings": map[string]any{"inference": 1.2}}
}

func toInt(v any) (int, bool) {
	f, ok := v.(float64)
	return int(f), ok
}

func (s *Server) serveFile(w http.ResponseWriter, r *http.Request) {
	providertest.ServeFile(w, r, pngBytes)
}

// pngBytes is the PNG the fake's image outputs are.
var pngBytes = providertest.PNG(1)
