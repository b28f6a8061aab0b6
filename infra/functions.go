package main

import (
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"
)

// functionSpec is one function's size. README.md says why each is what
// it is.
type functionSpec struct {
	name           string
	memoryMB       int
	timeoutSeconds int
	// ephemeralMB is /tmp; 0 keeps Lambda's 512 MB.
	ephemeralMB int
}

var (
	// submit validates, writes the task and sends its message; with
	// `Prefer: wait` it waits for the task, 25 s at most
	// (cloud.MaxPreferWait), within API Gateway's 30 s.
	submitSpec = functionSpec{name: "submit", memoryMB: 256, timeoutSeconds: 29}
	// status answers reads; an event stream waits up to 20 s for the next
	// event, within API Gateway's 30 s integration limit.
	statusSpec = functionSpec{name: "status", memoryMB: 256, timeoutSeconds: 29}
	// process runs the workflow steps: provider calls, and storing outputs
	// (outputs over 8 MiB are spooled to /tmp before the upload).
	processSpec = functionSpec{name: "process", memoryMB: 512, timeoutSeconds: 300, ephemeralMB: 2048}
	// webhook delivers a batch of signed webhooks, each bounded by its own
	// timeout.
	webhookSpec = functionSpec{name: "webhook", memoryMB: 256, timeoutSeconds: 60}
)

// functions are the four Lambda functions.
type functions struct {
	submit, status, process, webhook awslambda.Function
}

func (f functions) all() []awslambda.Function {
	return []awslambda.Function{f.submit, f.status, f.process, f.webhook}
}

// machineNames are the state machines' names, from which their ARNs are
// built: the machines refer to the process function, so the functions
// cannot refer to the machines (a Ref would be a dependency cycle).
type machineNames struct {
	express, standard, batch string
}

func (b *builder) machineNames() machineNames {
	return machineNames{
		express:  *b.name("task"),
		standard: *b.name("task-long"),
		batch:    *b.name("batch"),
	}
}

func (b *builder) stateMachineArn(name string) *string {
	return b.arn("states", "stateMachine", name, awscdk.ArnFormat_COLON_RESOURCE_NAME)
}

// executionsArn covers every execution of the state machine name.
func (b *builder) executionsArn(name string) *string {
	return b.arn("states", "execution", name+":*", awscdk.ArnFormat_COLON_RESOURCE_NAME)
}

func (b *builder) newFunctions(assets string, s store, sec secrets, machines machineNames) functions {
	env := b.environment(s, sec, machines)
	fns := functions{
		submit:  b.newFunction("Submit", submitSpec, assets, env),
		status:  b.newFunction("Status", statusSpec, assets, env),
		process: b.newFunction("Process", processSpec, assets, env),
		webhook: b.newFunction("Webhook", webhookSpec, assets, env),
	}
	b.grant(fns, s, sec, machines)

	concurrency := map[string]int{
		"HIGH": b.settings.TaskConcurrency.High, "NORMAL": b.settings.TaskConcurrency.Normal, "LOW": b.settings.TaskConcurrency.Low,
	}
	for _, q := range s.taskQueues {
		fns.process.AddEventSource(sqsSource(q.queue, concurrency[q.priority]))
	}
	fns.webhook.AddEventSource(sqsSource(s.webhooks.queue, 0))

	// The sweep re-sends tasks left queued (their message was never
	// sent); the process function knows the default scheduled event.
	awsevents.NewRule(b.stack, jsii.String("SweepSchedule"), &awsevents.RuleProps{
		RuleName:    b.name("sweep"),
		Description: jsii.String("Runs the process function's sweep every minute."),
		Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Minutes(jsii.Number(1))),
		Targets:     &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(fns.process, nil)},
	})
	return fns
}

// sqsSource takes up to ten messages at once and reports failures one
// by one, so that one bad message does not send its batch back; no
// batching window, as tasks should start at once. maxConcurrency 0
// leaves the mapping uncapped.
func sqsSource(q awssqs.IQueue, maxConcurrency int) awslambda.IEventSource {
	props := &awslambdaeventsources.SqsEventSourceProps{
		BatchSize:               jsii.Number(10),
		ReportBatchItemFailures: jsii.Bool(true),
	}
	if maxConcurrency > 0 {
		props.MaxConcurrency = jsii.Number(float64(maxConcurrency))
	}
	return awslambdaeventsources.NewSqsEventSource(q, props)
}

