// Package piapifake is a fake PiAPI server for tests: the unified task API
// (POST /api/v1/task, GET and DELETE /api/v1/task/{task_id}) in PiAPI's
// envelope {code, data, message}, tasks that go pending -> processing ->
// completed over polls, outputs (a PNG, a few bytes of MP4) served from
// the fake's own URL, the x-api-key header checked, and the faults of
// providertest answered in PiAPI's shapes. A task created with
// config.webhook_config ends at once, and the endpoint is called with
// {timestamp, data: the task} at each status (pending, processing, then
// completed or failed), the secret in x-webhook-secret, as PiAPI does.
package piapifake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/videoai/mediatasks/shared/provider/providertest"
)

// Key is the API key the fake of New takes.
const Key = "piapi-fake-key-0123456789"

// SafetyMessage is the message of a task the fake fails on its content
// rules (FaultSafety) [?: PiAPI documents no safety code; its failed
// tasks carry error.code and error.message].
const SafetyMessage = "prompt or image flagged by content moderation: nsfw content detected"

// MP4 is what the fake serves as videos.
var MP4 = providertest.MP4

// Request is one API call the fake received.
type Request struct {
	Method string
	Path   string
	Body   map[string]any // the decoded JSON body, nil for none
	APIKey string
}

type fakeTask struct {
	id, model, taskType string
	input               map[string]any
	polls               int
	status              string
	safety              bool
	// The create's webhook_config.
	endpoint, secret string
}

// Server is a running fake.
type Server struct {
	providertest.Faults
	providertest.Callbacks
	srv   *httptest.Server
	key   string
	mu    sync.Mutex
	reqs  []Request
	tasks map[string]*fakeTask
	next  int
	// envCode and envMsg, when set, answer every API call with HTTP 200
	// and this error code and message in the envelope.
	envCode int
	envMsg  string
	// PollsToComplete is how many GETs a task takes to complete (default 2).
	PollsToComplete int
}

// New starts a fake that takes Key; the caller closes it.
func New() *Server { return NewWithKey(Key) }

// NewWithKey starts a fake that takes key.
func NewWithKey(key string) *Server {
	s := &Server{key: key, tasks: map[string]*fakeTask{}, PollsToComplete: 2}
	s.Faults = providertest.Faults{Errors: func(w http.ResponseWriter, status int, message string) { envelope(w, status, nil, message) },
		Throttled: "too many requests, please slow down", ServerError: "internal server error"}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/task", s.create)
	mux.HandleFunc("GET /api/v1/task/{id}", s.get)
	mux.HandleFunc("DELETE /api/v1/task/{id}", s.cancel)
	mux.HandleFunc("GET /files/{name}", s.file)
	s.srv = httptest.NewServer(mux)
	return s
}

// URL is the base_url to configure.
func (s *Server) URL() string { return s.srv.URL }

// Close stops the server.
func (s *Server) Close() {
	s.CloseFaults()
	s.Settle()
	s.srv.Close()
}

// FailInEnvelope makes every following API call answer HTTP 200 with
// code and message in PiAPI's envelope (as its gateway may); code 0 stops
// it.
func (s *Server) FailInEnvelope(code int, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.envCode, s.envMsg = code, message
}

// Requests are the API calls received, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

// LastCreate is the body of the last POST /api/v1/task (nil if none).
func (s *Server) LastCreate() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.reqs) - 1; i >= 0; i-- {
		if s.reqs[i].Method == http.MethodPost {
			return s.reqs[i].Body
		}
	}
	return nil
}

func envelope(w http.ResponseWriter, status int, data any, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"code": status, "data": data, "message": message})
}

