// Package assemblyaifake is a fake AssemblyAI server for tests: it speaks
// the documented pre-recorded API (POST /v2/upload, POST /v2/transcript,
// GET and DELETE /v2/transcript/{id}) with the key in the authorization
// header, errors as {"error": "..."}, and transcripts that go from queued
// through processing to completed over a few polls, with word times in
// milliseconds. A transcript created with a webhook_url is completed at
// once and the webhook is called with {transcript_id, status} and the
// auth header asked for, as AssemblyAI does. It records every API call, so a test can assert what an
// adapter sent, and answers with the conformance suite's faults.
package assemblyaifake

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

// Key is the API key the fake takes.
const Key = "aai-test-key-0123456789"

// PollsToComplete is how many GETs of a transcript answer before it is
// completed: the first says queued, the next processing.
const PollsToComplete = 2

// Words are the transcript every job completes with: start and end in
// milliseconds, as AssemblyAI answers them.
var Words = []Word{
	{Text: "Hello", Start: 120, End: 480, Confidence: 0.98},
	{Text: "from", Start: 500, End: 760, Confidence: 0.95},
	{Text: "the", Start: 780, End: 900, Confidence: 0.99},
	{Text: "fake.", Start: 920, End: 1400, Confidence: 0.91},
	{Text: "Goodbye", Start: 1900, End: 2500, Confidence: 0.97},
	{Text: "now.", Start: 2520, End: 2980, Confidence: 0.93},
}

// AudioDuration is the audio_duration (seconds) of every completed job.
const AudioDuration = 3

// Word is one word of a transcript, on the wire.
type Word struct {
	Text       string  `json:"text"`
	Start      int     `json:"start"`
	End        int     `json:"end"`
	Confidence float64 `json:"confidence"`
	Speaker    *string `json:"speaker"`
}

// Call is one API call the fake received.
type Call = providertest.Call

type job struct {
	id      string
	request map[string]any
	polls   int
	fail    string // the error the job ends with, if any
	deleted bool
}

// Server is a running fake.
type Server struct {
	providertest.Faults
	providertest.Callbacks
	ts *httptest.Server

	mu      sync.Mutex
	next    int
	jobs    map[string]*job
	uploads map[string][]byte
	calls   []Call
	// JobError, when set, makes every new transcript end with status
	// "error" and this message.
	jobError string
}

var _ providertest.CallbackFake = (*Server)(nil)

