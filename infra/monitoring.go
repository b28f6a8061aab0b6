package main

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/jsii-runtime-go"
)

// The custom metrics the functions publish in Embedded Metric Format
// (shared/cloud), under Settings.metricsNamespace.
const (
	metricTaskTransitions = "TaskTransitions" // TaskType, Status
	metricProviderCalls   = "ProviderCalls"   // Provider, Operation
	metricProviderErrors  = "ProviderErrors"  // Provider, Kind
	metricProviderLatency = "ProviderLatency" // Provider, Operation; milliseconds
	metricWebhookAttempts = "WebhookAttempts" // Outcome
	metricWebhookLatency  = "WebhookLatency"  // milliseconds
	metricExpressRunsLost = "ExpressRunsLost" // no dimensions: tasks the sweep failed with workflow_timeout
)

// taskOutcomes are the terminal statuses the dashboard shows per type.
var taskOutcomes = []string{"completed", "failed", "canceled"}

// period is every alarm's and graph's period.
func period() awscdk.Duration { return awscdk.Duration_Minutes(jsii.Number(5)) }

// taskQueueMaxAge is the age, in seconds, the oldest task message may
// reach: a task waits for a process function only briefly.
//
// The webhook queue has no such bound: its messages are hidden for each
// retry's backoff (hours, on the schedule) and still count for that age.
// Its consumer is watched instead by its visible messages, which the
// event source mapping takes at once: some left visible for
// webhookBacklogPeriods periods in a row mean it is not keeping up.
const (
	taskQueueMaxAge       = 300
	webhookBacklogPeriods = 3
)

// processErrorRate is the share of failed process invocations, in per
// cent, that raises its alarm.
const processErrorRate = 10

func (b *builder) newMonitoring(s store, fns functions, m machines, api awsapigatewayv2.HttpApi) {
	topic := b.newAlarmTopic()
	b.newDashboard(s, fns, m, api)
	b.newAlarms(topic, s, fns, m)
}

// newAlarmTopic is where every alarm goes. Its key is the stack's own:
// CloudWatch cannot publish to a topic encrypted with the AWS managed
// SNS key, whose policy no one can extend to cloudwatch.amazonaws.com.
func (b *builder) newAlarmTopic() awssns.Topic {
	account := awsiam.NewAccountRootPrincipal()
	cloudwatch := awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)
	policy := awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{
		Statements: &[]awsiam.PolicyStatement{
			// The account's IAM policies decide who manages and uses the key,
			// as in KMS's default key policy, but with the key's actions
			// named one by one rather than kms:*.
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:        jsii.String("AccountManagesAndUsesTheKey"),
				Principals: &[]awsiam.IPrincipal{account},
				Actions:    jsii.Strings(keyAccountActions...),
				Resources:  jsii.Strings("*"),
			}),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:        jsii.String("CloudWatchPublishesAlarms"),
				Principals: &[]awsiam.IPrincipal{cloudwatch},
				Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey"),
				Resources:  jsii.Strings("*"),
			}),
		},
	})
	key := awskms.NewKey(b.stack, jsii.String("AlarmTopicKey"), &awskms.KeyProps{
		Alias:             jsii.String("alias/" + *b.name("alarms")),
		Description:       jsii.String("mediatasks " + b.settings.Stage + ": encrypts the alarm topic"),
		EnableKeyRotation: jsii.Bool(true),
		Policy:            policy,
		RemovalPolicy:     awscdk.RemovalPolicy_DESTROY,
	})
	topic := awssns.NewTopic(b.stack, jsii.String("AlarmTopic"), &awssns.TopicProps{
		TopicName:   b.name("alarms"),
		DisplayName: jsii.String("mediatasks " + b.settings.Stage + " alarms"),
		MasterKey:   key,
		EnforceSSL:  jsii.Bool(true),
	})
	// The topic policy enforceSSL creates replaces SNS's default one, so
	// CloudWatch's right to publish is stated, for this account's alarms.
	topic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchPublishesAlarms"),
		Principals: &[]awsiam.IPrincipal{cloudwatch},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  jsii.Strings(*topic.TopicArn()),
		Conditions: &map[string]any{
			"StringEquals": map[string]any{"aws:SourceAccount": b.stack.Account()},
			"ArnLike":      map[string]any{"aws:SourceArn": b.arn("cloudwatch", "alarm", "*", awscdk.ArnFormat_COLON_RESOURCE_NAME)},
		},
	}))
	if b.settings.AlarmEmail != "" {
		topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(b.settings.AlarmEmail), nil))
	}
	return topic
}

