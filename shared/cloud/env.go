package cloud

import (
	"errors"
	"fmt"
	"strconv"

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
	EnvConfig              = "MEDIATASKS_CONFIG" // the YAML configuration itself, not a path
	EnvJWTSecret           = "MEDIATASKS_JWT_SECRET"
	EnvCursorKey           = "MEDIATASKS_CURSOR_KEY" // signs listing cursors; at least 32 bytes
	EnvLogLevel            = "MEDIATASKS_LOG_LEVEL"
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
	Config            config.Config
	JWTSecret         []byte
	CursorKey         []byte
	LogLevel          string
	S3PathStyle       bool
	// WebhookAllowPrivate lets webhooks reach private addresses: for
	// tests with receivers on loopback, never in a deployment.
	WebhookAllowPrivate bool
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
		JWTSecret:           []byte(getenv(EnvJWTSecret)),
		CursorKey:           []byte(required(EnvCursorKey)),
		LogLevel:            getenv(EnvLogLevel),
		S3PathStyle:         flag(EnvS3PathStyle),
		WebhookAllowPrivate: flag(EnvWebhookAllowPrivate),
	}
	for _, p := range task.Priorities {
		e.TaskQueues[p] = required(EnvTaskQueuePrefix + priorityName(p))
		e.TaskDeadQueues[p] = required(EnvTaskDeadPrefix + priorityName(p))
	}
	if n := len(e.CursorKey); n > 0 && n < minKeyLen {
		errs = append(errs, fmt.Errorf("%s is %d bytes: at least %d are needed", EnvCursorKey, n, minKeyLen))
	}
	if n := len(e.JWTSecret); n > 0 && n < minKeyLen {
		errs = append(errs, fmt.Errorf("%s is %d bytes: at least %d are needed", EnvJWTSecret, n, minKeyLen))
	}
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
