package main

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"

	"github.com/videoai/mediatasks/shared/config"
)

// Settings are the deployment's choices, read from the CDK context
// (cdk.json, or `cdk synth -c key=value`). README.md lists them.
type Settings struct {
	// Stage names the deployment: the stack is mediatasks-<stage> and
	// every named resource starts with mediatasks-<stage>.
	Stage string
	// Config is the platform's YAML configuration, handed to every
	// function as MEDIATASKS_CONFIG; empty means the built-in defaults.
	Config string
	// APIThrottleRate is the HTTP API's steady-state request rate
	// (requests per second) and APIThrottleBurst its bucket size.
	APIThrottleRate  float64
	APIThrottleBurst int
	// OutputRetentionDays is how long task outputs stay in the bucket.
	OutputRetentionDays int
	// LogRetentionDays is how long the functions', state machines' and
	// API's logs are kept; CloudWatch accepts only some values.
	LogRetentionDays int
	// AlarmEmail, when set, subscribes that address to the alarm topic.
	AlarmEmail string
	// TaskConcurrency caps how many process functions each priority's
	// queue keeps busy (the event source mapping's maximum concurrency);
	// 0 leaves a queue uncapped.
	TaskConcurrency Concurrency
	// ExpressImageTasks runs image tasks submitted alone as Express
	// workflows (a sixty-fifth of the Standard workflow's cost): on unless
	// set false. Express's limits are made safe around it (see
	// sfnrunner.ExpressTypes): the start step's claim makes a second
	// execution of a task do nothing, and the sweep fails a task whose
	// execution ended at 5 minutes without finishing it, raising the
	// express-runs-lost alarm.
	ExpressImageTasks bool
	// Capacity is the table's capacity mode: on demand (nil, the
	// default), or provisioned with autoscaling, which costs less under a
	// steady load (see README.md).
	Capacity *ProvisionedCapacity
}

// ProvisionedCapacity is the table's provisioned throughput, scaled by
// Application Auto Scaling between Min and Max units to keep the use near
// TargetPercent, for the table and each of its indexes alike.
type ProvisionedCapacity struct {
	ReadMin, ReadMax   int
	WriteMin, WriteMax int
	TargetPercent      int
}

// Concurrency is a cap per task priority.
type Concurrency struct {
	High, Normal, Low int
}

// The context keys Settings are read from.
const (
	ContextStage               = "stage"
	ContextConfig              = "config"
	ContextAPIThrottleRate     = "apiThrottleRate"
	ContextAPIThrottleBurst    = "apiThrottleBurst"
	ContextOutputRetentionDays = "outputRetentionDays"
	ContextLogRetentionDays    = "logRetentionDays"
	ContextAlarmEmail          = "alarmEmail"
	ContextConcurrencyHigh     = "taskConcurrencyHigh"
	ContextConcurrencyNormal   = "taskConcurrencyNormal"
	ContextConcurrencyLow      = "taskConcurrencyLow"
	ContextExpressImageTasks   = "expressImageTasks"
	ContextTableCapacity       = "tableCapacity"
	ContextReadCapacityMin     = "readCapacityMin"
	ContextReadCapacityMax     = "readCapacityMax"
	ContextWriteCapacityMin    = "writeCapacityMin"
	ContextWriteCapacityMax    = "writeCapacityMax"
	ContextCapacityTarget      = "capacityTargetPercent"
)

// defaultProvisioned is what tableCapacity=provisioned gets where the
// other keys say nothing: a floor small enough for an idle stage, a
// ceiling a burst can grow into, and AWS's usual 70 % target.
var defaultProvisioned = ProvisionedCapacity{ReadMin: 5, ReadMax: 1000, WriteMin: 5, WriteMax: 1000, TargetPercent: 70}

// DefaultSettings are what a context that says nothing gets.
func DefaultSettings() Settings {
	return Settings{
		Stage:               "dev",
		APIThrottleRate:     50,
		APIThrottleBurst:    100,
		OutputRetentionDays: 30,
		LogRetentionDays:    30,
		// High priority is never held back by the stack; normal and low
		// are capped so that a flood of them cannot take every provider
		// slot and all the account's Lambda concurrency.
		TaskConcurrency:   Concurrency{High: 0, Normal: 20, Low: 5},
		ExpressImageTasks: true,
	}
}

