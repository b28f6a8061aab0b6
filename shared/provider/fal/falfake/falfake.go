// Package falfake is a fake of fal.ai's queue API for tests: submit,
// status (IN_QUEUE, then IN_PROGRESS, then COMPLETED over three polls),
// result, cancel, with fal's error bodies, and output files (a real PNG,
// a few bytes of MP4) served from the fake's own URL without auth, as
// fal's CDN serves them. A submit with ?fal_webhook= ends the request at
// once and calls the webhook back, signed with ED25519 by a key whose
// JWKS the fake serves at JWKSURL, as fal does.
package falfake

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

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
	Query  url.Values
	Header http.Header
	// Body is the JSON body decoded (nil for none).
	Body map[string]any
}

// Server is a started fake; Close it.
type Server struct {
	providertest.Faults
	providertest.Callbacks
	srv *httptest.Server
	key ed25519.PrivateKey

	mu       sync.Mutex
	seq      int
	jobs     map[string]*job
	requests []Request
	// jwksFetches are the headers of each read of the key set.
	jwksFetches []http.Header
}

// JWKSFetches lists the headers of each read of the key set.
func (s *Server) JWKSFetches() []http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.jwksFetches)
}

// RotateKey gives the fake a new signing key (its key set changes too).
func (s *Server) RotateKey() {
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		panic(fmt.Sprintf("falfake: %v", err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.key = key
}

// Sign signs a webhook body for request id at ts, as fal does.
func (s *Server) Sign(id string, ts time.Time, body []byte) http.Header {
	s.mu.Lock()
	key := s.key
	s.mu.Unlock()
	return signed(key, id, ts, body)
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
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		panic(fmt.Sprintf("falfake: %v", err))
	}
	s := &Server{jobs: map[string]*job{}, key: key}
	s.Faults = providertest.Faults{Errors: writeError, ServerStatus: http.StatusServiceUnavailable,
		Throttled: "Rate limit exceeded: too many concurrent requests", ServerError: "The runner failed to process the request"}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL is the base_url to configure.
func (s *Server) URL() string { return s.srv.URL }

// UserID is the fake account's user id, in its webhooks' signatures.
const UserID = "fake-user-0001"

// JWKSURL is the webhook_jwks_url to configure.
func (s *Server) JWKSURL() string { return s.srv.URL + "/.well-known/jwks.json" }

// Close stops the fake.
func (s *Server) Close() {
	s.CloseFaults()
	s.Settle()
	s.srv.Close()
}

// serveJWKS answers the public key set, without auth as fal does.
func (s *Server) serveJWKS(w http.ResponseWriter) {
	s.mu.Lock()
	pub := s.key.Public().(ed25519.PublicKey)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"keys": []any{
		map[string]any{"kty": "RSA", "kid": "other", "n": "AQAB", "e": "AQAB"}, // a key of another kind is skipped
		map[string]any{"kty": "OKP", "crv": "Ed25519", "kid": "fal-webhook-1", "alg": "EdDSA", "use": "sig", "x": base64.RawURLEncoding.EncodeToString(pub)},
	}})
}

// webhookCall is the webhook of an ended request, signed as the
// callback fault says.
func (s *Server) webhookCall(id string, j *job, fault providertest.Fault) providertest.Call {
	v := map[string]any{"request_id": id, "gateway_request_id": id, "status": "OK", "payload": s.output(j, id, fault)}
	if j.safety {
		v["status"], v["error"] = "ERROR", "Invalid status code: 422"
		v["payload"] = map[string]any{"detail": []any{map[string]any{"loc": []any{"body", "prompt"}, "type": "content_policy_violation",
			"msg": "The content could not be processed because it contained material flagged by a content checker."}}}
	}
	body, _ := json.Marshal(v)
	key, ts := s.key, time.Now()
	switch s.CallbackFault() {
	case providertest.CallbackBadSignature:
		_, key, _ = ed25519.GenerateKey(nil)
	case providertest.CallbackStale:
		ts = ts.Add(-providertest.StaleBy)
	}
	return providertest.Call{Method: http.MethodPost, Header: signed(key, id, ts, body), Body: body}
}

func signed(key ed25519.PrivateKey, id string, ts time.Time, body []byte) http.Header {
	tsText := strconv.FormatInt(ts.Unix(), 10)
	digest := sha256.Sum256(body)
	sig := ed25519.Sign(key, []byte(id+"\n"+UserID+"\n"+tsText+"\n"+hex.EncodeToString(digest[:])))
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("X-Fal-Webhook-Request-Id", id)
	h.Set("X-Fal-Webhook-User-Id", UserID)
	h.Set("X-Fal-Webhook-Timestamp", tsText)
	h.Set("X-Fal-Webhook-Signature", hex.EncodeToString(sig))
	return h
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
	if r.URL.Path == "/.well-known/jwks.json" && r.Method == http.MethodGet {
		s.mu.Lock()
		s.jwksFetches = append(s.jwksFetches, r.Header.Clone())
		s.mu.Unlock()
		s.serveJWKS(w)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var decoded map[string]any
	_ = json.Unmarshal(body, &decoded)
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(), Body: decoded})
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
	j := &job{app: app, model: strings.Join(parts, "/"), input: decoded, safety: fault == providertest.FaultSafety}
	s.jobs[id] = j
	hook := r.URL.Query().Get("fal_webhook")
	var call providertest.Call
	if hook != "" {
		j.polls = 3 // the fake is quick: the request ends at once
		call = s.webhookCall(id, j, fault)
	}
	s.mu.Unlock()
	root := s.srv.URL + "/" + app + "/requests/" + id
	writeJSON(w, http.StatusOK, map[string]any{
		"request_id": id, "response_url": root, "status_url": root + "/status", "cancel_url": root + "/cancel",
		"queue_position": 0,
	})
	if hook != "" {
		s.Send(hook, call)
	}
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
