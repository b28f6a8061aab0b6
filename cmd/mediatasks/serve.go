package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/videoai/mediatasks/shared/api"
	"github.com/videoai/mediatasks/shared/app"
	"github.com/videoai/mediatasks/shared/blob/tieredblob"
	"github.com/videoai/mediatasks/shared/callback"
	"github.com/videoai/mediatasks/shared/callback/sqlitewaits"
	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/platform"
	"github.com/videoai/mediatasks/shared/queue/sqlitequeue"
	"github.com/videoai/mediatasks/shared/sqlitedb"
	"github.com/videoai/mediatasks/shared/store/sqlitestore"
	"github.com/videoai/mediatasks/web"
)

const serveUsage = `mediatasks serve [--addr ADDR] [--data DIR] [--config FILE] [--webhook-allow-private]

Serves the media-task API, with its embedded store, queue and files, on
one machine. On a data folder without API keys it makes one for user
"local" and writes it to DIR/api-key. SIGTERM or SIGINT stops it.

Environment: MEDIATASKS_ADDR, MEDIATASKS_DATA, MEDIATASKS_CONFIG (flags win),
MEDIATASKS_BASE_URL (the address clients reach this server at, for file
URLs; default http:// and the listening address), MEDIATASKS_JWT_SECRET
(accept HS256 JWTs whose sub is the user), MEDIATASKS_LOG_LEVEL (debug,
info, warn, error; default info).
`

// Defaults of serve.
const (
	defaultAddr = "127.0.0.1:8080"
	defaultData = "./data"

	// sweepInterval is how often the sweeper looks for what a crash left.
	sweepInterval = 30 * time.Second
	// shutdownGrace is how long requests in flight may take to finish on
	// SIGTERM before long-lived ones (event streams, Prefer: wait) are
	// told to end; shutdownTimeout bounds the whole HTTP shutdown, so the
	// process exits within 10 s.
	shutdownGrace   = 3 * time.Second
	shutdownTimeout = 7 * time.Second
	// backgroundTimeout bounds the wait for the dispatcher and sweeper.
	backgroundTimeout = 1500 * time.Millisecond
)

type serveOptions struct {
	Addr                string
	Data                string
	Config              string
	BaseURL             string
	WebhookAllowPrivate bool

	// ready, when set, is called with the base URL once the server
	// listens (tests).
	ready func(baseURL string)
}

// parseServe reads serve's flags over the environment: a flag wins over
// its variable, which wins over the default.
func parseServe(args []string, getenv func(string) string, stdout io.Writer) (serveOptions, error) {
	envOr := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	var o serveOptions
	fs := newFlagSet("serve", serveUsage, stdout)
	fs.StringVar(&o.Addr, "addr", envOr("MEDIATASKS_ADDR", defaultAddr), "the address to listen on (port 0: any free port) [MEDIATASKS_ADDR]")
	fs.StringVar(&o.Data, "data", envOr("MEDIATASKS_DATA", defaultData), "the data folder: database, files, keys [MEDIATASKS_DATA]")
	fs.StringVar(&o.Config, "config", getenv("MEDIATASKS_CONFIG"), "the YAML config file; none: the defaults [MEDIATASKS_CONFIG]")
	fs.StringVar(&o.BaseURL, "base-url", getenv("MEDIATASKS_BASE_URL"), "the URL clients reach this server at, for file URLs (default http:// and the listening address) [MEDIATASKS_BASE_URL]")
	fs.BoolVar(&o.WebhookAllowPrivate, "webhook-allow-private", false, "deliver webhooks to private and loopback addresses too (local development only)")
	if err := parseFlags(fs, args); err != nil {
		return serveOptions{}, err
	}
	if o.Addr == "" {
		return serveOptions{}, usagef("serve: --addr must not be empty")
	}
	if _, _, err := net.SplitHostPort(o.Addr); err != nil {
		return serveOptions{}, usagef("serve: --addr %q: %v", o.Addr, err)
	}
	if o.Data == "" {
		return serveOptions{}, usagef("serve: --data must not be empty")
	}
	if o.BaseURL != "" && !strings.HasPrefix(o.BaseURL, "http://") && !strings.HasPrefix(o.BaseURL, "https://") {
		return serveOptions{}, usagef("serve: --base-url %q: must start with http:// or https://", o.BaseURL)
	}
	o.BaseURL = strings.TrimRight(o.BaseURL, "/")
	return o, nil
}

