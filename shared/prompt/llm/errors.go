package llm

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/videoai/mediatasks/shared/webhook"
)

// Error is one failed attempt: an error answer of the provider, a
// transport failure, or an answer the rewriter cannot use. Rewrite returns
// the last one, wrapped with the task type, the model and the attempts.
type Error struct {
	Status     int           // the HTTP status; 0 when no answer came
	Type       string        // the provider's error type (e.g. "rate_limit_error") or one of the Fail* types below
	Message    string        // the provider's message, or what went wrong; never the key
	Retryable  bool          // another attempt may succeed
	RetryAfter time.Duration // the wait the provider asked for (capped at MaxRetryAfter), 0 when it did not say
	Err        error         // the cause, if any
}

// The types of the failures the rewriter names itself.
const (
	FailTimeout       = "timeout"        // the attempt took longer than Config.Timeout
	FailNetwork       = "network"        // no answer: connection refused, reset, DNS ...
	FailRedirect      = "redirect"       // a 3xx answer; never followed
	FailBadResponse   = "bad_response"   // a 2xx answer that is not the wire format's JSON
	FailRefusal       = "refusal"        // the model declined to answer
	FailContentFilter = "content_filter" // the provider's filter withheld the answer
	FailTruncated     = "truncated"      // the answer hit max_tokens
	FailEmptyAnswer   = "empty_answer"   // no text, or a JSON answer with no prompt
	FailBadAnswer     = "bad_answer"     // JSON that is not {"prompt": ..., "negative_prompt": ...}
)

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("llm")
	if e.Status != 0 {
		fmt.Fprintf(&b, " %d", e.Status)
	}
	if e.Type != "" {
		b.WriteString(" " + e.Type)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// ErrEmptyPrompt: Rewrite was given no prompt to rewrite; nothing was
// sent.
var ErrEmptyPrompt = errors.New("no prompt to rewrite")

// ErrUnknownTaskType: Rewrite was given a task type it has no system
// prompt for; nothing was sent.
var ErrUnknownTaskType = errors.New("unknown task type")

// retryableStatus lists the answers worth another attempt: rate limits,
// server faults and overload. 400, 401, 403, 404, 413 and the rest of the
// 4xx fail at once.
func retryableStatus(code int) bool {
	switch code {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout, 529: // 529: Anthropic's overloaded_error
		return true
	}
	return false
}

// maxMessage bounds the provider text an error carries.
const maxMessage = 300

// statusError reads a non-2xx answer. Both wire formats put the error in
// "error": an object {type, message, code} (OpenAI, Anthropic, vLLM) or a
// string (Ollama); any other body is quoted, shortened.
func statusError(resp *http.Response, body []byte, now time.Time) *Error {
	e := &Error{Status: resp.StatusCode, Retryable: retryableStatus(resp.StatusCode)}
	if e.Retryable {
		e.RetryAfter, _ = retryAfter(resp.Header, now)
	}
	var env struct {
		Error json.RawMessage `json:"error"`
	}
	var obj struct {
		Type    string          `json:"type"`
		Code    json.RawMessage `json:"code"`
		Message string          `json:"message"`
	}
	var str string
	switch {
	case json.Unmarshal(body, &env) == nil && json.Unmarshal(env.Error, &obj) == nil && (obj.Message != "" || obj.Type != ""):
		e.Type, e.Message = obj.Type, obj.Message
		if e.Type == "" {
			e.Type = strings.Trim(string(obj.Code), `"`)
			if e.Type == "null" {
				e.Type = ""
			}
		}
	case env.Error != nil && json.Unmarshal(env.Error, &str) == nil:
		e.Message = str
	default:
		e.Message = strings.TrimSpace(string(body))
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		e.Type = FailRedirect
		e.Message = "redirect to " + resp.Header.Get("Location") + " not followed; set base_url to the final address"
	}
	e.Message = shorten(e.Message)
	return e
}

func shorten(s string) string {
	if len(s) <= maxMessage {
		return s
	}
	cut := maxMessage
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// retryAfter is the webhook sender's reading of a Retry-After header
// (seconds or an HTTP date, as a wait from now), capped at MaxRetryAfter:
// an LLM call waits far less than a webhook retry may. It reports false when the
// header is absent, unreadable or not in the future.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	d, ok := webhook.RetryAfter(h, now)
	return min(d, MaxRetryAfter), ok
}

// backoff is the wait before retry n (1 for the first): full jitter, a
// uniform pick in [0, min(backoffCap, backoffBase·2^(n-1))].
func backoff(n int) time.Duration {
	ceiling := backoffCap
	if n < 5 { // backoffBase·2^4 passes the cap already
		ceiling = min(backoffBase<<max(n-1, 0), backoffCap)
	}
	return rand.N(ceiling + 1)
}