// keyAccountActions are every KMS action that applies to a symmetric key,
// for the account's IAM policies to grant.
var keyAccountActions = []string{
	"kms:CancelKeyDeletion", "kms:CreateAlias", "kms:CreateGrant", "kms:Decrypt", "kms:DeleteAlias",
	"kms:DescribeKey", "kms:DisableKey", "kms:DisableKeyRotation", "kms:EnableKey", "kms:EnableKeyRotation",
	"kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:GetKeyPolicy",
	"kms:GetKeyRotationStatus", "kms:ListGrants", "kms:ListKeyPolicies", "kms:ListKeyRotations",
	"kms:ListResourceTags", "kms:PutKeyPolicy", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:RetireGrant",
	"kms:RevokeGrant", "kms:RotateKeyOnDemand", "kms:ScheduleKeyDeletion", "kms:TagResource",
	"kms:UntagResource", "kms:UpdateAlias", "kms:UpdateKeyDescription",
}

// alarm makes an alarm that notifies topic; a period without data is no
// alarm (an idle platform publishes nothing).
func (b *builder) alarm(topic awssns.ITopic, suffix, description string, metric awscloudwatch.IMetric,
	op awscloudwatch.ComparisonOperator, threshold float64) {
	b.sustainedAlarm(topic, suffix, description, metric, op, threshold, 1)
}

