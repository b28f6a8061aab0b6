package cloud

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/task"
)

// The environment variables the cloud functions read. The stack (infra/)
// sets them; the AWS SDK reads its own (region, credentials, and
// AWS_ENDPOINT_URL_<SERVICE> to point a client at an emulator).
const (
	EnvTable               = "MEDIATASKS_TABLE"
	EnvBucket              = "MEDIATASKS_BUCKET"
	EnvTaskQueuePrefix     = "MEDIATASKS_TASK_QUEUE_URL_"      // + HIGH, NORMAL, LOW
	EnvTaskDeadPrefix      = "MEDIATASKS_TASK_DEAD_QUEUE_URL_" // + HIGH, NORMAL, LOW
	EnvWebhookQueue        = "MEDIATASKS_WEBHOOK_QUEUE_URL"
	EnvWebhookDeadQueue    = "MEDIATASKS_WEBHOOK_DEAD_QUEUE_URL"
	EnvTaskStateMachine    = "MEDIATASKS_TASK_STATE_MACHINE_ARN"
	EnvBatchStateMachine   = "MEDIATASKS_BATCH_STATE_MACHINE_ARN"
	EnvExpressStateMachine = "MEDIATASKS_EXPRESS_TASK_STATE_MACHINE_ARN" // optional: short task types run there
	EnvKeysSecret          = "MEDIATASKS_KEYS_SECRET_ARN"                // Secrets Manager: {"jwt_secret","cursor_key"}
	EnvProviderSecret      = "MEDIATASKS_PROVIDER_SECRET_ARN"            // Secrets Manager: {"<provider>": {options}}
	EnvMetricsNamespace    = "MEDIATASKS_METRICS_NAMESPACE"              // CloudWatch namespace of the functions' metrics
	EnvConfig              = "MEDIATASKS_CONFIG"                         // the YAML configuration itself, not a path
	EnvJWTSecret           = "MEDIATASKS_JWT_SECRET"
	EnvCursorKey           = "MEDIATASKS_CURSOR_KEY" // signs listing cursors; at least 32 bytes
	EnvLogLevel            = "MEDIATASKS_LOG_LEVEL"
	// EnvPublicBaseURL is the API's URL, where providers that can call
	// back are told to (the process function's start step); unset: jobs
	// are polled.
	EnvPublicBaseURL       = "MEDIATASKS_PUBLIC_BASE_URL"
	EnvS3PathStyle         = "MEDIATASKS_S3_PATH_STYLE" // "true" for S3 emulators on loopback
	EnvWebhookAllowPrivate = "MEDIATASKS_WEBHOOK_ALLOW_PRIVATE"
)

// minKeyLen is the shortest HMAC key accepted (cursor key, JWT secret):
// a key shorter than its hash's output weakens it, and a short JWT
// secret can be found by brute force.
const minKeyLen = 32

// Env is the cloud runtime's settings, read from the environment.
type Env struct {
	Table             string
	Bucket            string
	TaskQueues        map[task.Priority]string
	TaskDeadQueues    map[task.Priority]string
	WebhookQueue      string
	WebhookDeadQueue  string
	TaskStateMachine  string
	BatchStateMachine string
	// ExpressStateMachine runs the short task types (sfnrunner.ARNs).
	ExpressStateMachine string
	// KeysSecret names the secret that holds the JWT secret and the
	// cursor key, read at start, so that neither sits in the function's
	// configuration; it takes the place of both variables.
	KeysSecret string
	// ProviderSecret names the secret that holds the providers' own
	// settings (their API keys), merged into the configuration at start.
	ProviderSecret   string
	MetricsNamespace string
	Config           config.Config
	JWTSecret        []byte
	CursorKey        []byte
	// LLMAPIKey, read from the keys secret, is what the variable
	// prompt.llm.api_key_env names reads as.
	LLMAPIKey   string
	LogLevel    string
	S3PathStyle bool
	// WebhookAllowPrivate lets webhooks reach private addresses: for
	// tests with receivers on loopback, never in a deployment.
	WebhookAllowPrivate bool
	// PublicBaseURL is the API's URL for providers' callbacks ("": none
	// is asked for).
	PublicBaseURL string
}

