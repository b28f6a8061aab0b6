// Package cloud builds the whole platform on its AWS adapters: task
// records in DynamoDB, task and webhook queues on SQS, files in S3 and
// workflows on Step Functions. Every Lambda function's main calls New
// once, at start-up, and serves from what it returns.
package cloud

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/videoai/mediatasks/shared/api"
	"github.com/videoai/mediatasks/shared/app"
	"github.com/videoai/mediatasks/shared/blob/s3blob"
	"github.com/videoai/mediatasks/shared/callback"
	"github.com/videoai/mediatasks/shared/callback/dynamowaits"
	"github.com/videoai/mediatasks/shared/emf"
	"github.com/videoai/mediatasks/shared/platform"
	"github.com/videoai/mediatasks/shared/prompt"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/queue/sqsqueue"
	"github.com/videoai/mediatasks/shared/store/dynamostore"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/webhook"
	"github.com/videoai/mediatasks/shared/workflow/sfnrunner"
	"github.com/videoai/mediatasks/shared/workflow/steps"
)

// Platform is the platform on AWS: the App and everything the functions
// serve from it.
type Platform struct {
	Env       Env
	App       *app.App
	API       http.Handler // the HTTP API, for the submit and status functions
	Actions   *steps.Actions
	Providers *provider.Registry
	Prompts   *prompt.Optimizer
	Runner    app.Runner // nil in a function that starts and stops no workflow
	Deliverer *webhook.Deliverer
	Enqueuer  webhook.Enqueuer
	Store     *dynamostore.Store
	Tasks     *sqsqueue.Queue // the task queue, one SQS queue per priority
	Webhooks  *sqsqueue.Queue // the webhook queue: one message per pending delivery
	Blobs     *s3blob.Store
	Log       *slog.Logger

	metrics   *emf.Flusher
	callbacks *callback.Receiver // nil in a function that takes no callbacks
}

// Options are what a caller may set beyond the environment.
type Options struct {
	// AWS is the SDK configuration; zero: awsconfig.LoadDefaultConfig,
	// which reads the region, the credentials and any
	// AWS_ENDPOINT_URL_<SERVICE> from the environment.
	AWS *aws.Config
	// Log receives the platform's logs (default JSON on stderr at
	// Env.LogLevel).
	Log *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// MetricsOut receives the functions' EMF metric lines (default
	// stdout, which Lambda sends to CloudWatch Logs).
	MetricsOut io.Writer
}

// FromEnv builds the whole platform from the process's environment.
func FromEnv(ctx context.Context) (*Platform, error) {
	env, err := ReadEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	return New(ctx, env, Options{})
}

// Parts are what a function builds beyond the App, its store, queues and
// blobs. Each is a function value that only the functions needing it
// pass, so a function's binary links only what it uses: the webhook
// function neither the API nor Step Functions, the process function no
// API.
type Parts struct {
	// Workflows builds the runner of the state machines (StepFunctions);
	// nil: the function starts and stops no workflow.
	Workflows func(awsCfg aws.Config, env Env) platform.NewRunner
	// API builds the HTTP API (api.New); nil: none.
	API func(*app.App, api.Options) http.Handler
}

// Everything is every part: the platform as tests and tools use it.
func Everything() Parts { return Parts{Workflows: StepFunctions, API: api.New} }

// New builds the whole platform from env (Build with Everything).
func New(ctx context.Context, env Env, opts Options) (*Platform, error) {
	return Build(ctx, env, opts, Everything())
}

// StepFunctions runs the workflows on the state machines env names.
func StepFunctions(awsCfg aws.Config, env Env) platform.NewRunner {
	return func(d platform.RunnerDeps) (app.Runner, []platform.Service, error) {
		r, err := sfnrunner.New(sfn.NewFromConfig(awsCfg),
			sfnrunner.ARNs{Task: env.TaskStateMachine, Batch: env.BatchStateMachine, Express: env.ExpressStateMachine},
			sfnrunner.Options{BatchConcurrency: d.Config.Workflow.BatchConcurrency, CancelJob: d.Actions.CancelJob, Log: d.Log})
		if err != nil {
			return nil, nil, fmt.Errorf("workflow runner: %w", err)
		}
		return r, nil, nil
	}
}

