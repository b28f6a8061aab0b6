// Package platform is the one assembly of mediatasks: each runtime opens
// its adapters (SQLite, a queue in the same database, files and the local
// engine on one machine; DynamoDB, SQS, S3 and Step Functions in the
// cloud) and hands them to Build, which wires the App, the providers, the
// step actions, the workflow runner, the webhook deliverer, the
// authenticator and the API in one order, and returns what the runtime
// serves and the services it runs.
package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/videoai/mediatasks/shared/api"
	"github.com/videoai/mediatasks/shared/app"
	"github.com/videoai/mediatasks/shared/auth"
	"github.com/videoai/mediatasks/shared/blob"
	"github.com/videoai/mediatasks/shared/callback"
	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/prompt"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/catalog"
	"github.com/videoai/mediatasks/shared/queue"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/webhook"
	"github.com/videoai/mediatasks/shared/workflow/steps"
)

// Store is what the platform keeps in its store: tasks, API keys and
// webhook deliveries.
type Store interface {
	task.Store
	auth.KeyStore
	webhook.Store
	api.Webhooks
}

// Service is a background loop of the platform: Run works until ctx ends
// and then returns, nil unless it failed.
type Service struct {
	Name string
	Run  func(ctx context.Context) error
}

// RunnerDeps are what a workflow runner is built over.
type RunnerDeps struct {
	Actions   *steps.Actions
	Providers *provider.Registry
	Config    config.Config
	Now       func() time.Time
	Log       *slog.Logger
}

// NewRunner builds the runtime's workflow runner over the step actions,
// with the services it needs run (the local engine; none in the cloud).
type NewRunner func(RunnerDeps) (app.Runner, []Service, error)

// Adapters are what a runtime opened, and its settings.
type Adapters struct {
	Store Store
	Tasks queue.Queue // the admission queue, by priority
	Blobs blob.Store
	// Files serves the file URLs under /files/ (on one machine); nil
	// where file URLs point elsewhere (presigned S3 URLs).
	Files  http.Handler
	Runner NewRunner
	// ProviderTypes add provider types to the catalog's (tests, or a
	// program that embeds the platform with its own).
	ProviderTypes map[string]provider.Factory
	// Deliveries, when set, is the signal the store raises after it
	// commits webhook deliveries: the deliverer runs in process. Nil:
	// each delivery is a queue message a function hands to the
	// deliverer (the cloud), and the platform runs no delivery loop.
	Deliveries *webhook.Signal
	Config     config.Config
	// Limits are the App's limits (default Config.AppLimits()).
	Limits *app.Limits
	// JWTSecret, when set, lets HS256 JWTs whose sub is the user in.
	JWTSecret []byte
	// AllowPrivateWebhooks lets webhooks reach private and loopback
	// addresses: local development and tests only.
	AllowPrivateWebhooks bool
	// HealthChecks are components /health shows beyond the core.
	HealthChecks map[string]app.HealthCheck
	// FreeBytes tells the storage's free space (the data folder's disk on
	// one machine), for storage.min_free_bytes; nil: not known.
	FreeBytes func() (int64, error)
	// Budget, when set, bounds the workflows in progress across every
	// dispatcher, at the config's workflow.max_in_progress (the cloud's;
	// on one machine the engine bounds its own).
	Budget app.Budget
	// API are the runtime's own settings of the API (buffered streams
	// behind API Gateway); its Authenticator, FilesHandler, checks,
	// webhooks, logger and clock are the platform's.
	API api.Options
	// Collectors are the runtime's own metrics (the data folder's size on
	// one machine), served with the platform's.
	Collectors []prometheus.Collector
	// NewAPI builds the HTTP API (api.New); nil: a platform without one
	// (a Lambda function that serves no HTTP links no API).
	NewAPI func(*app.App, api.Options) http.Handler
	// Callbacks, when set, take providers' callbacks: the API receives
	// them, and the workflow waits for them. The runner must then end a
	// wait (callback.Resumer).
	Callbacks *Callbacks
	// SweepInterval is how often the sweeper runs (default 30 s); the
	// cloud's sweep is a scheduled function instead.
	SweepInterval time.Duration
	// RunBound is the longest a workflow execution with the given id can
	// last (steps.Deps.RunBound); nil: executions are durable.
	RunBound func(executionID string) time.Duration
	// Getenv reads the environment (the LLM's API key; default os.Getenv).
	Getenv func(string) string
	Now    func() time.Time
	Log    *slog.Logger
}

