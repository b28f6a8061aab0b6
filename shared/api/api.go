// Package api is the HTTP face of mediatasks: a plain net/http handler with
// the routes the VideoAI clients use (all under /api/v1/media), bearer
// authentication, per-user rate limits, Idempotency-Key replay, request
// validation, RFC 9457 problem answers and an embedded OpenAPI 3.1
// document (openapi.json, served at /api/v1/media/openapi.json). The same
// handler serves the local server and the Lambda functions.
//
// Where the product's issue left a choice open:
//   - image size is one of 256x256, 512x512, 1024x1024 (default),
//     1792x1024, 1024x1792; a video prompt is 1 to 4000 characters like an
//     image prompt; metadata holds at most 16 pairs, keys 1 to 64
//     characters, values at most 512; prompt_optimization.params at most 32
//     entries; URLs at most 2048 characters.
//   - field validation is 400 (422 is kept for a reused Idempotency-Key);
//     a bad Prefer: wait value is a 400 naming "Prefer".
//   - a batch spends one rate-limit token per task (capped at the bucket's
//     size); a replayed answer spends none. The batch's webhook_url and
//     webhook_events apply to its tasks as well.
//   - Idempotency: submits and batches store their answer in the same
//     write as the tasks; cancel and uploads store 2xx answers only, after
//     making them. A replay carries "Idempotent-Replayed: true", and is
//     the answer as first made (a Prefer: wait answer replays as the 202
//     stored at creation).
//   - uploads answer 201; a cancel takes no body or an empty JSON object.
//   - the user of an API key is cached for 30 s (a deleted key may work
//     that long); JWTs are checked on every request.
//   - a 503 from /health is a problem whose "health" member holds the state;
//     a component's error shows as "unavailable" (the cause is logged).
//   - a required text field must hold a character that is not a space.
//   - a change that lost to concurrent changes on every attempt is 409
//     with Retry-After: 1; a cancel with a key that finds the task ended
//     replays the answer a concurrent cancel with that key stored.
package api

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/videoai/mediatasks/shared/app"
	"github.com/videoai/mediatasks/shared/auth"
	"github.com/videoai/mediatasks/shared/task"
)

// Prefix is where every route of the API lives, but /metrics and /files/.
const Prefix = "/api/v1/media"

// Options configure the handler.
type Options struct {
	// Authenticator resolves bearer credentials; required for every route
	// but health, the OpenAPI document, metrics and files.
	Authenticator *auth.Authenticator
	// FilesHandler serves the signed file URLs under "/files/" (the
	// signature is the credential: no bearer token is asked for). Nil
	// answers 404.
	FilesHandler http.Handler
	// WebhookURLGuard, when set, vets a webhook_url beyond its syntax (for
	// example against private and loopback addresses); its error's text
	// is shown to the client as the field's message.
	WebhookURLGuard func(rawURL string) error
	// ProviderCheck, when set, vets a task's provider: with a name (a
	// pinned provider), it answers an error (shown as the field's message)
	// when no provider of that name serves the task type; with "", when no
	// provider serves the task type at all.
	ProviderCheck func(typ task.Type, name string) error
	// InputCheck, when set, names the input fields no provider that
	// could run the task can carry out (the pinned one's, when pinned):
	// a size, a duration or a language its model lacks.
	InputCheck func(prefix string, in task.Input) task.FieldErrors
	// Prompts is the prompt optimiser: it vets prompt_optimization at
	// submit and serves the prompt preview and the templates. Nil checks
	// nothing and answers those routes 404.
	Prompts Prompts
	// Webhooks serves the delivery and signing-secret routes; nil
	// answers them 404.
	Webhooks Webhooks
	// Callbacks receives providers' calls to their callback URL; nil (no
	// public base URL) answers 404.
	Callbacks CallbackReceiver
	// BodyMinRate, when set, is the slowest a request body may arrive
	// (bytes a second) once BodyGrace has passed: a client that sends less
	// is cut off, instead of holding its connection for the server's whole
	// read timeout.
	BodyMinRate int64
	BodyGrace   time.Duration
	// Logger receives the 5xx answers and panics, failed metrics
	// collectors, and the errors /health shows only as "unavailable".
	// Nil discards.
	Logger *slog.Logger
	// Now is the clock of rate limits and SSE heartbeats (default time.Now).
	Now func() time.Time
	// HeartbeatInterval is how often an idle event stream sends a comment
	// (default 15 s).
	HeartbeatInterval time.Duration
	// MaxStreamsPerUser bounds the event streams one user holds open at
	// once (default 100): each costs a few store reads a second.
	MaxStreamsPerUser int
	// BufferedStreams is for servers that send an answer whole when the
	// handler returns (a Lambda function behind API Gateway): an event
	// stream then answers the events there are and ends, or, when there
	// are none, waits up to BufferedStreamWait for one. EventSource
	// clients reconnect with Last-Event-ID, so they see every event.
	BufferedStreams    bool
	BufferedStreamWait time.Duration
}