// Build builds the platform's parts from env. Its only AWS requests read
// the secrets env names, if any: a wrong name or URL otherwise shows in
// the first call and in the health route.
func Build(ctx context.Context, env Env, opts Options, parts Parts) (*Platform, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Log
	if log == nil {
		var level slog.Level
		if env.LogLevel != "" {
			if err := level.UnmarshalText([]byte(env.LogLevel)); err != nil {
				return nil, fmt.Errorf("%s %q: must be debug, info, warn or error", EnvLogLevel, env.LogLevel)
			}
		}
		log = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	}
	awsCfg := opts.AWS
	if awsCfg == nil {
		loaded, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("load the AWS configuration: %w", err)
		}
		awsCfg = &loaded
	}
	if err := readSecrets(ctx, secretsmanager.NewFromConfig(*awsCfg), &env); err != nil {
		return nil, err
	}
	cfg := env.Config
	if cfg.Limits.BatchMax > dynamostore.MaxCreateTasks {
		// DynamoDB commits a batch in one transaction of at most 100 writes.
		return nil, fmt.Errorf("%s: limits.batch_max %d: at most %d on DynamoDB", EnvConfig, cfg.Limits.BatchMax, dynamostore.MaxCreateTasks)
	}
	p := &Platform{Env: env, Log: log}

	sqsClient := sqs.NewFromConfig(*awsCfg)
	var err error
	p.Tasks, err = sqsqueue.New(sqsClient, sqsqueue.URLs{Queues: env.TaskQueues, DeadLetters: env.TaskDeadQueues},
		sqsqueue.Options{Now: opts.Now, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("task queue: %w", err)
	}
	p.Webhooks, err = sqsqueue.New(sqsClient, sqsqueue.PlainURLs(env.WebhookQueue, env.WebhookDeadQueue),
		sqsqueue.Options{Now: opts.Now, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("webhook queue: %w", err)
	}
	s3Client := s3.NewFromConfig(*awsCfg, func(o *s3.Options) { o.UsePathStyle = env.S3PathStyle })
	p.Blobs = s3blob.New(s3Client, env.Bucket, s3blob.Options{})

	// Each delivery the store commits is sent as a webhook queue message.
	p.Enqueuer = webhook.Enqueuer{Queue: p.Webhooks, Now: opts.Now, Log: log}
	dynamoClient := dynamodb.NewFromConfig(*awsCfg)
	p.Store = dynamostore.New(dynamoClient, env.Table,
		dynamostore.Options{Now: opts.Now, Log: log, CursorKey: env.CursorKey, OnDeliveries: p.Enqueuer.Send})

	limits := cfg.AppLimits()
	// workflow.max_in_progress, when set, is a budget that every Lambda
	// taking task messages shares, in the table (two transactions per
	// workflow: see TABLE.md); unset, the event source mappings' caps
	// alone bound what starts.
	var budget app.Budget
	if cfg.Workflow.MaxInProgress > 0 {
		budget = p.Store
		limits.MaxInProgress = cfg.Workflow.MaxInProgress
	}
	// A wait must end, and be answered, within API Gateway's 30 s.
	limits.PreferWaitMax = min(limits.PreferWaitMax, MaxPreferWait)
	var runner platform.NewRunner
	var callbacks *platform.Callbacks
	if parts.Workflows != nil {
		runner = parts.Workflows(*awsCfg, env)
		// Providers' callbacks: the submit function receives them, the
		// process function tells providers where to (it has the URL).
		keys, err := callback.KeysFrom(env.CursorKey)
		if err != nil {
			return nil, err
		}
		callbacks = &platform.Callbacks{Waits: dynamowaits.New(dynamoClient, env.Table, opts.Now), Keys: keys, BaseURL: env.PublicBaseURL}
	}
	built, err := platform.Build(platform.Adapters{
		Store:                p.Store,
		Tasks:                p.Tasks,
		Blobs:                p.Blobs,
		Runner:               runner,
		Callbacks:            callbacks,
		NewAPI:               parts.API,
		Config:               cfg,
		Limits:               &limits,
		Budget:               budget,
		JWTSecret:            env.JWTSecret,
		AllowPrivateWebhooks: env.WebhookAllowPrivate,
		HealthChecks: map[string]app.HealthCheck{"webhook_queue": func(ctx context.Context) (any, error) {
			st, err := p.Webhooks.Stats(ctx)
			if err != nil {
				return nil, err
			}
			return map[string]int{"pending": st.Visible[task.PriorityNormal] + st.InFlight[task.PriorityNormal], "dead_letters": st.Dead}, nil
		}},
		API: api.Options{
			// Lambda answers whole: a stream answers what is there, or waits
			// for the next event, within API Gateway's 30 s.
			BufferedStreams:    true,
			BufferedStreamWait: 20 * time.Second,
		},
		// Express executions end at 5 minutes: each claim of a task by one
		// records its deadline, for the sweep of lost runs.
		RunBound: sfnrunner.ExecutionBound,
		Getenv:   env.getenv(),
		Now:      opts.Now,
		Log:      log,
	})
	if err != nil {
		return nil, err
	}
	p.App, p.API, p.Actions, p.Providers, p.Deliverer, p.Runner = built.App, built.API, built.Actions, built.Providers, built.Deliverer, built.Runner
	p.Prompts = built.Prompts
	p.callbacks = built.Callbacks
	p.metrics = newMetricsPublisher(p, env.MetricsNamespace, opts.MetricsOut)
	return p, nil
}

// MaxPreferWait is the longest `Prefer: wait` in the cloud: API Gateway
// ends an integration at 30 s, and the submit and status functions at
// 29 s, so a longer wait would be cut off into an error while the task
// exists.
const MaxPreferWait = 25 * time.Second

// DefaultMetricsNamespace is the CloudWatch namespace of the functions'
// metrics unless MEDIATASKS_METRICS_NAMESPACE names another.
const DefaultMetricsNamespace = "MediaTasks"

// publishedMetrics are the metrics the functions publish, by their
// Prometheus names (app.Metrics, webhook.Deliverer); the stack's
// dashboard and alarms read them under these names.
var publishedMetrics = map[string]emf.Metric{
	"mediatasks_task_transitions_total": {Name: "TaskTransitions", Unit: "Count",
		Dimensions: map[string]string{"task_type": "TaskType", "status": "Status"}},
	"mediatasks_provider_calls_total": {Name: "ProviderCalls", Unit: "Count",
		Dimensions: map[string]string{"provider": "Provider", "operation": "Operation"}},
	"mediatasks_provider_errors_total": {Name: "ProviderErrors", Unit: "Count",
		Dimensions: map[string]string{"provider": "Provider", "kind": "Kind"}},
	"mediatasks_provider_call_duration_seconds": {Name: "ProviderLatency", Unit: "Milliseconds", Scale: 1000,
		Dimensions: map[string]string{"provider": "Provider", "operation": "Operation"}},
	"mediatasks_webhook_attempts_total": {Name: "WebhookAttempts", Unit: "Count",
		Dimensions: map[string]string{"outcome": "Outcome"}},
	"mediatasks_webhook_attempt_duration_seconds": {Name: "WebhookLatency", Unit: "Milliseconds", Scale: 1000},
	"mediatasks_prompt_optimizations_total": {Name: "PromptOptimizations", Unit: "Count",
		Dimensions: map[string]string{"mode": "Mode", "cache": "Cache"}},
	"mediatasks_prompt_llm_calls_total": {Name: "PromptLLMCalls", Unit: "Count",
		Dimensions: map[string]string{"outcome": "Outcome"}},
	"mediatasks_prompt_llm_duration_seconds": {Name: "PromptLLMLatency", Unit: "Milliseconds", Scale: 1000},
	"mediatasks_prompt_truncations_total":    {Name: "PromptTruncations", Unit: "Count"},
	"mediatasks_workflow_runs_lost_total":    {Name: "ExpressRunsLost", Unit: "Count"},
	"mediatasks_provider_callbacks_total": {Name: "ProviderCallbacks", Unit: "Count",
		Dimensions: map[string]string{"provider": "Provider", "outcome": "Outcome"}},
}

// newMetricsPublisher gathers only the metrics an invocation moves: the
// App's gauges read the store and the queues, which would cost requests
// on every invocation (CloudWatch has the queues' own figures).
func newMetricsPublisher(p *Platform, namespace string, out io.Writer) *emf.Flusher {
	reg := prometheus.NewRegistry()
	m := p.App.Metrics
	reg.MustRegister(m.Transitions, m.ProviderCalls, m.ProviderErrors, m.ProviderLatency, m.LostRuns, p.Deliverer.AttemptCollector())
	reg.MustRegister(p.Prompts.Collectors()...)
	if p.callbacks != nil {
		reg.MustRegister(p.callbacks.Received)
	}
	if namespace == "" {
		namespace = DefaultMetricsNamespace
	}
	if out == nil {
		out = os.Stdout
	}
	return &emf.Flusher{Namespace: namespace, Gatherer: reg, Metrics: publishedMetrics, Out: out}
}

// Sweep repairs what a crash between two writes can leave: tasks left
// queued without their queue message, tasks left running by an Express
// execution that ended without finishing them (ExpressRunsLost), and
// webhook deliveries whose message was lost. The stack runs it on a
// schedule.
func (p *Platform) Sweep(ctx context.Context) error {
	p.App.Sweep(ctx)
	if _, err := p.Enqueuer.Sweep(ctx, p.Store, webhook.SweepGrace, 100); err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	return nil
}
