package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// Request is a prompt to rewrite.
type Request struct {
	TaskType       string // "image_generation", "video_generation", "audio_transcription" or "subtitle_generation"
	Prompt         string
	NegativePrompt string
}

// Result is a rewritten prompt.
type Result struct {
	Prompt         string
	NegativePrompt string // the model's, or the request's when the model gave none
	Model          string // the model that answered, as the provider names it
	Attempts       int    // requests sent, retries included
}

// maxAnswerBytes bounds the answer body read.
const maxAnswerBytes = 1 << 20

// Rewrite asks the model for a better prompt. Rate limits, server faults,
// network failures and timeouts are retried up to Config.MaxRetries times,
// waiting as the provider's Retry-After says or a jittered backoff; other
// failures end at once. The error wraps the last attempt's *Error (or the
// context's error when ctx ended first); the Result then still says the
// attempts made.
func (r *Rewriter) Rewrite(ctx context.Context, req Request) (Result, error) {
	res := Result{Model: r.cfg.Model}
	system, ok := r.system[req.TaskType]
	if !ok {
		return res, fmt.Errorf("rewrite prompt: %w %q", ErrUnknownTaskType, req.TaskType)
	}
	if strings.TrimSpace(req.Prompt) == "" {
		return res, fmt.Errorf("rewrite %s prompt: %w", req.TaskType, ErrEmptyPrompt)
	}
	path, header, body := r.wire.request(r.cfg, r.key, system, userMessage(req))
	payload, err := json.Marshal(body)
	if err != nil {
		return res, fmt.Errorf("rewrite %s prompt: encode request: %w", req.TaskType, err)
	}
	start := r.now()
	for {
		res.Attempts++
		text, model, err := r.attempt(ctx, r.cfg.BaseURL+path, header, payload)
		var ans answer
		if err == nil {
			ans, err = readAnswer(text)
		}
		if err == nil {
			res.Prompt = ans.Prompt
			res.NegativePrompt = req.NegativePrompt
			if ans.HasNegative {
				res.NegativePrompt = ans.NegativePrompt
			}
			if model != "" {
				res.Model = model
			}
			r.log.DebugContext(ctx, "llm rewrite", slog.String("task_type", req.TaskType),
				slog.Int("attempts", res.Attempts), slog.Duration("took", r.now().Sub(start)))
			return res, nil
		}
		wrap := func(err error) error {
			return fmt.Errorf("rewrite %s prompt with %s model %s (attempts %d): %w", req.TaskType, r.cfg.Type, r.cfg.Model, res.Attempts, err)
		}
		if ctx.Err() != nil {
			return res, wrap(ctx.Err())
		}
		if !err.Retryable || res.Attempts > r.cfg.MaxRetries {
			r.log.WarnContext(ctx, "llm rewrite failed", slog.String("task_type", req.TaskType),
				slog.Int("attempts", res.Attempts), slog.String("error", err.Error()))
			return res, wrap(err)
		}
		wait := err.RetryAfter
		if wait == 0 {
			wait = backoff(res.Attempts)
		}
		r.log.InfoContext(ctx, "llm rewrite retry", slog.String("task_type", req.TaskType),
			slog.Int("attempt", res.Attempts), slog.String("error", err.Error()), slog.Duration("wait", wait))
		if serr := r.sleep(ctx, wait); serr != nil {
			return res, fmt.Errorf("%w; last: %w", wrap(serr), err)
		}
	}
}