// handlerFunc is a route's handler. user is the authenticated caller
// (empty on public routes). A returned error is answered by fail, the one
// place that maps errors to HTTP.
type handlerFunc func(s *server, w http.ResponseWriter, r *http.Request, user string) error

// route is one entry of the route table the mux is built from (the
// OpenAPI test reads the same table).
type route struct {
	method  string
	pattern string
	public  bool // no bearer token needed
	handle  handlerFunc
}

var routes = []route{
	{"POST", Prefix + "/images/generate", false, (*server).submitImage},
	{"POST", Prefix + "/videos/generate", false, (*server).submitVideo},
	{"POST", Prefix + "/audio/transcribe", false, (*server).submitAudio},
	{"POST", Prefix + "/subtitles/generate", false, (*server).submitSubtitles},
	{"POST", Prefix + "/uploads", false, (*server).upload},
	{"GET", Prefix + "/tasks", false, (*server).listTasks},
	{"GET", Prefix + "/tasks/{id}", false, (*server).getTask},
	{"POST", Prefix + "/tasks/{id}/cancel", false, (*server).cancelTask},
	{"GET", Prefix + "/tasks/{id}/events", false, (*server).taskEvents},
	{"GET", Prefix + "/tasks/{id}/deliveries", false, (*server).taskDeliveries},
	{"POST", Prefix + "/batches", false, (*server).submitBatch},
	{"GET", Prefix + "/batches/{id}", false, (*server).getBatch},
	{"GET", Prefix + "/batches/{id}/deliveries", false, (*server).batchDeliveries},
	{"GET", Prefix + "/deliveries", false, (*server).listDeliveries},
	{"GET", Prefix + "/deliveries/{id}", false, (*server).getDelivery},
	{"POST", Prefix + "/deliveries/{id}/retry", false, (*server).retryDelivery},
	{"GET", Prefix + "/webhooks/secret", false, (*server).webhookSecret},
	{"POST", Prefix + "/webhooks/secret/rotate", false, (*server).rotateWebhookSecret},
	{"POST", Prefix + "/prompts/optimize", false, (*server).previewPrompt},
	{"GET", Prefix + "/prompts/templates", false, (*server).promptTemplates},
	{"POST", Prefix + "/providers/{name}/callback", true, (*server).providerCallback},
	{"GET", Prefix + "/health", true, (*server).health},
	{"GET", Prefix + "/stats", false, (*server).stats},
	{"GET", Prefix + "/openapi.json", true, (*server).openapi},
	{"GET", "/metrics", true, (*server).metrics},
	{"GET", "/files/{key...}", true, (*server).files},
}

type server struct {
	app      *app.App
	opts     Options
	log      *slog.Logger
	now      func() time.Time
	limiter  *limiter
	promh    http.Handler
	paths    *http.ServeMux // every route's path, any method: tells 405 from 404
	allow    map[string]string
	notFound *routeMetrics
	streams  *streamCounter
}

// New returns the API handler over a.
func New(a *app.App, opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = 15 * time.Second
	}
	if opts.MaxStreamsPerUser <= 0 {
		opts.MaxStreamsPerUser = 100
	}
	lim := a.Limits()
	s := &server{
		app:     a,
		opts:    opts,
		log:     opts.Logger,
		now:     opts.Now,
		limiter: newLimiter(lim.SubmitsPerMinute, opts.Now),
		// A collector that fails (the queue's stats read, say) is logged
		// and left out; the rest of the scrape still answers.
		promh: promhttp.HandlerFor(a.Metrics.Registry, promhttp.HandlerOpts{
			ErrorHandling: promhttp.ContinueOnError,
			ErrorLog:      slog.NewLogLogger(opts.Logger.Handler(), slog.LevelError),
		}),
		paths:   http.NewServeMux(),
		allow:   map[string]string{},
		streams: &streamCounter{open: map[string]int{}},
	}
	mux := http.NewServeMux()
	for _, rt := range routes {
		mux.Handle(rt.method+" "+rt.pattern, s.wrap(rt))
		if _, ok := s.allow[rt.pattern]; !ok {
			s.paths.Handle(rt.pattern, http.NotFoundHandler())
			s.allow[rt.pattern] = rt.method
		} else {
			s.allow[rt.pattern] += ", " + rt.method
		}
	}
	s.notFound = newRouteMetrics(a.Metrics, "unmatched")
	mux.HandleFunc("/", s.unmatched)
	return mux
}

