package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/webhook"
)

// DefaultMaxAnswer caps an API answer read into memory: base64 images
// make some answers tens of megabytes.
const DefaultMaxAnswer = 128 << 20

// Problem is what an adapter reads from a provider's error answer.
type Problem struct {
	Code    string // the provider's code, e.g. "rate_limit_exceeded"
	Message string
	// Safety: the provider refused the content on its rules.
	Safety bool
	// Quota: the account is out of credit or over a hard cap; permanent
	// even when the status is 429.
	Quota bool
	// Transient: the provider says the failure is its own and may pass,
	// whatever the status.
	Transient bool
}

// Client calls one provider's API.
type Client struct {
	// Name is the provider's configured name, for error messages.
	Name    string
	BaseURL string
	// Auth sets the provider's credentials on every call.
	Auth func(h http.Header)
	// Header is sent on every call (e.g. X-Runway-Version).
	Header http.Header
	// Problem reads an error answer; nil: the message is the body's start.
	Problem func(status int, body []byte) Problem
	// HTTP sends API calls (default: a client with Timeout).
	HTTP    *http.Client
	Timeout time.Duration // of one call (default 1 minute)
	// MaxAnswer caps an answer's body (default DefaultMaxAnswer).
	MaxAnswer int64
	Now       func() time.Time
}

// NewClient returns a client for s: API calls to s.BaseURL with s's
// timeout. base_url is the operator's, so it may be any address; the
// URLs a provider answers with are fetched through the guard (Fetcher).
func NewClient(name string, s Settings, auth func(h http.Header)) *Client {
	return &Client{Name: name, BaseURL: s.BaseURL, Auth: auth, Timeout: s.Timeout,
		HTTP: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}}
}

// Call is one request.
type Call struct {
	Method string
	// Path is joined to the base URL; an absolute URL (one the provider
	// answered with) is used as it is.
	Path string
	// JSON is sent as the body, encoded; or Body with ContentType.
	JSON        any
	Body        io.Reader
	ContentType string
	Header      http.Header
}

// Answer is a successful (2xx) answer.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// Decode reads the answer's JSON into v; a body that is not the JSON
// expected (cut short, or another shape) is a transient bad_answer.
func (a *Answer) Decode(name string, v any) error {
	if err := json.Unmarshal(a.Body, v); err != nil {
		return provider.NewTransient("bad_answer", fmt.Sprintf("%s answered %d with a body that is not the JSON expected (%d bytes)", name, a.Status, len(a.Body)), err)
	}
	return nil
}

