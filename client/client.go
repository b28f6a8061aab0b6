// Package client is the Go client of the mediatasks API: typed requests
// and answers, retries that are safe to make (every POST carries an
// Idempotency-Key), typed problem errors, task listing as an iterator,
// and waiting for a task over its server-sent event stream.
//
//	c := client.New("http://127.0.0.1:8080", os.Getenv("MT_KEY"))
//	t, err := c.SubmitImage(ctx, client.ImageRequest{Prompt: "a red fox"})
//	...
//	t, err = c.Wait(ctx, t.ID)
package client

import (
	"bytes"
	"cmp"
	"context"
	crand "crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// apiPrefix is where the API's routes live on a server.
const apiPrefix = "/api/v1/media"

// Defaults of the options.
const (
	DefaultRetries      = 3
	DefaultMaxRetryWait = 30 * time.Second
	DefaultBackoff      = 250 * time.Millisecond
	DefaultUserAgent    = "mediatasks-go-client/1"
)

// Client calls one mediatasks server as one user. It is safe for
// concurrent use.
type Client struct {
	baseURL      string // the server's URL with the API prefix
	apiKey       string
	http         *http.Client
	retries      int
	maxRetryWait time.Duration
	backoff      time.Duration
	userAgent    string
	jitter       func() float64 // in [0, 1)
}

// Option changes a Client's settings.
type Option func(*Client)

// WithHTTPClient sends requests with h (default: a client without a
// timeout, since event streams last as long as a task runs; bound calls
// with their context).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithRetries sets how many times a call is retried after a 429, a 5xx, a
// 409 with Retry-After or a network error (default 3; 0 never retries).
func WithRetries(n int) Option { return func(c *Client) { c.retries = max(n, 0) } }

// WithMaxRetryWait bounds one wait between tries (default 30 s): a
// Retry-After longer than it ends the call with the server's answer
// rather than sleeping that long.
func WithMaxRetryWait(d time.Duration) Option { return func(c *Client) { c.maxRetryWait = d } }

// WithBackoff sets the first wait before a retry that has no Retry-After;
// it doubles on each retry (default 250 ms).
func WithBackoff(d time.Duration) Option { return func(c *Client) { c.backoff = d } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a client of the server at baseURL (such as
// "http://127.0.0.1:8080", with or without the /api/v1/media prefix) that
// authenticates with apiKey (an API key or a JWT).
func New(baseURL, apiKey string, opts ...Option) *Client {
	base := strings.TrimRight(baseURL, "/")
	if !strings.HasSuffix(base, apiPrefix) {
		base += apiPrefix
	}
	c := &Client{
		baseURL:      base,
		apiKey:       apiKey,
		http:         &http.Client{},
		retries:      DefaultRetries,
		maxRetryWait: DefaultMaxRetryWait,
		backoff:      DefaultBackoff,
		userAgent:    DefaultUserAgent,
		jitter:       rand.Float64,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

type idempotencyKeyContext struct{}

// WithIdempotencyKey makes the POST called with ctx use key as its
// Idempotency-Key instead of a random one, so that a retry of the whole
// call (after a crash, say) is recognised by the server too.
func WithIdempotencyKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, idempotencyKeyContext{}, key)
}

// request is one API call.
type request struct {
	method string
	path   string // under the API prefix, such as "/tasks/x"
	query  url.Values
	// body returns a fresh body for each try; nil: none. A call whose body
	// cannot be made again is not retried.
	body        func() (io.Reader, error)
	contentType string
	header      http.Header
	noRetry     bool
}

// jsonBody encodes v once, for every try.
func jsonBody(v any) (func() (io.Reader, error), error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	return func() (io.Reader, error) { return bytes.NewReader(raw), nil }, nil
}

// do sends r, retrying when that is safe and worth it, and returns a 2xx
// answer with its body open; any other answer is a *Problem.
func (c *Client) do(ctx context.Context, r request) (*http.Response, error) {
	header := r.header.Clone()
	if header == nil {
		header = http.Header{}
	}
	if r.method == http.MethodPost && header.Get("Idempotency-Key") == "" {
		// The same key on every try: the server answers a try that already
		// worked again, instead of doing the work twice.
		key, _ := ctx.Value(idempotencyKeyContext{}).(string)
		if key == "" {
			key = crand.Text()
		}
		header.Set("Idempotency-Key", key)
		if d, ok := ctx.Value(preferWaitContext{}).(time.Duration); ok {
			header.Set("Prefer", "wait="+strconv.Itoa(int(d/time.Second)))
		}
	}
	for attempt := 0; ; attempt++ {
		resp, err := c.send(ctx, r, header)
		if err == nil && resp.StatusCode < 300 {
			return resp, nil
		}
		var retryAfter time.Duration
		retryable := true
		if err != nil {
			if ctx.Err() != nil {
				return nil, err // wraps the context's error
			}
		} else {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			err = problemFrom(resp.StatusCode, body)
			retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
			// A 409 with Retry-After lost a race with other changes of the
			// same task: worth another try. Other 4xx answers would repeat.
			retryable = resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 ||
				resp.StatusCode == http.StatusConflict && resp.Header.Get("Retry-After") != ""
		}
		if !retryable || r.noRetry || attempt >= c.retries {
			return nil, err
		}
		if retryAfter > c.maxRetryWait {
			return nil, fmt.Errorf("%w (not retried: the server asks to wait %s, longer than %s)", err, retryAfter, c.maxRetryWait)
		}
		if err := sleep(ctx, c.wait(attempt, retryAfter)); err != nil {
			return nil, err
		}
	}
}

// wait is how long to wait before retry attempt+1: the server's
// Retry-After when it gave one, else an exponential backoff; both with up
// to a fifth more at random, so that clients turned away together do not
// come back together, and never more than the bound.
func (c *Client) wait(attempt int, retryAfter time.Duration) time.Duration {
	d := retryAfter
	if d <= 0 {
		d = c.backoff << min(attempt, 20) // no overflow however many retries
	}
	return min(d+time.Duration(float64(d)*0.2*c.jitter()), c.maxRetryWait)
}

// send makes one try of r.
func (c *Client) send(ctx context.Context, r request, header http.Header) (*http.Response, error) {
	u := c.baseURL + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		var err error
		if body, err = r.body(); err != nil {
			return nil, fmt.Errorf("read request body: %w", err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	if sized, ok := body.(interface{ Size() int64 }); ok && req.ContentLength == 0 {
		req.ContentLength = sized.Size()
	}
	req.Header = header.Clone()
	if c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	req.Header.Set("User-Agent", c.userAgent)
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json, application/problem+json")
	}
	if body != nil {
		req.Header.Set("Content-Type", cmp.Or(r.contentType, "application/json"))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	return resp, nil
}

// call sends r and decodes its answer into out (nil: discard it).
func (c *Client) call(ctx context.Context, r request, out any) error {
	resp, err := c.do(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode answer of %s %s: %w", r.method, r.path, err)
	}
	return nil
}

// post sends in as JSON and decodes the answer into out.
func (c *Client) post(ctx context.Context, path string, in, out any) error {
	r := request{method: http.MethodPost, path: path}
	if in != nil {
		body, err := jsonBody(in)
		if err != nil {
			return err
		}
		r.body = body
	}
	return c.call(ctx, r, out)
}

// get reads path into out.
func (c *Client) get(ctx context.Context, path string, query url.Values, out any) error {
	return c.call(ctx, request{method: http.MethodGet, path: path, query: query}, out)
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date; 0
// when absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(at.Sub(now), 0)
	}
	return 0
}

// sleep waits d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