// api records the call, checks the key and answers the fault; it reports
// whether the handler goes on.
func (s *Server) api(w http.ResponseWriter, r *http.Request) (map[string]any, providertest.Fault, bool) {
	var raw bytes.Buffer
	_, _ = raw.ReadFrom(r.Body)
	var body map[string]any
	if raw.Len() > 0 {
		if err := json.Unmarshal(raw.Bytes(), &body); err != nil {
			envelope(w, http.StatusBadRequest, nil, "invalid request body: "+err.Error())
			return nil, "", false
		}
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, Request{Method: r.Method, Path: r.URL.Path, Body: body, APIKey: r.Header.Get("X-Api-Key")})
	fault := s.Fault()
	envCode, envMsg := s.envCode, s.envMsg
	s.mu.Unlock()
	if envCode != 0 {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"code": envCode, "data": nil, "message": envMsg})
		return nil, fault, false
	}
	if fault == providertest.FaultAuth || r.Header.Get("X-Api-Key") != s.key {
		envelope(w, http.StatusUnauthorized, nil, "Unauthorized: invalid api key")
		return nil, fault, false
	}
	if s.Answer(w, r) {
		return nil, fault, false
	}
	switch fault {
	case providertest.FaultTruncated:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"code": 200, "data": {"task_id": "`))
		return nil, fault, false
	}
	return body, fault, true
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	body, fault, ok := s.api(w, r)
	if !ok {
		return
	}
	model, _ := body["model"].(string)
	taskType, _ := body["task_type"].(string)
	input, _ := body["input"].(map[string]any)
	prompt, _ := input["prompt"].(string)
	if model == "" || taskType == "" || input == nil {
		envelope(w, http.StatusBadRequest, nil, "invalid request: model, task_type and input are required")
		return
	}
	if prompt == "" && input["image_url"] == nil {
		envelope(w, http.StatusBadRequest, nil, "invalid request: input.prompt is required")
		return
	}
	s.mu.Lock()
	s.next++
	t := &fakeTask{id: fmt.Sprintf("0f6475%02d-12bd-48b1-b813-%012d", s.next, s.next), model: model, taskType: taskType,
		input: input, status: "pending", safety: fault == providertest.FaultSafety}
	if cfg, ok := body["config"].(map[string]any); ok {
		if wc, ok := cfg["webhook_config"].(map[string]any); ok {
			t.endpoint, _ = wc["endpoint"].(string)
			t.secret, _ = wc["secret"].(string)
		}
	}
	s.tasks[t.id] = t
	data := s.view(t)
	var calls []providertest.Call
	if t.endpoint != "" {
		// The fake is quick: the task runs and ends at once.
		calls = append(calls, s.webhookCall(t))
		t.status = "processing"
		calls = append(calls, s.webhookCall(t))
		t.status = "completed"
		if t.safety {
			t.status = "failed"
		}
		calls = append(calls, s.webhookCall(t))
	}
	s.mu.Unlock()
	envelope(w, http.StatusOK, data, "success")
	if len(calls) > 0 {
		s.Send(t.endpoint, calls...)
	}
}

// webhookCall is the webhook of the task as it is now, with its secret
// (a wrong one with CallbackBadSignature); s.mu held.
func (s *Server) webhookCall(t *fakeTask) providertest.Call {
	body, _ := json.Marshal(map[string]any{"timestamp": 1733335200 + t.polls, "data": s.view(t)})
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	secret := t.secret
	if s.CallbackFault() == providertest.CallbackBadSignature {
		secret = "not-" + secret
	}
	if secret != "" {
		h.Set("X-Webhook-Secret", secret)
	}
	return providertest.Call{Method: http.MethodPost, Header: h, Body: body}
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	_, _, ok := s.api(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tasks[r.PathValue("id")]
	if t == nil {
		envelope(w, http.StatusNotFound, nil, "task not found")
		return
	}
	if t.status == "pending" || t.status == "processing" {
		t.polls++
		switch {
		case t.safety:
			t.status = "failed"
		case t.polls >= s.PollsToComplete:
			t.status = "completed"
		default:
			t.status = "processing"
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"code": 200, "data": s.view(t), "message": "success"})
}

func (s *Server) cancel(w http.ResponseWriter, r *http.Request) {
	_, _, ok := s.api(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tasks[r.PathValue("id")]
	switch {
	case t == nil:
		envelope(w, http.StatusNotFound, nil, "task not found")
	case t.status != "pending":
		envelope(w, http.StatusBadRequest, nil, "only pending tasks can be canceled, task is "+t.status)
	default:
		t.status = "failed"
		s.AddCanceled(t.id)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"code": 200, "message": "task " + t.id + " canceled"})
	}
}

