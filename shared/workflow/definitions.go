// Package workflow holds the platform's state machines, written in the
// Amazon States Language, and runs them on one machine. The same files are
// what Step Functions runs in the cloud (the CDK stack loads them with
// substitutions for its ARNs), so what passes the tests here is what AWS
// runs.
package workflow

import _ "embed"

// The names of the state machines, locally and in the cloud.
const (
	TaskMachine  = "task"
	BatchMachine = "batch"
)

// TaskDefinition runs one task: start (prompt optimisation, provider
// choice, provider call), poll a long job, fail over, complete or fail.
//
//go:embed task.asl.json
var TaskDefinition []byte

// BatchDefinition runs the task workflow for each task of a batch under a
// concurrency cap, then finalises the batch.
//
//go:embed batch.asl.json
var BatchDefinition []byte

// InvokeWaitForTaskToken is the resource of a state that calls the
// process function with a task token and waits until the token is
// answered (Step Functions' lambda:invoke integration).
const InvokeWaitForTaskToken = "arn:aws:states:::lambda:invoke.waitForTaskToken"

// Substitution names used in the definitions: each `${Name}` is replaced
// when a definition is loaded (DefinitionSubstitutions in the cloud).
const (
	// ProcessFunctionArn is the resource of every step action: the process
	// function, which routes by the "action" field of its input.
	ProcessFunctionArn = "ProcessFunctionArn"
	// TaskStateMachineArn is the task workflow, which the batch workflow
	// starts for each of its tasks.
	TaskStateMachineArn = "TaskStateMachineArn"
)
