package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// StackProps are the stack's inputs.
type StackProps struct {
	awscdk.StackProps
	// Settings are the deployment's choices; the zero value means
	// DefaultSettings.
	Settings Settings
	// AssetsDir holds the functions' builds, one folder each with its
	// bootstrap binary (<AssetsDir>/submit/bootstrap, ...); "" is "dist".
	AssetsDir string
}

// DefaultAssetsDir is where `make build-lambdas` puts the functions.
const DefaultAssetsDir = "dist"

// NewStack is the whole platform in one stack: HTTP API, functions,
// table, queues, bucket, state machines, secrets, dashboard and alarms.
// It panics on settings that Validate refuses, as constructs do on bad
// props; main validates them first and says what is wrong.
func NewStack(scope constructs.Construct, id string, props StackProps) awscdk.Stack {
	settings := props.Settings
	if settings == (Settings{}) {
		settings = DefaultSettings()
	}
	if err := settings.Validate(); err != nil {
		panic(err)
	}
	assets := props.AssetsDir
	if assets == "" {
		assets = DefaultAssetsDir
	}
	stack := awscdk.NewStack(scope, jsii.String(id), &props.StackProps)
	// S3 delivers server access logs under a bucket policy, so that the log
	// bucket can keep ACLs disabled (bucket owner enforced).
	stack.Node().SetContext(jsii.String("@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"), true)
	b := &builder{stack: stack, settings: settings}

	store := b.newData()
	secrets := b.newSecrets()
	machineNames := b.machineNames()
	fns := b.newFunctions(assets, store, secrets, machineNames)
	machines := b.newWorkflows(machineNames, fns.process)
	api := b.newAPI(fns)
	// The process function's start step tells providers that call back
	// where to: the API (which the submit function serves). Only process
	// reads it; the API's functions cannot (their API is made from them).
	fns.process.AddEnvironment(jsii.String(cloudEnvPublicBaseURL), api.ApiEndpoint(), nil)
	b.newMonitoring(store, fns, machines, api)

	awscdk.Tags_Of(stack).Add(jsii.String("app"), jsii.String("mediatasks"), nil)
	awscdk.Tags_Of(stack).Add(jsii.String("stage"), jsii.String(settings.Stage), nil)
	return stack
}

// builder carries what every part of the stack needs.
type builder struct {
	stack    awscdk.Stack
	settings Settings
}

// name is a resource name: mediatasks-<stage>-<suffix>.
func (b *builder) name(suffix string) *string {
	return jsii.String(b.settings.Prefix() + "-" + suffix)
}

// arn builds an ARN in the stack's partition, region and account.
func (b *builder) arn(service, resource, resourceName string, format awscdk.ArnFormat) *string {
	return b.stack.FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String(service),
		Resource:     jsii.String(resource),
		ResourceName: jsii.String(resourceName),
		ArnFormat:    format,
	})
}