// newLogger returns the JSON logger on w, at the level MEDIATASKS_LOG_LEVEL
// names (default info).
func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if level != "" {
		if err := l.UnmarshalText([]byte(level)); err != nil {
			return nil, usagef("MEDIATASKS_LOG_LEVEL %q: must be debug, info, warn or error", level)
		}
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// serve runs the server until ctx ends, then shuts it down gracefully.
func serve(ctx context.Context, o serveOptions, getenv func(string) string, stderr io.Writer) (err error) {
	log, err := newLogger(stderr, getenv("MEDIATASKS_LOG_LEVEL"))
	if err != nil {
		return err
	}
	cfg := config.Default()
	if o.Config != "" {
		if cfg, err = config.Load(o.Config); err != nil {
			// A bad field, and a missing or unreadable file, are the
			// operator's mistakes: exit 2.
			return usagef("%v", err)
		}
	}
	allowPrivate := cfg.Webhooks.AllowPrivate || o.WebhookAllowPrivate

	d, err := openData(ctx, o.Data, cfg.Storage.Synchronous, log)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := d.Close(); cerr != nil {
			log.Error("close database", "err", cerr)
			err = errors.Join(err, cerr)
		}
	}()
	tasks, err := sqlitequeue.New(ctx, d.db, "tasks", sqlitequeue.Options{MaxReceives: cfg.Queue.MaxReceives})
	if err != nil {
		return err
	}
	// This process is the queue's only consumer: what the last run had
	// received when it stopped is taken up now, not after its timeout.
	if n, err := tasks.ReleaseInFlight(ctx); err != nil {
		return err
	} else if n > 0 {
		log.Info("task messages received by the last run are due again", "count", n)
	}
	secret, err := signingKey(o.Data)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.Addr, err)
	}
	limits := defaultConnLimits()
	if n := cfg.Server.MaxConnections; n > 0 {
		limits.total = n
	}
	if n := cfg.Server.MaxClientConnections; n > 0 {
		limits.perClient = n
	}
	ln = limitListener(ln, limits, nil)
	bodyRate, bodyGrace := cmp.Or(cfg.Server.MinBodyRate, 64<<10), cmp.Or(cfg.Server.BodyGrace, 10*time.Second)
	defer ln.Close() // after Serve has returned: a no-op; before: frees the port
	listenURL := "http://" + ln.Addr().String()
	baseURL := o.BaseURL
	if baseURL == "" {
		baseURL = reachableURL(ln.Addr())
	}

	// Small outputs and uploads are rows of the database, committed with
	// the writes around them; large ones are files under the data folder.
	blobs, err := tieredblob.New(ctx, d.db, filepath.Join(o.Data, blobDir), tieredblob.Options{BaseURL: baseURL, Secret: secret,
		// Files are as durable as the database that names them.
		NoSync: cfg.Storage.Synchronous == "NORMAL"})
	if err != nil {
		return err
	}
	// This process is the only one delivering from this database:
	// attempts a crash cut short are due again now, not after their lease.
	if n, err := d.store.ReleaseDeliveryLeases(ctx, time.Now()); err != nil {
		return err
	} else if n > 0 {
		log.Info("webhooks: deliveries interrupted by the last stop are due again", "count", n)
	}
	if err := ensureKey(ctx, d.store, o.Data, log); err != nil {
		return err
	}
	var jwtSecret []byte
	if s := getenv("MEDIATASKS_JWT_SECRET"); s != "" {
		jwtSecret = []byte(s)
	}
	callbacks, err := localCallbacks(ctx, d.db, secret, cfg.Server.PublicBaseURL)
	if err != nil {
		return err
	}
	free := freeSpace(o.Data)
	p, err := platform.Build(platform.Adapters{
		// A task and its queue message commit in one transaction.
		Store:                sqlitestore.WithQueue{Store: d.store, Queue: tasks},
		Tasks:                tasks,
		Blobs:                blobs,
		Files:                blobs.Handler(),
		Runner:               localRunner(ctx, d.db, cfg),
		NewAPI:               api.New,
		Collectors:           []prometheus.Collector{dataSizeGauge(o.Data)},
		FreeBytes:            free,
		HealthChecks:         map[string]app.HealthCheck{"disk": diskHealth(free, cfg.Storage.MinFreeBytes)},
		API:                  api.Options{BodyMinRate: bodyRate, BodyGrace: bodyGrace},
		Deliveries:           d.deliveries,
		Config:               cfg,
		JWTSecret:            jwtSecret,
		AllowPrivateWebhooks: allowPrivate,
		SweepInterval:        sweepInterval,
		Callbacks:            callbacks,
		Getenv:               getenv,
		Log:                  log,
	})
	if cerr := (*platform.ConfigError)(nil); errors.As(err, &cerr) {
		return usagef("%v", err) // a provider's bad options or unknown type: exit 2
	} else if err != nil {
		return err
	}
	apiHandler := p.API
	// The API owns its prefixes; every other path is the dashboard's.
	handler := http.NewServeMux()
	for _, prefix := range []string{api.Prefix + "/", "/metrics", "/files/"} {
		handler.Handle(prefix, apiHandler)
	}
	handler.Handle("/", web.Handler())

	// Requests' contexts derive from baseCtx: cancelling it tells event
	// streams and long waits to end, so they cannot hold the shutdown.
	baseCtx, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		// Uploads of up to the limit may take a while; no WriteTimeout,
		// since event streams stay open for as long as a task runs.
		ReadTimeout:    10 * time.Minute,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		BaseContext:    func(net.Listener) context.Context { return baseCtx },
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBackground()
	var bg sync.WaitGroup
	bg.Go(func() { platform.Run(bgCtx, log, p.Services...) })

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("listening on "+listenURL, "addr", ln.Addr().String(), "base_url", baseURL,
		"data", o.Data, "config", o.Config, "webhook_allow_private", allowPrivate,
		"jwt", len(jwtSecret) > 0, "max_connections", limits.total, "max_client_connections", limits.perClient,
		"version", versionString())
	if o.ready != nil {
		o.ready(listenURL)
	}

	select {
	case <-ctx.Done():
		log.Info("stopping: finishing requests in flight")
	case err := <-serveErr:
		stopBackground()
		bg.Wait()
		return fmt.Errorf("serve http: %w", err)
	}
	if err := shutdown(srv, cancelBase, log); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	stopBackground()
	if !waitTimeout(&bg, backgroundTimeout) {
		log.Warn("background workers did not stop in time")
	}
	log.Info("stopped")
	return nil
}