// New starts a fake; the caller closes it.
func New() *Server {
	s := &Server{jobs: map[string]*job{}, uploads: map[string][]byte{}}
	s.Faults = providertest.Faults{Errors: writeError, ServerStatus: http.StatusInternalServerError, Throttled: "Too Many Requests: you have exceeded the rate limit, retry later", ServerError: "Internal server error"}
	s.ts = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL is the base_url to configure (the API root, without /v2).
func (s *Server) URL() string { return s.ts.URL }

// Close stops the server, releasing held requests first.
func (s *Server) Close() {
	s.CloseFaults()
	s.Settle()
	s.ts.Close()
}

// FailJobs makes every transcript created from now on end with status
// "error" and message msg ("" stops it).
func (s *Server) FailJobs(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jobError = msg
}

// Calls lists the API calls received, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// Created lists the bodies of the POST /v2/transcript calls.
func (s *Server) Created() []map[string]any {
	var out []map[string]any
	for _, c := range s.Calls() {
		if c.Method == http.MethodPost && c.Path == "/v2/transcript" {
			out = append(out, c.JSON())
		}
	}
	return out
}

// Uploaded is the bytes of the upload named by an upload_url, if any.
func (s *Server) Uploaded(uploadURL string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.uploads[uploadURL]
	return b, ok
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.calls = append(s.calls, providertest.CallOf(r, body))
	fault := s.Fault()
	s.mu.Unlock()

	if s.Answer(w, r) {
		return
	}
	if fault == providertest.FaultAuth {
		writeError(w, http.StatusUnauthorized, "Authentication error, API token missing/invalid")
		return
	}
	if r.Header.Get("Authorization") != Key {
		writeError(w, http.StatusUnauthorized, "Authentication error, API token missing/invalid")
		return
	}
	var status int
	var answer any
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v2/upload":
		status, answer = s.upload(body)
	case r.Method == http.MethodPost && r.URL.Path == "/v2/transcript":
		status, answer = s.create(body)
	case strings.HasPrefix(r.URL.Path, "/v2/transcript/") && r.Method == http.MethodGet:
		status, answer = s.get(strings.TrimPrefix(r.URL.Path, "/v2/transcript/"))
	case strings.HasPrefix(r.URL.Path, "/v2/transcript/") && r.Method == http.MethodDelete:
		status, answer = s.delete(strings.TrimPrefix(r.URL.Path, "/v2/transcript/"))
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

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func (s *Server) upload(body []byte) (int, any) {
	if len(body) == 0 {
		return http.StatusBadRequest, map[string]string{"error": "No file was uploaded"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	u := fmt.Sprintf("%s/upload/file-%d", s.ts.URL, s.next)
	s.uploads[u] = body
	return http.StatusOK, map[string]string{"upload_url": u}
}

func (s *Server) create(body []byte) (int, any) {
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil {
		return http.StatusBadRequest, map[string]string{"error": "Invalid JSON body"}
	}
	if u, _ := req["audio_url"].(string); u == "" {
		return http.StatusBadRequest, map[string]string{"error": "audio_url is required"}
	}
	if _, ok := req["speech_models"]; !ok {
		return http.StatusBadRequest, map[string]string{"error": "speech_models is required"}
	}
	if _, ok := req["prompt"]; ok {
		if _, both := req["keyterms_prompt"]; both {
			return http.StatusBadRequest, map[string]string{"error": "prompt and keyterms_prompt cannot be used together"}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	j := &job{id: fmt.Sprintf("tr-%04d", s.next), request: req, fail: s.jobError}
	s.jobs[j.id] = j
	answer := s.view(j, "queued")
	if hook, _ := req["webhook_url"].(string); hook != "" {
		j.polls = PollsToComplete - 1 // the fake is quick: the next get answers the end
		s.Send(hook, s.webhookCall(j))
	}
	return http.StatusOK, answer
}

// webhookCall is the webhook of an ended transcript, with the auth
// header the create asked for (a wrong value with CallbackBadSignature).
func (s *Server) webhookCall(j *job) providertest.Call {
	status := "completed"
	if j.fail != "" {
		status = "error"
	}
	body, _ := json.Marshal(map[string]any{"transcript_id": j.id, "status": status})
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	name, _ := j.request["webhook_auth_header_name"].(string)
	value, _ := j.request["webhook_auth_header_value"].(string)
	if s.CallbackFault() == providertest.CallbackBadSignature {
		value = "not-" + value
	}
	if name != "" {
		h.Set(name, value)
	}
	return providertest.Call{Method: http.MethodPost, Header: h, Body: body}
}

func (s *Server) get(id string) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[id]
	if !ok {
		return http.StatusNotFound, map[string]string{"error": "Transcript not found"}
	}
	j.polls++
	switch {
	case j.deleted:
		return http.StatusOK, s.view(j, "completed")
	case j.polls < PollsToComplete:
		return http.StatusOK, s.view(j, "processing")
	case j.fail != "":
		return http.StatusOK, s.view(j, "error")
	}
	return http.StatusOK, s.view(j, "completed")
}

func (s *Server) delete(id string) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[id]
	if !ok {
		return http.StatusNotFound, map[string]string{"error": "Transcript not found"}
	}
	if !j.deleted {
		s.AddCanceled(id)
	}
	// AssemblyAI stops nothing: it redacts the transcript, which stays
	// "completed" with its text replaced.
	j.deleted = true
	return http.StatusOK, s.view(j, "completed")
}

// view is the transcript object in status.
func (s *Server) view(j *job, status string) map[string]any {
	v := map[string]any{
		"id": j.id, "status": status, "audio_url": j.request["audio_url"],
		"speech_models": j.request["speech_models"], "language_code": j.request["language_code"],
		"text": nil, "words": nil, "utterances": nil, "confidence": nil, "audio_duration": nil, "error": nil,
	}
	switch {
	case j.deleted:
		v["text"], v["audio_url"] = "Deleted by user.", "http://deleted_by_user"
	case status == "error":
		v["error"] = j.fail
	case status == "completed":
		words := make([]string, len(Words))
		for i, w := range Words {
			words[i] = w.Text
		}
		lang := j.request["language_code"]
		if lang == nil {
			lang = "en_us"
			v["language_confidence"] = 0.97
		}
		models, _ := j.request["speech_models"].([]any)
		if len(models) > 0 {
			v["speech_model_used"] = models[0]
		}
		v["language_code"] = lang
		v["text"] = strings.Join(words, " ")
		v["words"] = Words
		v["confidence"] = 0.955
		v["audio_duration"] = AudioDuration
		if j.request["speaker_labels"] == true {
			a := "A"
			v["utterances"] = []map[string]any{
				{"speaker": a, "start": Words[0].Start, "end": Words[3].End, "text": "Hello from the fake.", "confidence": 0.96},
				{"speaker": "B", "start": Words[4].Start, "end": Words[5].End, "text": "Goodbye now.", "confidence": 0.95},
			}
		}
	}
	return v
}
