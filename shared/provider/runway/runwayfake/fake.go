// Package runwayfake is a fake Runway API server for tests: POST
// /v1/text_to_video and /v1/image_to_video, GET and DELETE /v1/tasks/{id},
// with Bearer auth and the X-Runway-Version header checked, errors as
// {"error": "..."}, and tasks that go PENDING, RUNNING (with progress) and
// SUCCEEDED over a few polls, their output a few bytes of MP4 served from
// the fake itself. It records every API call, so a test can assert what
// an adapter sent, and answers with the conformance suite's faults (a
// safety refusal is a task that FAILS with SAFETY.INPUT.TEXT, as Runway
// moderates).
package runwayfake

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"

	"github.com/videoai/mediatasks/shared/provider/providertest"
)

// Key is the API secret the fake takes.
const Key = "key_runway_test_0123456789abcdef"

// Version is the X-Runway-Version the fake requires.
const Version = "2024-11-06"

// PollsToComplete is how many GETs of a task answer before it SUCCEEDS:
// PENDING, then RUNNING with progress.
const PollsToComplete = 2

// MP4 is the output every task succeeds with.
var MP4 = providertest.MP4

// Call is one API call the fake received.
type Call = providertest.Call

type task struct {
	id          string
	polls       int
	canceled    bool
	deleted     bool
	failCode    string
	failMessage string
}

// Server is a running fake.
type Server struct {
	providertest.Faults
	ts  *httptest.Server
	png []byte

	mu       sync.Mutex
	next     int
	tasks    map[string]*task
	calls    []Call
	failCode string
	failMsg  string
}

var _ providertest.Fake = (*Server)(nil)