// Callbacks are what providers' callbacks need.
type Callbacks struct {
	// Waits record each task's wait for its provider's callback.
	Waits callback.Waits
	// Keys sign the callback URLs and derive the providers' secrets.
	Keys callback.Keys
	// BaseURL is the API's public base URL: where providers are told to
	// call. Empty: callbacks are received (a function that serves the
	// API) but no provider is told to call (the start step runs
	// elsewhere, or jobs are polled).
	BaseURL string
}

// Platform is the wired platform.
type Platform struct {
	App *app.App
	// API is the HTTP API; nil without Adapters.NewAPI.
	API       http.Handler
	Actions   *steps.Actions
	Providers *provider.Registry
	// Prompts is the prompt optimiser.
	Prompts   *prompt.Optimizer
	Runner    app.Runner
	Deliverer *webhook.Deliverer
	// Callbacks receives providers' callbacks; nil without
	// Adapters.Callbacks.
	Callbacks *callback.Receiver
	// Services are the loops the runtime runs beside its API: the
	// runner's, the dispatcher, the sweeper and, in process, the webhook
	// deliverer. The cloud's functions run none: events drive them.
	Services []Service
}

// ConfigError is a Build failure caused by the configuration (a
// provider's bad options or unknown type, a prompt template or LLM
// setting that cannot be used): the operator's to fix.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// Build wires the platform over ad. An error is the operator's (a bad
// provider setting, say) or an adapter's refusal.
func Build(ad Adapters) (*Platform, error) {
	if ad.Store == nil || ad.Tasks == nil || ad.Blobs == nil {
		return nil, errors.New("build platform: store, task queue and blobs are required")
	}
	if ad.Now == nil {
		ad.Now = time.Now
	}
	if ad.Log == nil {
		ad.Log = slog.New(slog.DiscardHandler)
	}
	if ad.Getenv == nil {
		ad.Getenv = os.Getenv
	}
	limits := ad.Config.AppLimits()
	if ad.Limits != nil {
		limits = *ad.Limits
	}
	if ad.SweepInterval <= 0 {
		ad.SweepInterval = 30 * time.Second
	}
	log := ad.Log
	p := &Platform{}

	metrics := app.NewMetrics(ad.Store, ad.Tasks)
	providers, err := catalog.Build(ad.Config.Providers, ad.ProviderTypes, metrics, log)
	if err != nil {
		return nil, &ConfigError{Err: err}
	}
	p.Providers = providers
	optimizer, err := newOptimizer(ad.Config.Prompt, ad.Store, metrics.Registry, ad.Getenv, ad.Now, log)
	if err != nil {
		return nil, err
	}
	p.Prompts = optimizer

	var runnerServices []Service
	newRunner := func(a *app.App) (app.Runner, error) {
		var callbacks *steps.Callbacks
		if c := ad.Callbacks; c != nil {
			callbacks = &steps.Callbacks{BaseURL: c.BaseURL, Keys: c.Keys, Waits: c.Waits, Fallback: ad.Config.Workflow.CallbackFallback}
		}
		p.Actions = steps.New(steps.Deps{App: a, Blobs: ad.Blobs, Providers: providers, Optimizer: optimizer,
			AllowPrivateOutputs: ad.Config.Media.AllowPrivate, Subtitles: &ad.Config.Subtitles, RunBound: ad.RunBound, Callbacks: callbacks,
			Now: ad.Now, Log: log})
		if ad.Runner == nil {
			return nil, nil
		}
		r, services, err := ad.Runner(RunnerDeps{Actions: p.Actions, Providers: providers, Config: ad.Config, Now: ad.Now, Log: log})
		runnerServices = services
		return r, err
	}
	p.App, err = app.New(app.Deps{
		Store:          ad.Store,
		Tasks:          ad.Tasks,
		Blobs:          ad.Blobs,
		Runner:         newRunner,
		Metrics:        metrics,
		ProviderHealth: providers.Components,
		HealthChecks:   ad.HealthChecks,
		FreeBytes:      ad.FreeBytes,
		Budget:         ad.Budget,
		Limits:         limits,
		Now:            ad.Now,
		Log:            log,
	})
	if err != nil {
		return nil, err
	}
	p.Runner = p.App.Runner()
	if c := ad.Callbacks; c != nil {
		resumer, ok := p.Runner.(callback.Resumer)
		if !ok {
			return nil, errors.New("build platform: callbacks need a workflow runner that ends a wait")
		}
		p.Callbacks = &callback.Receiver{Keys: c.Keys, Waits: c.Waits, Resumer: resumer, Callers: providers.Caller,
			Received: callback.NewReceived(), Log: log}
		metrics.Registry.MustRegister(p.Callbacks.Received)
	}

	p.Deliverer, err = webhook.New(webhook.Options{
		Store:        ad.Store,
		Present:      p.App.PresentEvent,
		Schedule:     ad.Config.Webhooks.RetrySchedule,
		Timeout:      ad.Config.Webhooks.Timeout,
		AllowPrivate: ad.AllowPrivateWebhooks,
		Wake:         ad.Deliveries,
		Now:          ad.Now,
		Log:          log,
	})
	if err != nil {
		return nil, err
	}
	metrics.Registry.MustRegister(ad.Collectors...)
	if ad.Deliveries != nil {
		// The deliverer's gauges read the store's delivery counts at
		// scrape time: on one machine a cheap query; in the cloud they
		// would cost requests on every scrape (CloudWatch has the queue's).
		metrics.Registry.MustRegister(p.Deliverer.Collector())
	}

	if ad.NewAPI != nil {
		opts := ad.API
		opts.Authenticator = &auth.Authenticator{Keys: ad.Store, JWTSecret: ad.JWTSecret, Now: ad.Now, KeyCacheTTL: 30 * time.Second}
		opts.FilesHandler = ad.Files
		opts.ProviderCheck = providers.CheckSubmit
		opts.InputCheck = providers.CheckInput
		opts.Prompts = prompts{opt: optimizer, providers: providers}
		opts.WebhookURLGuard = webhook.Guard{AllowPrivate: ad.AllowPrivateWebhooks}.CheckSubmitted
		opts.Webhooks = ad.Store
		if p.Callbacks != nil {
			opts.Callbacks = p.Callbacks
		}
		opts.Logger = log
		opts.Now = ad.Now
		p.API = ad.NewAPI(p.App, opts)
	}

	p.Services = append(runnerServices,
		Service{"dispatcher", func(ctx context.Context) error { p.App.RunDispatcher(ctx); return nil }},
		Service{"sweeper", func(ctx context.Context) error { p.App.RunSweeper(ctx, ad.SweepInterval); return nil }},
	)
	if ad.Deliveries != nil {
		p.Services = append(p.Services, Service{"webhook deliverer", p.Deliverer.Run})
	}
	return p, nil
}

// Run runs services until ctx ends and every one has returned; a service
// that fails is logged, and the others go on.
func Run(ctx context.Context, log *slog.Logger, services ...Service) {
	var wg sync.WaitGroup
	for _, s := range services {
		wg.Go(func() {
			if err := s.Run(ctx); err != nil && ctx.Err() == nil {
				log.ErrorContext(ctx, s.Name+" stopped", "err", fmt.Errorf("%s: %w", s.Name, err))
			}
		})
	}
	wg.Wait()
}
