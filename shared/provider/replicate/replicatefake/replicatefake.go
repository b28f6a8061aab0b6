// Package replicatefake is a fake of Replicate's predictions API for
// tests: create by model or by version (Prefer: wait answers the result
// at once), get (starting, then processing with a progress bar in the
// logs, then succeeded at the third get), cancel, problem-details errors,
// and output files (a real PNG, a few bytes of MP4) served from the
// fake's own URL. A create with a webhook ends the prediction at once and
// calls the webhook with the events its filter names, signed with
// Standard Webhooks by the account's secret (GET
// /v1/webhooks/default/secret), as Replicate does.
package replicatefake

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/videoai/mediatasks/shared/provider/providertest"
	"github.com/videoai/mediatasks/shared/webhook"
)

// Key is the token the fake takes: "Authorization: Bearer " + Key.
const Key = "r8_fake0123456789abcdef"

// DataURIModel: outputs of a model whose name holds it come as data:
// URIs instead of URLs.
const DataURIModel = "datauri"

// NSFWPrompt: a prompt holding it fails the prediction as Replicate's
// safety checker does.
const NSFWPrompt = "[nsfw]"

// Request is one API call the fake received.
type Request struct {
	Method string
	Path   string
	Header http.Header
	Body   map[string]any // the JSON body decoded (nil for none)
}

// Server is a started fake; Close it.
type Server struct {
	providertest.Faults
	providertest.Callbacks
	srv *httptest.Server

	mu       sync.Mutex
	seq      int
	preds    map[string]*pred
	requests []Request
	secret   string
}

type pred struct {
	id, model, version string
	input              map[string]any
	gets               int
	status             string
	errText            string
	expired            bool
}

// New starts a fake.
func New() *Server {
	s := &Server{preds: map[string]*pred{}, secret: newSecret()}
	s.Faults = providertest.Faults{Errors: func(w http.ResponseWriter, status int, detail string) {
		problem(w, status, http.StatusText(status), detail)
	}, Throttled: fmt.Sprintf("Request was throttled. Expected available in %d seconds.", providertest.RetryAfterSeconds),
		ServerError: "Something went wrong on our end"}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL is the base_url to configure (with /v1).
func (s *Server) URL() string { return s.srv.URL + "/v1" }

// Close stops the fake.
func (s *Server) Close() {
	s.CloseFaults()
	s.Settle()
	s.srv.Close()
}

// Secret is the account's webhook signing secret (whsec_...).
func (s *Server) Secret() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.secret
}

// RotateSecret gives the account a new signing secret, as the owner may.
func (s *Server) RotateSecret() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secret = newSecret()
}

func newSecret() string {
	secret, err := webhook.NewSecret()
	if err != nil {
		panic(fmt.Sprintf("replicatefake: %v", err))
	}
	return secret
}

// Requests lists the API calls received (not the file downloads).
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Created is the last create call received, or a zero Request.
func (s *Server) Created() Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.requests) - 1; i >= 0; i-- {
		if s.requests[i].Method == http.MethodPost && strings.HasSuffix(s.requests[i].Path, "/predictions") {
			return s.requests[i]
		}
	}
	return Request{}
}