// stagePattern keeps stage names usable in every resource name they
// enter (S3 and Secrets Manager are the strictest).
var stagePattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,19}$`)

// logRetentions are the retention periods CloudWatch Logs accepts.
var logRetentions = map[int]awslogs.RetentionDays{
	1: awslogs.RetentionDays_ONE_DAY, 3: awslogs.RetentionDays_THREE_DAYS, 5: awslogs.RetentionDays_FIVE_DAYS,
	7: awslogs.RetentionDays_ONE_WEEK, 14: awslogs.RetentionDays_TWO_WEEKS, 30: awslogs.RetentionDays_ONE_MONTH,
	60: awslogs.RetentionDays_TWO_MONTHS, 90: awslogs.RetentionDays_THREE_MONTHS, 120: awslogs.RetentionDays_FOUR_MONTHS,
	150: awslogs.RetentionDays_FIVE_MONTHS, 180: awslogs.RetentionDays_SIX_MONTHS, 365: awslogs.RetentionDays_ONE_YEAR,
	400: awslogs.RetentionDays_THIRTEEN_MONTHS, 545: awslogs.RetentionDays_EIGHTEEN_MONTHS, 731: awslogs.RetentionDays_TWO_YEARS,
	1096: awslogs.RetentionDays_THREE_YEARS, 1827: awslogs.RetentionDays_FIVE_YEARS, 2192: awslogs.RetentionDays_SIX_YEARS,
	2557: awslogs.RetentionDays_SEVEN_YEARS, 2922: awslogs.RetentionDays_EIGHT_YEARS, 3288: awslogs.RetentionDays_NINE_YEARS,
	3653: awslogs.RetentionDays_TEN_YEARS,
}

// ReadSettings reads the settings through context (the App's
// TryGetContext); a key that is absent keeps its default. Values come as
// JSON from cdk.json and as strings from `-c key=value`: both are read.
// The error names every key that is wrong.
func ReadSettings(context func(key string) any) (Settings, error) {
	s := DefaultSettings()
	var errs []error
	str := func(key string, into *string) {
		switch v := context(key).(type) {
		case nil:
		case string:
			*into = v
		default:
			errs = append(errs, fmt.Errorf("context %s: want a string, got %v", key, v))
		}
	}
	number := func(key string) (float64, bool) {
		switch v := context(key).(type) {
		case nil:
			return 0, false
		case float64:
			return v, true
		case int:
			return float64(v), true
		case string:
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				errs = append(errs, fmt.Errorf("context %s: %q is not a number", key, v))
				return 0, false
			}
			return f, true
		default:
			errs = append(errs, fmt.Errorf("context %s: want a number, got %v", key, v))
			return 0, false
		}
	}
	integer := func(key string, into *int) {
		f, ok := number(key)
		if !ok {
			return
		}
		if f != math.Trunc(f) || math.Abs(f) > math.MaxInt32 {
			errs = append(errs, fmt.Errorf("context %s: %v is not a whole number", key, f))
			return
		}
		*into = int(f)
	}
	str(ContextStage, &s.Stage)
	str(ContextConfig, &s.Config)
	str(ContextAlarmEmail, &s.AlarmEmail)
	if f, ok := number(ContextAPIThrottleRate); ok {
		s.APIThrottleRate = f
	}
	integer(ContextAPIThrottleBurst, &s.APIThrottleBurst)
	integer(ContextOutputRetentionDays, &s.OutputRetentionDays)
	integer(ContextLogRetentionDays, &s.LogRetentionDays)
	integer(ContextConcurrencyHigh, &s.TaskConcurrency.High)
	integer(ContextConcurrencyNormal, &s.TaskConcurrency.Normal)
	integer(ContextConcurrencyLow, &s.TaskConcurrency.Low)
	switch v := context(ContextExpressImageTasks).(type) {
	case nil:
	case bool:
		s.ExpressImageTasks = v
	case string: // -c expressImageTasks=true
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("context %s: want true or false, got %q", ContextExpressImageTasks, v))
		}
		s.ExpressImageTasks = b
	default:
		errs = append(errs, fmt.Errorf("context %s: want true or false, got %v", ContextExpressImageTasks, v))
	}
	var capacity string
	str(ContextTableCapacity, &capacity)
	switch capacity {
	case "", "on-demand":
	case "provisioned":
		c := defaultProvisioned
		integer(ContextReadCapacityMin, &c.ReadMin)
		integer(ContextReadCapacityMax, &c.ReadMax)
		integer(ContextWriteCapacityMin, &c.WriteMin)
		integer(ContextWriteCapacityMax, &c.WriteMax)
		integer(ContextCapacityTarget, &c.TargetPercent)
		s.Capacity = &c
	default:
		errs = append(errs, fmt.Errorf("context %s: want on-demand or provisioned, got %q", ContextTableCapacity, capacity))
	}
	if s.Capacity == nil {
		for _, key := range []string{ContextReadCapacityMin, ContextReadCapacityMax, ContextWriteCapacityMin, ContextWriteCapacityMax, ContextCapacityTarget} {
			if context(key) != nil {
				errs = append(errs, fmt.Errorf("context %s: only with %s=provisioned", key, ContextTableCapacity))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Settings{}, fmt.Errorf("read the context: %w", err)
	}
	if err := s.Validate(); err != nil {
		return Settings{}, err
	}
	return s, nil
}

// Validate names every setting AWS or the platform would refuse.
func (s Settings) Validate() error {
	var errs []error
	if !stagePattern.MatchString(s.Stage) {
		errs = append(errs, fmt.Errorf("stage %q: lower-case letters, digits and '-', starting with a letter, at most 20", s.Stage))
	}
	if s.APIThrottleRate <= 0 {
		errs = append(errs, fmt.Errorf("%s %v: must be above 0", ContextAPIThrottleRate, s.APIThrottleRate))
	}
	if s.APIThrottleBurst <= 0 {
		errs = append(errs, fmt.Errorf("%s %d: must be above 0", ContextAPIThrottleBurst, s.APIThrottleBurst))
	}
	if s.OutputRetentionDays < 1 {
		errs = append(errs, fmt.Errorf("%s %d: at least 1", ContextOutputRetentionDays, s.OutputRetentionDays))
	}
	if _, ok := logRetentions[s.LogRetentionDays]; !ok {
		errs = append(errs, fmt.Errorf("%s %d: CloudWatch Logs keeps logs 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653 days", ContextLogRetentionDays, s.LogRetentionDays))
	}
	if s.AlarmEmail != "" && !strings.Contains(s.AlarmEmail, "@") {
		errs = append(errs, fmt.Errorf("%s %q: not an email address", ContextAlarmEmail, s.AlarmEmail))
	}
	for _, c := range []struct {
		key string
		n   int
	}{
		{ContextConcurrencyHigh, s.TaskConcurrency.High},
		{ContextConcurrencyNormal, s.TaskConcurrency.Normal},
		{ContextConcurrencyLow, s.TaskConcurrency.Low},
	} {
		// An SQS event source mapping takes 2 to 1000.
		if c.n != 0 && (c.n < 2 || c.n > 1000) {
			errs = append(errs, fmt.Errorf("%s %d: 0 (uncapped) or 2 to 1000", c.key, c.n))
		}
	}
	if c := s.Capacity; c != nil {
		if c.ReadMin < 1 || c.ReadMax < c.ReadMin {
			errs = append(errs, fmt.Errorf("%s %d, %s %d: at least 1, and the maximum at least the minimum", ContextReadCapacityMin, c.ReadMin, ContextReadCapacityMax, c.ReadMax))
		}
		if c.WriteMin < 1 || c.WriteMax < c.WriteMin {
			errs = append(errs, fmt.Errorf("%s %d, %s %d: at least 1, and the maximum at least the minimum", ContextWriteCapacityMin, c.WriteMin, ContextWriteCapacityMax, c.WriteMax))
		}
		// Application Auto Scaling takes a target of 20 to 90 % for DynamoDB.
		if c.TargetPercent < 20 || c.TargetPercent > 90 {
			errs = append(errs, fmt.Errorf("%s %d: 20 to 90", ContextCapacityTarget, c.TargetPercent))
		}
	}
	if _, err := s.platformConfig(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	return nil
}

// platformConfig is Config parsed as the functions will parse it, so that
// a configuration they would refuse stops the synthesis instead.
func (s Settings) platformConfig() (config.Config, error) {
	if s.Config == "" {
		return config.Default(), nil
	}
	cfg, err := config.Parse([]byte(s.Config))
	if err != nil {
		return config.Config{}, fmt.Errorf("%s: %w", ContextConfig, err)
	}
	return cfg, nil
}

// taskMaxReceives is the task queues' receive count before their
// dead-letter queue: the app's start attempts (queue.max_receives), so
// that the last receive fails the tasks it could not start rather than
// leaving them queued behind a dead letter.
func (s Settings) taskMaxReceives() int {
	cfg, err := s.platformConfig()
	if err != nil { // Validate refused it already
		return config.Default().Queue.MaxReceives
	}
	return cfg.Queue.MaxReceives
}

// Prefix starts every resource name: mediatasks-<stage>.
func (s Settings) Prefix() string { return "mediatasks-" + s.Stage }

// logRetention is LogRetentionDays as CloudWatch Logs names it.
func (s Settings) logRetention() awslogs.RetentionDays {
	return logRetentions[s.LogRetentionDays]
}