// sustainedAlarm fires when the metric breaches for periods periods in a row.
func (b *builder) sustainedAlarm(topic awssns.ITopic, suffix, description string, metric awscloudwatch.IMetric,
	op awscloudwatch.ComparisonOperator, threshold float64, periods int) {
	alarm := awscloudwatch.NewAlarm(b.stack, jsii.String("Alarm"+idOf(suffix)), &awscloudwatch.AlarmProps{
		AlarmName:          b.name(suffix),
		AlarmDescription:   jsii.String(description),
		Metric:             metric,
		Threshold:          jsii.Number(threshold),
		ComparisonOperator: op,
		EvaluationPeriods:  jsii.Number(float64(periods)),
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	alarm.AddAlarmAction(awscloudwatchactions.NewSnsAction(topic))
}

// idOf makes a construct id of a name: "tasks-high-dlq" -> "TasksHighDlq".
func idOf(name string) string {
	var out strings.Builder
	for _, part := range strings.FieldsFunc(name, func(r rune) bool { return r == '-' || r == '/' }) {
		out.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return out.String()
}

func (b *builder) newAlarms(topic awssns.ITopic, s store, fns functions, m machines) {
	atLeastOne := awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD
	above := awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD
	sum := &awscloudwatch.MetricOptions{Period: period(), Statistic: jsii.String("Sum")}
	maximum := &awscloudwatch.MetricOptions{Period: period(), Statistic: jsii.String("Maximum")}

	for _, q := range namedQueues(s) {
		name := *b.name(q.suffix)
		b.alarm(topic, q.suffix+"-dlq-messages",
			"A message reached the dead-letter queue of "+name+" after failing every receive; inspect it, fix the cause, then redrive it.",
			q.dead.MetricApproximateNumberOfMessagesVisible(maximum), atLeastOne, 1)
		if q.maxAgeSeconds == 0 {
			b.sustainedAlarm(topic, q.suffix+"-backlog",
				fmt.Sprintf("Messages of %s stayed visible for %d periods of 5 minutes: its consumer is not keeping up, or not running.", name, webhookBacklogPeriods),
				q.queue.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Period: period(), Statistic: jsii.String("Minimum")}),
				atLeastOne, 1, webhookBacklogPeriods)
			continue
		}
		b.alarm(topic, q.suffix+"-oldest-message",
			fmt.Sprintf("The oldest message of %s is over %d s old: its consumer is not keeping up, or not running.", name, q.maxAgeSeconds),
			q.queue.MetricApproximateAgeOfOldestMessage(maximum), above, float64(q.maxAgeSeconds))
	}
	for _, f := range namedFunctions(fns) {
		name := *b.name(f.name)
		if f.fn == fns.process {
			// A step's provider error is the process function's error by
			// design (the state machines' Retry and Catch read it), so its
			// errors are watched as a share of its invocations.
			rate := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
				Expression: jsii.String("100 * errors / MAX([invocations, 1])"),
				UsingMetrics: &map[string]awscloudwatch.IMetric{
					"errors": f.fn.MetricErrors(sum), "invocations": f.fn.MetricInvocations(sum),
				},
				Label:  jsii.String("process errors (%)"),
				Period: period(),
			})
			b.sustainedAlarm(topic, f.name+"-error-rate",
				fmt.Sprintf("Over %d %% of the invocations of %s failed for 15 minutes: step errors this many point at a provider outage or a fault of the platform; see its log group.", processErrorRate, name),
				rate, above, processErrorRate, 3)
		} else {
			b.alarm(topic, f.name+"-errors", "The function "+name+" failed (an error or a timeout) in the last 5 minutes; see its log group.",
				f.fn.MetricErrors(sum), atLeastOne, 1)
		}
		b.alarm(topic, f.name+"-throttles", "The function "+name+" was throttled: the account's or its own concurrency limit was reached.",
			f.fn.MetricThrottles(sum), atLeastOne, 1)
	}
	for _, sm := range namedMachines(m) {
		name := *b.name(sm.name)
		b.alarm(topic, sm.name+"-executions-failed",
			"An execution of "+name+" failed: the workflow could not record the task's end (a task that fails ends its execution successfully).",
			sm.sm.MetricFailed(sum), atLeastOne, 1)
		b.alarm(topic, sm.name+"-executions-timed-out", "An execution of "+name+" timed out.",
			sm.sm.MetricTimedOut(sum), atLeastOne, 1)
	}
	b.alarm(topic, "webhooks-exhausted",
		"A webhook delivery used up its retry schedule without success; it is kept and can be replayed.",
		b.customMetric(metricWebhookAttempts, map[string]string{"Outcome": "exhausted"}, "Sum", ""), atLeastOne, 1)
	if b.settings.ExpressImageTasks {
		// Express ends an execution at 5 minutes without its Catch: the
		// sweep fails such a task (workflow_timeout). Its provider call may
		// have been billed, and a provider that often holds the start step
		// this long is better served by the Standard machine.
		b.alarm(topic, "express-runs-lost",
			"The sweep failed an image task (workflow_timeout) whose Express execution ended at 5 minutes without finishing it: a provider held its start step through every retry. Its provider call may have been billed; if this recurs, see that provider's latency, or deploy with expressImageTasks=false.",
			b.customMetric(metricExpressRunsLost, nil, "Sum", ""), atLeastOne, 1)
	}
}

// namedQueue is a queue with its dead-letter queue, its name after
// mediatasks-<stage>- and the age its oldest message may reach (0: none,
// its backlog is watched instead).
type namedQueue struct {
	suffix        string
	maxAgeSeconds int
	queuePair
}

func namedQueues(s store) []namedQueue {
	var qs []namedQueue
	for _, q := range s.taskQueues {
		qs = append(qs, namedQueue{"tasks-" + strings.ToLower(q.priority), taskQueueMaxAge, q.queuePair})
	}
	return append(qs, namedQueue{"webhooks", 0, s.webhooks})
}

type namedFunction struct {
	name string
	fn   awslambda.Function
}