func problem(w http.ResponseWriter, status int, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"title": title, "detail": detail, "status": status})
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

	if r.Header.Get("Authorization") != "Bearer "+Key || fault == providertest.FaultAuth {
		problem(w, http.StatusUnauthorized, "Unauthenticated", "You did not pass a valid authentication token")
		return
	}
	if s.Answer(w, r) {
		return
	}
	switch fault {
	case providertest.FaultTruncated:
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id": "ufawqhfyn`))
		return
	}

	path := strings.TrimPrefix(r.URL.Path, "/v1/")
	parts := strings.Split(path, "/")
	switch {
	case r.Method == http.MethodPost && path == "predictions":
		version, _ := decoded["version"].(string)
		s.create(w, r, decoded, "", version, fault)
	case r.Method == http.MethodPost && len(parts) == 4 && parts[0] == "models" && parts[3] == "predictions":
		s.create(w, r, decoded, parts[1]+"/"+parts[2], "", fault)
	case r.Method == http.MethodGet && path == "webhooks/default/secret":
		writeJSON(w, http.StatusOK, map[string]any{"key": s.Secret()})
	case r.Method == http.MethodGet && len(parts) == 2 && parts[0] == "predictions":
		s.get(w, parts[1])
	case r.Method == http.MethodPost && len(parts) == 3 && parts[0] == "predictions" && parts[2] == "cancel":
		s.cancel(w, parts[1])
	default:
		problem(w, http.StatusNotFound, "Not found", "The requested resource could not be found")
	}
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, body map[string]any, model, version string, fault providertest.Fault) {
	input, ok := body["input"].(map[string]any)
	if !ok {
		problem(w, http.StatusUnprocessableEntity, "Input validation failed", "input is required")
		return
	}
	if p, _ := input["prompt"].(string); p == "" {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		_ = json.NewEncoder(w).Encode(map[string]any{"title": "Input validation failed", "detail": "- input: prompt is required", "status": 422,
			"invalid_fields": []any{map[string]any{"type": "required", "field": "input", "description": "prompt is required"}}})
		return
	}
	if model == "" && version == "" {
		problem(w, http.StatusUnprocessableEntity, "Invalid version or not permitted", "The specified version does not exist (or perhaps you don't have permission to use it?)")
		return
	}
	s.mu.Lock()
	s.seq++
	p := &pred{id: fmt.Sprintf("pred%06dfake", s.seq), model: cmp(model, "acme/versioned"), version: version, input: input, status: "starting",
		expired: fault == providertest.FaultExpiredOutput}
	if strings.Contains(fmt.Sprint(input["prompt"]), NSFWPrompt) || fault == providertest.FaultSafety {
		p.errText = "NSFW content detected. Try running it again, or try a different prompt."
	}
	s.preds[p.id] = p
	hook, _ := body["webhook"].(string)
	var calls []providertest.Call
	if hook != "" {
		// The fake is quick: the prediction starts and ends at once.
		answer := s.view(p)
		s.finish(p)
		calls = s.webhookCalls(p, body["webhook_events_filter"])
		s.mu.Unlock()
		writeJSON(w, http.StatusCreated, answer)
		s.Send(hook, calls...)
		return
	}
	if strings.HasPrefix(r.Header.Get("Prefer"), "wait") {
		s.finish(p) // the fake is quick: a held create answers the end
	}
	answer := s.view(p)
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, answer)
}

// webhookCalls are the webhook calls of an ended prediction: a start
// event and the completed one, as far as filter asks (no filter: every
// event), each the prediction as it was then, signed.
func (s *Server) webhookCalls(p *pred, filter any) []providertest.Call {
	wanted := func(event string) bool {
		list, ok := filter.([]any)
		return !ok || slices.Contains(list, any(event))
	}
	var calls []providertest.Call
	if wanted("start") {
		started := *p
		started.status = "starting"
		calls = append(calls, s.signed(p.id+"_start", s.view(&started)))
	}
	if wanted("completed") {
		calls = append(calls, s.signed(p.id+"_completed", s.view(p)))
	}
	return calls
}

// signed is a webhook call of v, signed as the callback fault says.
func (s *Server) signed(event string, v map[string]any) providertest.Call {
	body, _ := json.Marshal(v)
	id, ts, secret := "msg_"+event, time.Now(), s.secret
	switch s.CallbackFault() {
	case providertest.CallbackBadSignature:
		secret = newSecret()
	case providertest.CallbackStale:
		ts = ts.Add(-providertest.StaleBy)
	}
	sig, err := webhook.Sign([]string{secret}, id, ts, body)
	if err != nil {
		panic(fmt.Sprintf("replicatefake: sign: %v", err))
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(webhook.HeaderID, id)
	h.Set(webhook.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(webhook.HeaderSignature, sig)
	return providertest.Call{Method: http.MethodPost, Header: h, Body: body}
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (s *Server) finish(p *pred) {
	if p.status == "canceled" {
		return
	}
	if p.errText != "" {
		p.status = "failed"
		return
	}
	p.status = "succeeded"
}

func (s *Server) get(w http.ResponseWriter, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.preds[id]
	if !ok {
		problem(w, http.StatusNotFound, "Not found", "The requested prediction could not be found")
		return
	}
	p.gets++
	switch {
	case p.status != "starting" && p.status != "processing":
	case p.errText != "" || p.gets >= 3:
		s.finish(p)
	default:
		p.status = "processing"
	}
	writeJSON(w, http.StatusOK, s.view(p))
}

func (s *Server) cancel(w http.ResponseWriter, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.preds[id]
	if !ok {
		problem(w, http.StatusNotFound, "Not found", "The requested prediction could not be found")
		return
	}
	if p.status == "starting" || p.status == "processing" {
		p.status = "canceled"
		s.AddCanceled(id)
	}
	writeJSON(w, http.StatusOK, s.view(p))
}

func isVideo(model string) bool {
	m := strings.ToLower(model)
	for _, x := range []string{"video", "kling", "wan-", "hailuo", "t2v", "i2v"} {
		if strings.Contains(m, x) {
			return true
		}
	}
	return false
}

// view is the prediction as Replicate answers it.
func (s *Server) view(p *pred) map[string]any {
	api := s.srv.URL + "/v1/predictions/" + p.id
	v := map[string]any{
		"id": p.id, "model": p.model, "version": cmp(p.version, "hidden"), "input": p.input, "status": p.status,
		"output": nil, "error": nil, "logs": "", "data_removed": false, "source": "api",
		"created_at": time.Now().UTC().Format(time.RFC3339Nano),
		"urls":       map[string]any{"get": api, "cancel": api + "/cancel", "stream": s.srv.URL + "/stream/" + p.id},
	}
	switch p.status {
	case "processing":
		v["logs"] = "Using seed: 1234\n 50%|█████     | 2/4 [00:01<00:01,  2.01it/s]"
	case "failed":
		v["error"] = p.errText
		v["logs"] = "Using seed: 1234\n"
	case "succeeded":
		v["logs"] = "Using seed: 1234\n100%|██████████| 4/4 [00:02<00:00,  2.01it/s]"
		v["metrics"] = map[string]any{"predict_time": 2.5, "total_time": 3.1}
		v["completed_at"] = time.Now().UTC().Format(time.RFC3339Nano)
		v["output"] = s.output(p)
	}
	return v
}

func (s *Server) output(p *pred) any {
	files := s.srv.URL + "/files/" + p.id
	if p.expired {
		files = s.srv.URL + "/files/expired-" + p.id
	}
	dataURI := strings.Contains(p.model, DataURIModel)
	if isVideo(p.model) {
		if dataURI {
			return "data:video/mp4;base64," + base64.StdEncoding.EncodeToString(providertest.MP4)
		}
		return files + "/output.mp4"
	}
	n := 1
	if v, ok := p.input["num_outputs"].(float64); ok && v >= 1 {
		n = int(v)
	}
	urls := make([]string, n)
	for i := range urls {
		urls[i] = fmt.Sprintf("%s/out-%d.png", files, i)
		if dataURI {
			urls[i] = "data:image/png;base64," + base64.StdEncoding.EncodeToString(pngBytes)
		}
	}
	// Models of one output (flux-1.1-pro) answer a string.
	if strings.Contains(p.model, "pro") || strings.Contains(p.model, "ultra") {
		return urls[0]
	}
	return urls
}

func (s *Server) serveFile(w http.ResponseWriter, r *http.Request) {
	providertest.ServeFile(w, r, pngBytes)
}

// pngBytes is the PNG the fake's image outputs are.
var pngBytes = providertest.PNG(2)