// cloudEnvPublicBaseURL is the API's public base URL, in the process
// function's environment (cloud.EnvPublicBaseURL).
const cloudEnvPublicBaseURL = "MEDIATASKS_PUBLIC_BASE_URL"

// environment is every function's environment (shared/cloud/env.go):
// each function builds the whole platform and uses its part.
func (b *builder) environment(s store, sec secrets, machines machineNames) *map[string]*string {
	env := map[string]*string{
		"MEDIATASKS_TABLE":                   s.table.TableName(),
		"MEDIATASKS_BUCKET":                  s.bucket.BucketName(),
		"MEDIATASKS_WEBHOOK_QUEUE_URL":       s.webhooks.queue.QueueUrl(),
		"MEDIATASKS_WEBHOOK_DEAD_QUEUE_URL":  s.webhooks.dead.QueueUrl(),
		"MEDIATASKS_TASK_STATE_MACHINE_ARN":  b.stateMachineArn(machines.standard),
		"MEDIATASKS_BATCH_STATE_MACHINE_ARN": b.stateMachineArn(machines.batch),
		"MEDIATASKS_KEYS_SECRET_ARN":         sec.keys.SecretArn(),
		"MEDIATASKS_PROVIDER_SECRET_ARN":     sec.providers.SecretArn(),
		"MEDIATASKS_CONFIG":                  jsii.String(b.settings.Config),
		"MEDIATASKS_METRICS_NAMESPACE":       jsii.String(b.metricsNamespace()),
		"MEDIATASKS_LOG_LEVEL":               jsii.String("info"),
	}
	if b.settings.ExpressImageTasks {
		env["MEDIATASKS_EXPRESS_TASK_STATE_MACHINE_ARN"] = b.stateMachineArn(machines.express)
	}
	for _, q := range s.taskQueues {
		env["MEDIATASKS_TASK_QUEUE_URL_"+q.priority] = q.queue.QueueUrl()
		env["MEDIATASKS_TASK_DEAD_QUEUE_URL_"+q.priority] = q.dead.QueueUrl()
	}
	return &env
}

// metricsNamespace is where the functions' Embedded Metric Format
// metrics go.
func (b *builder) metricsNamespace() string {
	return "MediaTasks/" + b.settings.Stage
}

func (b *builder) newFunction(id string, spec functionSpec, assets string, env *map[string]*string) awslambda.Function {
	name := b.name(spec.name)
	logs := awslogs.NewLogGroup(b.stack, jsii.String(id+"Logs"), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String("/aws/lambda/" + *name),
		Retention:     b.settings.logRetention(),
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	// An own role, without the AWSLambdaBasicExecutionRole managed
	// policy: it may write to its own log group and nothing more.
	role := awsiam.NewRole(b.stack, jsii.String(id+"Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("The " + *name + " function"),
	})
	logs.GrantWrite(role)

	props := &awslambda.FunctionProps{
		FunctionName:          name,
		Runtime:               awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:          awslambda.Architecture_ARM_64(),
		Handler:               jsii.String("bootstrap"),
		Code:                  awslambda.Code_FromAsset(jsii.String(filepath.Join(assets, spec.name)), nil),
		MemorySize:            jsii.Number(float64(spec.memoryMB)),
		Timeout:               awscdk.Duration_Seconds(jsii.Number(float64(spec.timeoutSeconds))),
		Role:                  role,
		LogGroup:              logs,
		LoggingFormat:         awslambda.LoggingFormat_JSON,
		ApplicationLogLevelV2: awslambda.ApplicationLogLevel_INFO,
		SystemLogLevelV2:      awslambda.SystemLogLevel_WARN,
		Tracing:               awslambda.Tracing_ACTIVE,
		Environment:           env,
	}
	if spec.ephemeralMB > 0 {
		props.EphemeralStorageSize = awscdk.Size_Mebibytes(jsii.Number(float64(spec.ephemeralMB)))
	}
	return awslambda.NewFunction(b.stack, jsii.String(id), props)
}