// ReadEnv reads the settings through getenv (os.Getenv in a function).
// Its error names every variable that is missing or wrong.
func ReadEnv(getenv func(string) string) (Env, error) {
	var errs []error
	required := func(name string) string {
		v := getenv(name)
		if v == "" {
			errs = append(errs, fmt.Errorf("%s is not set", name))
		}
		return v
	}
	flag := func(name string) bool {
		v := getenv(name)
		if v == "" {
			return false
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q: must be true or false", name, v))
		}
		return b
	}
	e := Env{
		Table:               required(EnvTable),
		Bucket:              required(EnvBucket),
		TaskQueues:          map[task.Priority]string{},
		TaskDeadQueues:      map[task.Priority]string{},
		WebhookQueue:        required(EnvWebhookQueue),
		WebhookDeadQueue:    required(EnvWebhookDeadQueue),
		TaskStateMachine:    required(EnvTaskStateMachine),
		BatchStateMachine:   required(EnvBatchStateMachine),
		ExpressStateMachine: getenv(EnvExpressStateMachine),
		KeysSecret:          getenv(EnvKeysSecret),
		ProviderSecret:      getenv(EnvProviderSecret),
		MetricsNamespace:    getenv(EnvMetricsNamespace),
		JWTSecret:           []byte(getenv(EnvJWTSecret)),
		CursorKey:           []byte(getenv(EnvCursorKey)),
		LogLevel:            getenv(EnvLogLevel),
		S3PathStyle:         flag(EnvS3PathStyle),
		WebhookAllowPrivate: flag(EnvWebhookAllowPrivate),
		PublicBaseURL:       strings.TrimRight(getenv(EnvPublicBaseURL), "/"),
	}
	if e.PublicBaseURL != "" {
		if u, err := url.Parse(e.PublicBaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s %q: must be the API's http or https URL", EnvPublicBaseURL, e.PublicBaseURL))
		}
	}
	for _, p := range task.Priorities {
		e.TaskQueues[p] = required(EnvTaskQueuePrefix + priorityName(p))
		e.TaskDeadQueues[p] = required(EnvTaskDeadPrefix + priorityName(p))
	}
	if e.KeysSecret == "" && len(e.CursorKey) == 0 {
		errs = append(errs, fmt.Errorf("%s is not set (nor %s)", EnvCursorKey, EnvKeysSecret))
	}
	errs = append(errs, e.checkKeys(EnvCursorKey, EnvJWTSecret)...)
	e.Config = config.Default()
	if text := getenv(EnvConfig); text != "" {
		cfg, err := config.Parse([]byte(text))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", EnvConfig, err))
		} else {
			e.Config = cfg
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Env{}, fmt.Errorf("read the environment: %w", err)
	}
	return e, nil
}

// checkKeys refuses keys too short to sign with, naming where they came
// from.
func (e Env) checkKeys(cursorKeyFrom, jwtSecretFrom string) []error {
	var errs []error
	if n := len(e.CursorKey); n > 0 && n < minKeyLen {
		errs = append(errs, fmt.Errorf("%s is %d bytes: at least %d are needed", cursorKeyFrom, n, minKeyLen))
	}
	if n := len(e.JWTSecret); n > 0 && n < minKeyLen {
		errs = append(errs, fmt.Errorf("%s is %d bytes: at least %d are needed", jwtSecretFrom, n, minKeyLen))
	}
	return errs
}

// Environ is the inverse of ReadEnv, for tests and tools that start a
// function: the variables that give e (Config is left out: it has no
// single text form).
func (e Env) Environ() map[string]string {
	m := map[string]string{
		EnvTable:             e.Table,
		EnvBucket:            e.Bucket,
		EnvWebhookQueue:      e.WebhookQueue,
		EnvWebhookDeadQueue:  e.WebhookDeadQueue,
		EnvTaskStateMachine:  e.TaskStateMachine,
		EnvBatchStateMachine: e.BatchStateMachine,
	}
	for _, p := range task.Priorities {
		m[EnvTaskQueuePrefix+priorityName(p)] = e.TaskQueues[p]
		m[EnvTaskDeadPrefix+priorityName(p)] = e.TaskDeadQueues[p]
	}
	for name, v := range map[string]string{
		EnvExpressStateMachine: e.ExpressStateMachine, EnvKeysSecret: e.KeysSecret,
		EnvProviderSecret: e.ProviderSecret, EnvMetricsNamespace: e.MetricsNamespace,
		EnvPublicBaseURL: e.PublicBaseURL,
	} {
		if v != "" {
			m[name] = v
		}
	}
	if len(e.JWTSecret) > 0 {
		m[EnvJWTSecret] = string(e.JWTSecret)
	}
	if len(e.CursorKey) > 0 {
		m[EnvCursorKey] = string(e.CursorKey)
	}
	if e.LogLevel != "" {
		m[EnvLogLevel] = e.LogLevel
	}
	if e.S3PathStyle {
		m[EnvS3PathStyle] = "true"
	}
	if e.WebhookAllowPrivate {
		m[EnvWebhookAllowPrivate] = "true"
	}
	return m
}

func priorityName(p task.Priority) string {
	switch p {
	case task.PriorityHigh:
		return "HIGH"
	case task.PriorityLow:
		return "LOW"
	default:
		return "NORMAL"
	}
}

// getenv reads the environment, with the LLM's key from the keys secret
// in the place of the variable prompt.llm.api_key_env names.
func (e Env) getenv() func(string) string {
	return func(name string) string {
		if l := e.Config.Prompt.LLM; l != nil && e.LLMAPIKey != "" && name == l.APIKeyEnv {
			return e.LLMAPIKey
		}
		return os.Getenv(name)
	}
}
