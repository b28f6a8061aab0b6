package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"
)

// DynamoDB actions. A transaction (TransactWriteItems) has no IAM action
// of its own: each of its items is authorised as the PutItem, UpdateItem,
// DeleteItem or ConditionCheckItem it is.
var (
	tableItemActions = []string{
		"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
		"dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem",
	}
	// The status function reads, and writes only a user's webhook secret,
	// created on its first read.
	tableStatusActions = []string{
		"dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem",
		"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem",
	}
	// The health check (GET /health, and the API functions' readiness)
	// asks whether the table answers.
	tableHealthActions = []string{"dynamodb:DescribeTable"}
)

// grant gives each function what it uses and nothing else; README.md
// has the summary.
func (b *builder) grant(fns functions, s store, sec secrets, machines machineNames) {
	table := []*string{s.table.TableArn(), jsii.String(*s.table.TableArn() + "/index/*")}
	objects := jsii.String(*s.bucket.BucketArn() + "/*")
	taskAndWebhookQueues := append(queueArns(taskQueuesOf(s)...), s.webhooks.queue.QueueArn())
	allMachines := []*string{
		b.stateMachineArn(machines.express), b.stateMachineArn(machines.standard), b.stateMachineArn(machines.batch),
	}

	for _, fn := range fns.all() {
		// Every function builds the whole platform at start: it reads both
		// secrets, and the queue statistics (health, backlog checks) read
		// every queue's attributes.
		allow(fn, []string{"secretsmanager:GetSecretValue"}, sec.keys.SecretArn(), sec.providers.SecretArn())
		allow(fn, []string{"sqs:GetQueueAttributes"}, queueArns(s.allQueues()...)...)
	}
	for _, fn := range []awslambda.Function{fns.submit, fns.process, fns.webhook} {
		allow(fn, tableItemActions, table...)
	}
	allow(fns.status, tableStatusActions, table...)
	for _, fn := range []awslambda.Function{fns.submit, fns.status} {
		allow(fn, tableHealthActions, s.table.TableArn())
		allow(fn, []string{"states:DescribeStateMachine"}, allMachines...)
	}

	// submit: admits tasks, sends their events' webhooks, presigns
	// uploads and downloads, and cancels running workflows.
	allow(fns.submit, []string{"sqs:SendMessage"}, taskAndWebhookQueues...)
	// It reads uploads (HeadObject; without ListBucket S3 answers a
	// missing key 403, not 404) and drops a replayed upload's copy.
	allow(fns.submit, []string{"s3:PutObject", "s3:GetObject", "s3:DeleteObject"}, objects)
	allow(fns.submit, []string{"s3:ListBucket"}, s.bucket.BucketArn())
	// Only Standard executions can be stopped (Express ones end at
	// their next step).
	allow(fns.submit, []string{"states:StopExecution", "states:GetExecutionHistory"}, b.executionsArn(machines.standard))
	// It serves the providers' callbacks, which end a Standard task
	// workflow's wait for its job (AwaitCallback: Express ones poll).
	allow(fns.submit, []string{"states:SendTaskSuccess"}, b.stateMachineArn(machines.standard))

	// status: reads, and presigns downloads.
	allow(fns.status, []string{"s3:GetObject"}, objects)
	allow(fns.status, []string{"s3:ListBucket"}, s.bucket.BucketArn())

	// process: takes tasks from the queues and starts their workflows,
	// runs the workflow steps, re-sends tasks the sweep finds, sends
	// webhooks, and stores outputs.
	for _, q := range s.taskQueues {
		q.queue.GrantConsumeMessages(fns.process)
	}
	allow(fns.process, []string{"sqs:SendMessage"}, taskAndWebhookQueues...)
	allow(fns.process, []string{"s3:PutObject", "s3:GetObject", "s3:DeleteObject"}, objects)
	allow(fns.process, []string{"s3:ListBucket"}, s.bucket.BucketArn()) // a missing input is a 404, not a 403
	allow(fns.process, []string{"states:StartExecution"}, allMachines...)

	// webhook: takes deliveries from its queue, and hides a failed one
	// for its backoff (ChangeMessageVisibility); reads outputs it links.
	s.webhooks.queue.GrantConsumeMessages(fns.webhook)
	allow(fns.webhook, []string{"s3:GetObject"}, objects)

	for _, fn := range fns.all() {
		suppress(fn.Role(), xrayWildcard, nagSuppression{
			id: "AwsSolutions-IAM5",
			reason: "Wildcards bounded to this stack's own resources: the table's indexes (<table>/index/*), the output bucket's objects (<bucket>/*), " +
				"and the executions of the task state machines (execution:<machine>:*), whose names are chosen at run time.",
			appliesTo: []string{
				`/^Resource::<Table[A-Za-z0-9]+\.Arn>\/index\/\*$/g`,
				`/^Resource::<OutputBucket[A-Za-z0-9]+\.Arn>\/\*$/g`,
				`/^Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:mediatasks-[a-z0-9-]+:\*$/g`,
			},
		})
	}
}

// allow adds a statement to fn's role: actions on resources.
func allow(fn awslambda.Function, actions []string, resources ...*string) {
	fn.AddToRolePolicy(statement(actions, resources...))
}

func taskQueuesOf(s store) []awssqs.Queue {
	qs := make([]awssqs.Queue, 0, len(s.taskQueues))
	for _, q := range s.taskQueues {
		qs = append(qs, q.queue)
	}
	return qs
}

func queueArns(qs ...awssqs.Queue) []*string {
	arns := make([]*string, 0, len(qs))
	for _, q := range qs {
		arns = append(arns, q.QueueArn())
	}
	return arns
}