// Do sends c and reads the answer. A non-2xx answer is a *provider.Error
// classified by status and the provider's problem (see Classify); a
// timeout or a connection failure is transient; the caller's canceled
// context is returned as such.
func (cl *Client) Do(ctx context.Context, c Call) (*Answer, error) {
	req, err := cl.request(ctx, c)
	if err != nil {
		return nil, err
	}
	timeout := cl.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	callCtx, cancel := context.WithTimeout(req.Context(), timeout)
	defer cancel()
	req = req.WithContext(callCtx)
	resp, err := cl.HTTP.Do(req)
	if err != nil {
		return nil, cl.callError(ctx, c, err)
	}
	defer resp.Body.Close()
	limit := cl.MaxAnswer
	if limit <= 0 {
		limit = DefaultMaxAnswer
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, cl.callError(ctx, c, err)
	}
	if int64(len(body)) > limit {
		return nil, provider.NewTransient("answer_too_large", fmt.Sprintf("%s answered more than %d bytes", cl.Name, limit), nil)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var p Problem
		if cl.Problem != nil {
			p = cl.Problem(resp.StatusCode, body)
		}
		if p.Message == "" {
			p.Message = snippet(body)
		}
		now := time.Now
		if cl.Now != nil {
			now = cl.Now
		}
		return nil, Classify(cl.Name, resp.StatusCode, RetryAfter(resp.Header, now()), p)
	}
	return &Answer{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// JSON sends c and decodes a 2xx answer's JSON into out (when not nil).
func (cl *Client) JSON(ctx context.Context, c Call, out any) (*Answer, error) {
	a, err := cl.Do(ctx, c)
	if err != nil {
		return nil, err
	}
	if out != nil {
		if err := a.Decode(cl.Name, out); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func (cl *Client) request(ctx context.Context, c Call) (*http.Request, error) {
	target := c.Path
	if !strings.HasPrefix(target, "http://") && !strings.HasPrefix(target, "https://") {
		target = cl.BaseURL + "/" + strings.TrimLeft(c.Path, "/")
	}
	body, ct := c.Body, c.ContentType
	if c.JSON != nil {
		b, err := json.Marshal(c.JSON)
		if err != nil {
			return nil, fmt.Errorf("%s: encode request: %w", cl.Name, err)
		}
		body, ct = bytes.NewReader(b), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, c.Method, target, body)
	if err != nil {
		return nil, provider.NewPermanent("bad_request_url", fmt.Sprintf("%s: cannot call %s %s", cl.Name, c.Method, redact(target)), nil)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "mediatasks")
	for k, vs := range cl.Header {
		req.Header[k] = vs
	}
	for k, vs := range c.Header {
		req.Header[k] = vs
	}
	if cl.Auth != nil {
		cl.Auth(req.Header)
	}
	return req, nil
}

// callError classifies a request that got no answer. The message names
// the method and the URL without its query; url.Error's own text is not
// used, as a query may carry a secret.
func (cl *Client) callError(ctx context.Context, c Call, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %s: %w", cl.Name, c.Method, context.Cause(ctx))
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	where := fmt.Sprintf("%s %s", c.Method, redact(c.Path))
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		return provider.NewTransient("timeout", fmt.Sprintf("%s did not answer %s in time", cl.Name, where), context.DeadlineExceeded)
	}
	return provider.NewTransient("connection", fmt.Sprintf("%s: %s failed: %v", cl.Name, where, err), nil)
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// Classify turns an error answer into the platform's error by the rules
// every provider shares: 408, 409, 425 and 5xx transient; 429 throttled
// (retryAfter when the provider said); 401, 402 and 403 permanent (the
// account's: they count against the provider's breaker); other 4xx
// permanent faults of the request. The provider's problem refines it: a
// safety refusal is never retried on this provider, a quota problem is
// permanent even as a 429, and a transient one is retried whatever the
// status. The message says what the provider said.
func Classify(name string, status int, retryAfter time.Duration, p Problem) *provider.Error {
	code := p.Code
	if code == "" {
		code = "http_" + strconv.Itoa(status)
	}
	msg := fmt.Sprintf("%s answered %d", name, status)
	if p.Message != "" {
		msg += ": " + p.Message
	}
	switch {
	case p.Safety:
		return provider.NewSafetyRefusal(code, msg, nil)
	case p.Quota:
		return provider.NewPermanent(code, msg, nil)
	case status == http.StatusTooManyRequests:
		return provider.NewThrottled(code, msg, retryAfter, nil)
	case p.Transient, status == http.StatusRequestTimeout, status == http.StatusConflict, status == http.StatusTooEarly, status >= 500:
		if retryAfter > 0 {
			return provider.NewThrottled(code, msg, retryAfter, nil)
		}
		return provider.NewTransient(code, msg, nil)
	case status == http.StatusUnauthorized, status == http.StatusPaymentRequired, status == http.StatusForbidden:
		return provider.NewPermanent(code, msg, nil)
	}
	return provider.NewRejected(code, msg, nil)
}

// RetryAfter is how long an answer asks to wait: retry-after-ms (as
// OpenAI and Anthropic send), else Retry-After in seconds or as a date;
// 0 when neither says.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 && ms < float64(webhook.MaxRetryAfter/time.Millisecond) {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	d, _ := webhook.RetryAfter(h, now)
	return d
}

// snippet is the start of an error body, as one line.
func snippet(body []byte) string {
	s := strings.Join(strings.Fields(string(body)), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// redact drops a URL's query, which may carry a secret.
func redact(raw string) string {
	if i := strings.IndexByte(raw, '?'); i >= 0 {
		return raw[:i]
	}
	return raw
}