// routeMetrics holds one route's collectors, curried once.
type routeMetrics struct {
	requests *prometheus.CounterVec
	duration prometheus.Observer
	codes    sync.Map // status code -> prometheus.Counter, filled on first use
}

func newRouteMetrics(m *app.Metrics, pattern string) *routeMetrics {
	return &routeMetrics{
		requests: m.HTTPRequests.MustCurryWith(prometheus.Labels{"route": pattern}),
		duration: m.HTTPDuration.WithLabelValues(pattern),
	}
}

func (m *routeMetrics) observe(code int, d time.Duration) {
	m.duration.Observe(d.Seconds())
	if c, ok := m.codes.Load(code); ok {
		c.(prometheus.Counter).Inc()
		return
	}
	c := m.requests.WithLabelValues(strconv.Itoa(code))
	m.codes.Store(code, c)
	c.Inc()
}

// wrap adds to a route's handler what every route does: metrics, panic
// recovery, authentication and the mapping of its error to an answer.
func (s *server) wrap(rt route) http.Handler {
	name := rt.method + " " + rt.pattern
	m := newRouteMetrics(s.app.Metrics, name)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.ErrorContext(r.Context(), "panic in handler", "route", name, "panic", fmt.Sprint(p))
				if !sw.wrote {
					s.fail(sw, r, fmt.Errorf("panic: %v", p))
				}
			}
			m.observe(sw.code(), time.Since(start))
		}()
		var user string
		if !rt.public {
			var err error
			if user, err = s.authenticate(r); err != nil {
				// Refused from the headers alone: the body is not read,
				// nor drained (net/http would read up to 256 KiB of it
				// first, from a client that may never send it: a read
				// deadline already past stops that), and the connection
				// goes with the answer.
				if r.ContentLength != 0 {
					_ = http.NewResponseController(w).SetReadDeadline(time.Now())
					sw.Header().Set("Connection", "close")
				}
				s.fail(sw, r, err)
				return
			}
		}
		if s.opts.BodyMinRate > 0 && r.Body != nil && r.Body != http.NoBody {
			r.Body = &pacedBody{ReadCloser: r.Body, ctl: http.NewResponseController(w), start: time.Now(),
				grace: s.opts.BodyGrace, rate: s.opts.BodyMinRate}
		}
		if err := rt.handle(s, sw, r, user); err != nil {
			s.fail(sw, r, err)
		}
	})
}

// unmatched answers requests no route takes: 405 when the path exists with
// other methods, else 404, both as problems.
func (s *server) unmatched(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	if _, pattern := s.paths.Handler(r); pattern != "" {
		sw.Header().Set("Allow", s.allow[pattern])
		s.fail(sw, r, &Problem{Status: http.StatusMethodNotAllowed, Detail: fmt.Sprintf("%s is not allowed here; allowed: %s", r.Method, s.allow[pattern])})
	} else {
		s.fail(sw, r, &Problem{Status: http.StatusNotFound, Detail: "no such route"})
	}
	s.notFound.observe(sw.code(), time.Since(start))
}

func (s *server) authenticate(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", fmt.Errorf("no Authorization header: %w", auth.ErrUnauthenticated)
	}
	if s.opts.Authenticator == nil {
		return "", errors.New("api: no authenticator configured")
	}
	return s.opts.Authenticator.Authenticate(r.Context(), h)
}

// statusWriter remembers the status code written, for metrics and so that
// a panic after the header is out does not write a second one.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status = code
		w.wrote = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status = http.StatusOK
		w.wrote = true
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) code() int {
	if !w.wrote {
		return http.StatusOK
	}
	return w.status
}

func (s *server) metrics(w http.ResponseWriter, r *http.Request, _ string) error {
	s.promh.ServeHTTP(w, r)
	return nil
}

func (s *server) files(w http.ResponseWriter, r *http.Request, _ string) error {
	if s.opts.FilesHandler == nil {
		return &Problem{Status: http.StatusNotFound, Detail: "files are not served here"}
	}
	s.opts.FilesHandler.ServeHTTP(w, r)
	return nil
}

// pacedBody holds a request body to a minimum rate: before each read, the
// connection's read deadline is set to when the bytes read so far and
// those asked for are due at the rate, after the grace period. A body
// that arrives slower fails its read with a timeout, and the connection
// is closed. net/http has a read timeout per connection only; this is the
// per-request, size-aware one it lacks.
type pacedBody struct {
	io.ReadCloser
	ctl   *http.ResponseController
	start time.Time
	grace time.Duration
	rate  int64
	n     int64
}

func (b *pacedBody) Read(p []byte) (int, error) {
	due := b.start.Add(b.grace + time.Duration(float64(b.n+int64(len(p)))/float64(b.rate)*float64(time.Second)))
	_ = b.ctl.SetReadDeadline(due) // not every ResponseWriter has deadlines (tests, Lambda)
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}