func namedFunctions(fns functions) []namedFunction {
	return []namedFunction{
		{submitSpec.name, fns.submit}, {statusSpec.name, fns.status},
		{processSpec.name, fns.process}, {webhookSpec.name, fns.webhook},
	}
}

type namedMachine struct {
	name string
	sm   awsstepfunctions.StateMachine
}

func namedMachines(m machines) []namedMachine {
	return []namedMachine{{"task", m.express}, {"task-long", m.standard}, {"batch", m.batch}}
}

// customMetric is one of the functions' own metrics.
func (b *builder) customMetric(name string, dimensions map[string]string, statistic, label string) awscloudwatch.Metric {
	dims := map[string]*string{}
	for k, v := range dimensions {
		dims[k] = jsii.String(v)
	}
	props := &awscloudwatch.MetricProps{
		Namespace:     jsii.String(b.metricsNamespace()),
		MetricName:    jsii.String(name),
		DimensionsMap: &dims,
		Statistic:     jsii.String(statistic),
		Period:        period(),
	}
	if label != "" {
		props.Label = jsii.String(label)
	}
	return awscloudwatch.NewMetric(props)
}

// searchQuery is a CloudWatch SEARCH over one of the functions' metrics,
// so that a new task type, provider or outcome shows without a deploy.
type searchQuery struct {
	metric string
	// dimensions are the metric's whole dimension set, as published.
	dimensions []string
	// filter narrows the search: Status="failed".
	filter    string
	statistic string
	// label names each series; dimLabel gives the dimensions' values.
	label string
}

// dimLabel is a dynamic label: the values of dimensions, in order.
func dimLabel(dimensions ...string) string {
	parts := make([]string, len(dimensions))
	for i, d := range dimensions {
		parts[i] = "${PROP('Dim." + d + "')}"
	}
	return strings.Join(parts, " ")
}

func (b *builder) search(q searchQuery) awscloudwatch.IMetric {
	schema := append([]string{`"` + b.metricsNamespace() + `"`}, q.dimensions...)
	query := fmt.Sprintf(`{%s} MetricName="%s"`, strings.Join(schema, ","), q.metric)
	if q.filter != "" {
		query += " " + q.filter
	}
	return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String(fmt.Sprintf("SEARCH('%s', '%s', 300)", query, q.statistic)),
		Label:      jsii.String(q.label),
		Period:     period(),
	})
}