// shutdown stops accepting connections and lets requests in flight
// finish; after shutdownGrace it cancels the requests' base context so
// that event streams and long waits end too; after shutdownTimeout it
// closes whatever is left.
func shutdown(srv *http.Server, cancelBase context.CancelFunc, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(ctx) }()
	grace := time.NewTimer(shutdownGrace)
	defer grace.Stop()
	select {
	case err := <-done:
		cancelBase()
		return err
	case <-grace.C:
		log.Info("ending long-lived requests (event streams, waits)")
		cancelBase()
	}
	err := <-done
	if err != nil {
		return errors.Join(err, srv.Close())
	}
	return nil
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// reachableURL is the URL of a listening address, with a loopback host
// in place of an unspecified one (0.0.0.0 or ::), which no client can
// reach.
func reachableURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// localCallbacks turns providers' callbacks on when the server knows the
// public base URL providers reach it at (server.public_base_url); without
// one, every job is polled.
func localCallbacks(ctx context.Context, db *sqlitedb.DB, secret []byte, publicBaseURL string) (*platform.Callbacks, error) {
	if publicBaseURL == "" {
		return nil, nil
	}
	keys, err := callback.KeysFrom(secret)
	if err != nil {
		return nil, err
	}
	waits, err := sqlitewaits.New(ctx, db)
	if err != nil {
		return nil, err
	}
	return &platform.Callbacks{Waits: waits, Keys: keys, BaseURL: publicBaseURL}, nil
}
