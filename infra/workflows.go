package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/jsii-runtime-go"

	"github.com/videoai/mediatasks/shared/workflow"
)

// machines are the three state machines, all from the files the local
// engine runs (shared/workflow).
type machines struct {
	// express runs image tasks submitted alone (unless expressImageTasks
	// is false): Express bills per request and duration, not per state
	// transition.
	express awsstepfunctions.StateMachine
	// standard runs the same task workflow for video, transcription and
	// subtitles, whose jobs can outlast Express's five minutes, and for
	// every task of a batch.
	standard awsstepfunctions.StateMachine
	// batch runs a batch's tasks under a concurrency cap.
	batch awsstepfunctions.StateMachine
}

func (m machines) all() []awsstepfunctions.StateMachine {
	return []awsstepfunctions.StateMachine{m.express, m.standard, m.batch}
}

// The rule Step Functions manages for startExecution.sync: it learns
// from EventBridge when a child execution ends.
const syncEventsRule = "StepFunctionsGetEventsForStepFunctionsExecutionRule"

func (b *builder) newWorkflows(names machineNames, process awslambda.Function) machines {
	substitutions := &map[string]*string{
		workflow.ProcessFunctionArn:  process.FunctionArn(),
		workflow.TaskStateMachineArn: b.stateMachineArn(names.standard),
	}
	m := machines{
		// Express cannot wait for a task token: its variant polls a job
		// whose provider calls back.
		express:  b.newStateMachine("TaskExpressMachine", names.express, awsstepfunctions.StateMachineType_EXPRESS, workflow.ExpressTaskDefinition, substitutions),
		standard: b.newStateMachine("TaskStandardMachine", names.standard, awsstepfunctions.StateMachineType_STANDARD, workflow.TaskDefinition, substitutions),
		batch:    b.newStateMachine("BatchMachine", names.batch, awsstepfunctions.StateMachineType_STANDARD, workflow.BatchDefinition, substitutions),
	}
	for _, sm := range m.all() {
		// Unqualified: the definitions name the function without a version.
		sm.AddToRolePolicy(statement([]string{"lambda:InvokeFunction"}, process.FunctionArn()))
	}
	// The batch starts each task as a child execution of the standard task
	// machine and waits for it (startExecution.sync:2), which also needs
	// the managed EventBridge rule that reports the child's end.
	m.batch.AddToRolePolicy(statement([]string{"states:StartExecution"}, b.stateMachineArn(names.standard)))
	m.batch.AddToRolePolicy(statement([]string{"states:DescribeExecution", "states:StopExecution"}, b.executionsArn(names.standard)))
	m.batch.AddToRolePolicy(statement([]string{"events:PutTargets", "events:PutRule", "events:DescribeRule"},
		b.arn("events", "rule", syncEventsRule, awscdk.ArnFormat_SLASH_RESOURCE_NAME)))
	suppress(m.batch, nagSuppression{
		id:        "AwsSolutions-IAM5",
		reason:    "startExecution.sync watches and stops the child executions it starts, whose names (the task ids) are chosen at run time: execution:<task machine>:*.",
		appliesTo: []string{`/^Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:mediatasks-[a-z0-9-]+:\*$/g`},
	})
	return m
}

func (b *builder) newStateMachine(id, name string, kind awsstepfunctions.StateMachineType, definition []byte, substitutions *map[string]*string) awsstepfunctions.StateMachine {
	logs := awslogs.NewLogGroup(b.stack, jsii.String(id+"Logs"), &awslogs.LogGroupProps{
		// Step Functions delivers logs as vended logs, whose resource policy
		// covers this prefix.
		LogGroupName:  jsii.String("/aws/vendedlogs/states/" + name),
		Retention:     b.settings.logRetention(),
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	sm := awsstepfunctions.NewStateMachine(b.stack, jsii.String(id), &awsstepfunctions.StateMachineProps{
		StateMachineName:        jsii.String(name),
		StateMachineType:        kind,
		DefinitionBody:          awsstepfunctions.DefinitionBody_FromString(jsii.String(string(definition))),
		DefinitionSubstitutions: substitutions,
		TracingEnabled:          jsii.Bool(true),
		Logs: &awsstepfunctions.LogOptions{
			Destination:          logs,
			Level:                awsstepfunctions.LogLevel_ERROR,
			IncludeExecutionData: jsii.Bool(false),
		},
	})
	suppress(sm,
		nagSuppression{
			id: "AwsSolutions-SF1",
			reason: "Errors only: the task records and their events already trace every step, and logging ALL events would cost a log write per state " +
				"transition (task inputs are not logged either: includeExecutionData is false, as prompts may be personal data).",
		},
		nagSuppression{
			id: "AwsSolutions-IAM5",
			reason: "AWS requires Resource \"*\" for X-Ray (xray:PutTraceSegments, PutTelemetryRecords, GetSamplingRules, GetSamplingTargets) " +
				"and for the log delivery actions Step Functions uses to log to CloudWatch Logs (logs:CreateLogDelivery and related).",
			appliesTo: []string{"Resource::*"},
		},
	)
	return sm
}

func statement(actions []string, resources ...*string) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Effect:    awsiam.Effect_ALLOW,
		Actions:   jsii.Strings(actions...),
		Resources: &resources,
	})
}