func (b *builder) newDashboard(s store, fns functions, m machines, api awsapigatewayv2.HttpApi) {
	graph := func(title string, left ...awscloudwatch.IMetric) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String(title), Left: &left, Width: jsii.Number(8), Height: jsii.Number(6),
		})
	}
	stat := func(statistic, label string) *awscloudwatch.MetricOptions {
		return &awscloudwatch.MetricOptions{Period: period(), Statistic: jsii.String(statistic), Label: jsii.String(label)}
	}
	sum := func(label string) *awscloudwatch.MetricOptions { return stat("Sum", label) }

	var rows [][]awscloudwatch.IWidget
	rows = append(rows, []awscloudwatch.IWidget{
		graph("API requests", api.MetricCount(sum("requests"))),
		graph("API errors", api.MetricClientError(sum("4xx")), api.MetricServerError(sum("5xx"))),
		graph("API latency (ms)",
			api.MetricLatency(stat("p50", "p50")), api.MetricLatency(stat("p95", "p95")),
			api.MetricIntegrationLatency(stat("p95", "integration p95"))),
	})

	var waiting, oldest, deadWaiting, deadOldest []awscloudwatch.IMetric
	for _, q := range namedQueues(s) {
		waiting = append(waiting, q.queue.MetricApproximateNumberOfMessagesVisible(stat("Maximum", q.suffix)))
		oldest = append(oldest, q.queue.MetricApproximateAgeOfOldestMessage(stat("Maximum", q.suffix)))
		deadWaiting = append(deadWaiting, q.dead.MetricApproximateNumberOfMessagesVisible(stat("Maximum", q.suffix+"-dlq")))
		deadOldest = append(deadOldest, q.dead.MetricApproximateAgeOfOldestMessage(stat("Maximum", q.suffix+"-dlq")))
	}
	rows = append(rows, []awscloudwatch.IWidget{
		graph("Queues: messages waiting", waiting...),
		graph("Queues: oldest message (s)", oldest...),
	}, []awscloudwatch.IWidget{
		graph("Dead-letter queues: messages", deadWaiting...),
		graph("Dead-letter queues: oldest message (s)", deadOldest...),
	})

	var invocations, errors, throttles, duration []awscloudwatch.IMetric
	for _, f := range namedFunctions(fns) {
		invocations = append(invocations, f.fn.MetricInvocations(sum(f.name)))
		errors = append(errors, f.fn.MetricErrors(sum(f.name)))
		throttles = append(throttles, f.fn.MetricThrottles(sum(f.name)))
		duration = append(duration, f.fn.MetricDuration(stat("p95", f.name+" p95")))
	}
	rows = append(rows, []awscloudwatch.IWidget{
		graph("Lambda invocations", invocations...),
		graph("Lambda errors", errors...),
		graph("Lambda throttles", throttles...),
	}, []awscloudwatch.IWidget{
		graph("Lambda duration (ms)", duration...),
	})

	var started, succeeded, failed, timedOut []awscloudwatch.IMetric
	for _, sm := range namedMachines(m) {
		started = append(started, sm.sm.MetricStarted(sum(sm.name)))
		succeeded = append(succeeded, sm.sm.MetricSucceeded(sum(sm.name)))
		failed = append(failed, sm.sm.MetricFailed(sum(sm.name)))
		timedOut = append(timedOut, sm.sm.MetricTimedOut(sum(sm.name)))
	}
	rows = append(rows, []awscloudwatch.IWidget{
		graph("Executions started", started...),
		graph("Executions succeeded", succeeded...),
		graph("Executions failed", failed...),
	}, []awscloudwatch.IWidget{
		graph("Executions timed out", timedOut...),
		graph("Express runs lost (tasks failed by the sweep)", b.customMetric(metricExpressRunsLost, nil, "Sum", "tasks")),
	})

	var outcomes []awscloudwatch.IWidget
	for _, status := range taskOutcomes {
		outcomes = append(outcomes, graph("Tasks "+status+", by type",
			b.search(searchQuery{metricTaskTransitions, []string{"TaskType", "Status"}, `Status="` + status + `"`, "Sum", dimLabel("TaskType")})))
	}
	rows = append(rows, outcomes, []awscloudwatch.IWidget{
		graph("Provider calls", b.search(searchQuery{metricProviderCalls, []string{"Provider", "Operation"}, "", "Sum", dimLabel("Provider", "Operation")})),
		graph("Provider errors", b.search(searchQuery{metricProviderErrors, []string{"Provider", "Kind"}, "", "Sum", dimLabel("Provider", "Kind")})),
		graph("Provider latency (ms), p50 and p95",
			b.search(searchQuery{metricProviderLatency, []string{"Provider", "Operation"}, "", "p50", "p50 " + dimLabel("Provider", "Operation")}),
			b.search(searchQuery{metricProviderLatency, []string{"Provider", "Operation"}, "", "p95", "p95 " + dimLabel("Provider", "Operation")})),
	}, []awscloudwatch.IWidget{
		graph("Webhook attempts, by outcome", b.search(searchQuery{metricWebhookAttempts, []string{"Outcome"}, "", "Sum", dimLabel("Outcome")})),
		graph("Webhook latency (ms)",
			b.customMetric(metricWebhookLatency, nil, "p50", "p50"),
			b.customMetric(metricWebhookLatency, nil, "p95", "p95")),
	})

	widgets := make([]*[]awscloudwatch.IWidget, len(rows))
	for i := range rows {
		widgets[i] = &rows[i]
	}
	awscloudwatch.NewDashboard(b.stack, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DashboardName: jsii.String(b.settings.Prefix()),
		Widgets:       &widgets,
	})
}