// view is the task as PiAPI answers it (s.mu held).
func (s *Server) view(t *fakeTask) map[string]any {
	errObj := map[string]any{"code": 0, "raw_message": "", "message": "", "detail": nil}
	var output any
	switch {
	case t.status == "failed" && t.safety:
		errObj = map[string]any{"code": 10000, "raw_message": "content moderation: nsfw", "message": SafetyMessage, "detail": nil}
	case t.status == "failed":
		errObj = map[string]any{"code": 10000, "raw_message": "", "message": "task canceled by user", "detail": nil}
	case t.status == "completed":
		output = s.output(t)
	}
	return map[string]any{
		"task_id": t.id, "model": t.model, "task_type": t.taskType, "status": t.status,
		"config": map[string]any{"service_mode": "", "webhook_config": map[string]any{"endpoint": t.endpoint, "secret": t.secret}},
		"input":  t.input, "output": output,
		"meta": map[string]any{"created_at": "2026-12-04T18:00:00Z", "started_at": "0001-01-01T00:00:00Z",
			"ended_at": "0001-01-01T00:00:00Z", "usage": map[string]any{"type": "quota", "frozen": 0, "consume": 150000},
			"is_using_private_pool": false},
		"detail": nil, "logs": []any{}, "error": errObj,
	}
}

// output is a completed task's output in the shape of its model: Flux's
// image_url (and image_urls for a batch), Kling's works and video_url,
// other video models' video_url.
func (s *Server) output(t *fakeTask) map[string]any {
	base := s.srv.URL + "/files/" + t.id
	if strings.HasPrefix(strings.ToLower(t.model), "qubico/flux") {
		n := 1
		if b, ok := t.input["batch_size"].(float64); ok && b > 1 {
			n = int(b)
		}
		urls := make([]string, n)
		for i := range urls {
			urls[i] = base + "-" + strconv.Itoa(i) + ".png"
		}
		out := map[string]any{"image_url": urls[0], "image_base64": ""}
		if n > 1 {
			out["image_urls"] = urls
		}
		return out
	}
	video := base + ".mp4"
	if t.model == "kling" {
		return map[string]any{"type": "m2v_txt2video", "status": 99, "video_url": video, "works": []any{map[string]any{
			"status": 99, "type": "m2v_txt2video",
			"cover": map[string]any{"resource": base + "-cover.png", "resource_without_watermark": "", "height": 720, "width": 1280, "duration": 0},
			"video": map[string]any{"resource": base + "-wm.mp4", "resource_without_watermark": video, "height": 720, "width": 1280, "duration": 5100},
		}}}
	}
	return map[string]any{"video_url": video}
}

// file serves an output, or 404 with FaultExpiredOutput.
func (s *Server) file(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	fault := s.Fault()
	s.mu.Unlock()
	if fault == providertest.FaultExpiredOutput {
		http.Error(w, "NoSuchKey: The specified key does not exist.", http.StatusNotFound)
		return
	}
	name := r.PathValue("name")
	switch {
	case strings.HasSuffix(name, ".png"):
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(providertest.PNG(len(name)))
	case strings.HasSuffix(name, ".mp4"):
		w.Header().Set("Content-Type", "video/mp4")
		_, _ = w.Write(MP4)
	default:
		http.NotFound(w, r)
	}
}