// New starts a fake; the caller closes it.
func New() *Server {
	s := &Server{tasks: map[string]*task{}, png: framePNG()}
	s.Faults = providertest.Faults{Errors: writeError, ServerStatus: http.StatusBadGateway, Throttled: "You have exceeded the rate limit. Please slow down.", ServerError: "An internal error occurred. Please try again."}
	s.ts = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL is the base_url to configure (the API root, without /v1).
func (s *Server) URL() string { return s.ts.URL }

// ImageURL is an http (not https) URL of a small PNG the fake serves, a
// first frame that an adapter must send as bytes.
func (s *Server) ImageURL() string { return s.ts.URL + "/inputs/frame.png" }

// PNG is the bytes ImageURL serves.
func (s *Server) PNG() []byte { return bytes.Clone(s.png) }

// Close stops the server, releasing held requests first.
func (s *Server) Close() {
	s.CloseFaults()
	s.ts.Close()
}

// FailTasks makes every task created from now on FAIL with failureCode
// code and failure message ("" stops it).
func (s *Server) FailTasks(code, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failCode, s.failMsg = code, message
}

// Calls lists the API calls received, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// Created lists the creating calls (POST /v1/...), in order.
func (s *Server) Created() []Call {
	var out []Call
	for _, c := range s.Calls() {
		if c.Method == http.MethodPost {
			out = append(out, c)
		}
	}
	return out
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/outputs/") || strings.HasPrefix(r.URL.Path, "/inputs/") {
		s.file(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.calls = append(s.calls, providertest.CallOf(r, body))
	fault := s.Fault()
	s.mu.Unlock()

	if s.Answer(w, r) {
		return
	}
	if fault == providertest.FaultAuth {
		writeError(w, http.StatusUnauthorized, "Incorrect API key provided.")
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+Key {
		writeError(w, http.StatusUnauthorized, "Incorrect API key provided.")
		return
	}
	if v := r.Header.Get("X-Runway-Version"); v != Version {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("X-Runway-Version must be %s, not %q", Version, v))
		return
	}
	var status int
	var answer any
	switch {
	case r.Method == http.MethodPost && (r.URL.Path == "/v1/text_to_video" || r.URL.Path == "/v1/image_to_video"):
		status, answer = s.create(r.URL.Path == "/v1/image_to_video", body, fault == providertest.FaultSafety)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/tasks/"):
		status, answer = s.get(strings.TrimPrefix(r.URL.Path, "/v1/tasks/"))
	case r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/v1/tasks/"):
		if status, answer = s.delete(strings.TrimPrefix(r.URL.Path, "/v1/tasks/")); status == http.StatusNoContent {
			w.WriteHeader(status)
			return
		}
	default:
		writeError(w, http.StatusNotFound, "Not found")
		return
	}
	b, _ := json.Marshal(answer)
	if fault == providertest.FaultTruncated && status < 300 {
		b = b[:len(b)/2]
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (s *Server) file(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	fault := s.Fault()
	s.mu.Unlock()
	switch {
	case r.URL.Path == "/inputs/frame.png":
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(s.png)
	case fault == providertest.FaultExpiredOutput:
		http.Error(w, "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>", http.StatusNotFound)
	default:
		w.Header().Set("Content-Type", "video/mp4")
		_, _ = w.Write(MP4)
	}
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// validation is Runway's answer to a body it will not take.
func validation(issue string) (int, any) {
	return http.StatusBadRequest, map[string]any{"error": "Validation of body failed", "issues": []map[string]any{{"message": issue}}}
}

func (s *Server) create(imageToVideo bool, body []byte, safety bool) (int, any) {
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil {
		return validation("body must be JSON")
	}
	model, _ := req["model"].(string)
	if model == "" {
		return validation("model is required")
	}
	if r, _ := req["ratio"].(string); r == "" {
		return validation("ratio is required")
	}
	if _, ok := req["duration"].(float64); !ok {
		return validation("duration must be a number")
	}
	if imageToVideo {
		img, _ := req["promptImage"].(string)
		if !strings.HasPrefix(img, "https://") && !validDataURI(img) {
			return validation("promptImage must be an HTTPS URL or a data URI")
		}
	} else {
		if model == "gen4_turbo" || model == "gen3a_turbo" {
			return validation(fmt.Sprintf("model %s is not available for text_to_video", model))
		}
		if p, _ := req["promptText"].(string); p == "" {
			return validation("promptText is required")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	t := &task{id: fmt.Sprintf("4b1f%04d-0000-4000-8000-%012d", s.next, s.next), failCode: s.failCode, failMessage: s.failMsg}
	if safety {
		t.failCode, t.failMessage = "SAFETY.INPUT.TEXT", "The prompt text did not pass content moderation."
	}
	s.tasks[t.id] = t
	return http.StatusOK, map[string]string{"id": t.id}
}

func validDataURI(s string) bool {
	rest, ok := strings.CutPrefix(s, "data:image/")
	_, data, ok2 := strings.Cut(rest, ";base64,")
	if !ok || !ok2 {
		return false
	}
	_, err := base64.StdEncoding.DecodeString(data)
	return err == nil
}

func (s *Server) get(id string) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tasks[id]
	if !ok || t.deleted {
		return http.StatusNotFound, map[string]string{"error": "Task not found"}
	}
	t.polls++
	v := map[string]any{"id": t.id, "createdAt": "2026-12-04T12:00:00.000Z"}
	switch {
	case t.canceled:
		v["status"] = "CANCELLED"
	case t.polls < PollsToComplete:
		v["status"] = "PENDING"
	case t.polls == PollsToComplete:
		v["status"], v["progress"] = "RUNNING", 0.5
	case t.failCode != "":
		v["status"], v["failureCode"], v["failure"] = "FAILED", t.failCode, t.failMessage
	default:
		v["status"], v["output"] = "SUCCEEDED", []string{s.ts.URL + "/outputs/" + t.id + ".mp4?_jwt=signed"}
	}
	return http.StatusOK, v
}

// delete cancels a task that runs and deletes one that has ended; a
// deleted task is gone (404).
func (s *Server) delete(id string) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tasks[id]
	if !ok || t.deleted {
		return http.StatusNotFound, map[string]string{"error": "Task not found"}
	}
	s.AddCanceled(id)
	if t.canceled || t.polls > PollsToComplete {
		t.deleted = true
	}
	t.canceled = true
	return http.StatusNoContent, nil
}

// framePNG is a 16x9 PNG, the first frame ImageURL serves.
func framePNG() []byte {
	img := image.NewNRGBA(image.Rect(0, 0, 16, 9))
	for x := range 16 {
		for y := range 9 {
			img.Set(x, y, color.NRGBA{uint8(x * 16), uint8(y * 28), 128, 255})
		}
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return b.Bytes()
}