// attempt sends one request within Config.Timeout and returns the
// model's text.
func (r *Rewriter) attempt(ctx context.Context, url string, header http.Header, payload []byte) (string, string, *Error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil { // the base URL was checked: not reached
		return "", "", &Error{Type: FailNetwork, Message: r.redact(err.Error()), Err: err}
	}
	hreq.Header = header.Clone()
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	resp, err := r.http.Do(hreq)
	var body []byte
	if err == nil {
		body, err = io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
		resp.Body.Close()
	}
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return "", "", &Error{Type: FailTimeout, Message: "no answer within " + r.cfg.Timeout.String(), Retryable: true, Err: context.DeadlineExceeded}
		}
		return "", "", &Error{Type: FailNetwork, Message: r.redact(err.Error()), Retryable: true, Err: err}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := statusError(resp, body, r.now())
		e.Message = r.redact(e.Message)
		return "", "", e
	}
	text, model, e := r.wire.answer(body)
	if e != nil {
		e.Message = r.redact(e.Message)
	}
	return text, model, e
}

// userMessage frames the request as data: a JSON object whose fields the
// system prompts say are material to rewrite, never instructions.
func userMessage(req Request) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(struct {
		Prompt         string `json:"prompt"`
		NegativePrompt string `json:"negative_prompt,omitempty"`
	}{req.Prompt, req.NegativePrompt}) // strings only: cannot fail
	return strings.TrimSpace(b.String())
}

// answer is the model's reply as read.
type answer struct {
	Prompt         string
	NegativePrompt string
	HasNegative    bool // the reply said a negative prompt, maybe ""
}

// readAnswer takes the model's text: a JSON object {"prompt",
// "negative_prompt"}, bare or in a ``` fence, or else plain text, which is
// the prompt itself. Text that opens as JSON but does not read as the
// object is a failure, not a prompt.
func readAnswer(text string) (answer, *Error) {
	text = unfence(strings.TrimSpace(text))
	if text == "" {
		return answer{}, &Error{Status: http.StatusOK, Type: FailEmptyAnswer, Message: "the model answered nothing"}
	}
	if !strings.HasPrefix(text, "{") {
		return answer{Prompt: text}, nil
	}
	var obj struct {
		Prompt         json.RawMessage `json:"prompt"`
		NegativePrompt json.RawMessage `json:"negative_prompt"`
	}
	if err := json.Unmarshal([]byte(text), &obj); err != nil {
		return answer{}, &Error{Status: http.StatusOK, Type: FailBadAnswer, Message: "the answer is not a JSON object: " + err.Error(), Err: err}
	}
	var a answer
	var ok bool
	if a.Prompt, ok = textField(obj.Prompt); !ok {
		return answer{}, &Error{Status: http.StatusOK, Type: FailBadAnswer, Message: `"prompt" is not a string or a list of strings`}
	}
	if a.Prompt == "" {
		return answer{}, &Error{Status: http.StatusOK, Type: FailEmptyAnswer, Message: `the answer has no "prompt"`}
	}
	if obj.NegativePrompt != nil {
		if a.NegativePrompt, ok = textField(obj.NegativePrompt); !ok {
			return answer{}, &Error{Status: http.StatusOK, Type: FailBadAnswer, Message: `"negative_prompt" is not a string or a list of strings`}
		}
		a.HasNegative = true
	}
	return a, nil
}

// textField reads a string, or a list of strings joined with ", " (the
// shape a model may give a list of vocabulary hints). Absent or null is "".
func textField(raw json.RawMessage) (string, bool) {
	if raw == nil || string(raw) == "null" {
		return "", true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s), true
	}
	var list []string
	if json.Unmarshal(raw, &list) != nil {
		return "", false
	}
	kept := list[:0]
	for _, s := range list {
		if s = strings.TrimSpace(s); s != "" {
			kept = append(kept, s)
		}
	}
	return strings.Join(kept, ", "), true
}

// unfence returns the inside of a Markdown code fence (```json ... ```)
// that is the whole text, or the text as it is.
func unfence(text string) string {
	if !strings.HasPrefix(text, "```") || !strings.HasSuffix(text, "```") || len(text) < 6 {
		return text
	}
	inner := text[3 : len(text)-3]
	if nl := strings.IndexByte(inner, '\n'); nl >= 0 && !strings.ContainsAny(inner[:nl], " {") {
		inner = inner[nl+1:] // the info string: json, JSON, ...
	}
	return strings.TrimSpace(inner)
}
