package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"
)

// store is where the platform keeps its state: task records, outputs
// and the queues between the functions.
type store struct {
	table  awsdynamodb.Table
	bucket awss3.Bucket
	// taskQueues are in priority order: high, normal, low.
	taskQueues []taskQueue
	webhooks   queuePair
}

// taskQueue is one priority's admission queue.
type taskQueue struct {
	// priority as the functions' environment spells it: HIGH, NORMAL, LOW.
	priority string
	queuePair
}

// queuePair is a queue and the dead-letter queue it moves poison
// messages to.
type queuePair struct {
	queue, dead awssqs.Queue
}

// allQueues are every queue and dead-letter queue, task queues first.
func (s store) allQueues() []awssqs.Queue {
	var qs []awssqs.Queue
	for _, q := range s.taskQueues {
		qs = append(qs, q.queue, q.dead)
	}
	return append(qs, s.webhooks.queue, s.webhooks.dead)
}

// The table's global secondary indexes: GSI1 to GSI3, each keyed by
// <name>PK and <name>SK (shared/store/dynamostore/TABLE.md).
var tableIndexes = []string{"GSI1", "GSI2", "GSI3"}

// indexProjections are the attributes each index holds besides keys, as
// the store declares them (dynamostore.IndexProjections; a test checks
// they agree): attributes that never change, so that an update writes an
// index only when it moves the item's keys there.
var indexProjections = map[string][]string{
	"GSI1": {"task_type"},
	"GSI2": {"task_type"},
	"GSI3": {"created_at"},
}

// webhookMaxReceives is the webhook queue's receive count before its
// dead-letter queue: a webhook message is hidden for each retry's
// backoff and may come back early, so it is received many more times
// than a task message (Settings.taskMaxReceives).
const webhookMaxReceives = 30

// visibilityMargin is added to a consumer's timeout for a queue's
// visibility timeout, so that a message is never handed out again while
// its first invocation may still run.
const visibilityMargin = 30

func (b *builder) newData() store {
	return store{
		table:      b.newTable(),
		bucket:     b.newOutputBucket(),
		taskQueues: b.newTaskQueues(),
		webhooks: b.newQueuePair("WebhookQueue", "webhooks",
			webhookSpec.timeoutSeconds+visibilityMargin, webhookMaxReceives),
	}
}

func (b *builder) newTable() awsdynamodb.Table {
	str := awsdynamodb.AttributeType_STRING
	capacity := b.settings.Capacity
	billing := awsdynamodb.BillingMode_PAY_PER_REQUEST
	var read, write *float64
	if capacity != nil {
		billing = awsdynamodb.BillingMode_PROVISIONED
		read, write = jsii.Number(capacity.ReadMin), jsii.Number(capacity.WriteMin)
	}
	table := awsdynamodb.NewTable(b.stack, jsii.String("Table"), &awsdynamodb.TableProps{
		TableName:           jsii.String(b.settings.Prefix()),
		PartitionKey:        &awsdynamodb.Attribute{Name: jsii.String("PK"), Type: str},
		SortKey:             &awsdynamodb.Attribute{Name: jsii.String("SK"), Type: str},
		BillingMode:         billing,
		ReadCapacity:        read,
		WriteCapacity:       write,
		TimeToLiveAttribute: jsii.String("expires_at"),
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		// The AWS managed key (aws/dynamodb): encrypted with a key the
		// account can audit, and no key policy for the functions to need.
		Encryption:         awsdynamodb.TableEncryption_AWS_MANAGED,
		DeletionProtection: jsii.Bool(true),
		RemovalPolicy:      awscdk.RemovalPolicy_RETAIN,
	})
	for _, index := range tableIndexes {
		table.AddGlobalSecondaryIndex(&awsdynamodb.GlobalSecondaryIndexProps{
			IndexName:        jsii.String(index),
			PartitionKey:     &awsdynamodb.Attribute{Name: jsii.String(index + "PK"), Type: str},
			SortKey:          &awsdynamodb.Attribute{Name: jsii.String(index + "SK"), Type: str},
			ProjectionType:   awsdynamodb.ProjectionType_INCLUDE,
			NonKeyAttributes: jsii.Strings(indexProjections[index]...),
			ReadCapacity:     read,
			WriteCapacity:    write,
		})
	}
	if capacity != nil {
		// Every index has its own throughput: a write that moves an index
		// key spends the index's units as well as the table's.
		scale := func(attr awsdynamodb.IScalableTableAttribute) {
			attr.ScaleOnUtilization(&awsdynamodb.UtilizationScalingProps{
				TargetUtilizationPercent: jsii.Number(capacity.TargetPercent),
			})
		}
		reads := &awsdynamodb.EnableScalingProps{MinCapacity: jsii.Number(capacity.ReadMin), MaxCapacity: jsii.Number(capacity.ReadMax)}
		writes := &awsdynamodb.EnableScalingProps{MinCapacity: jsii.Number(capacity.WriteMin), MaxCapacity: jsii.Number(capacity.WriteMax)}
		scale(table.AutoScaleReadCapacity(reads))
		scale(table.AutoScaleWriteCapacity(writes))
		for _, index := range tableIndexes {
			scale(table.AutoScaleGlobalSecondaryIndexReadCapacity(jsii.String(index), reads))
			scale(table.AutoScaleGlobalSecondaryIndexWriteCapacity(jsii.String(index), writes))
		}
	}
	return table
}

// newOutputBucket holds task outputs (and uploads), which clients fetch
// and send with presigned URLs, so browsers need CORS for GET and PUT.
func (b *builder) newOutputBucket() awss3.Bucket {
	logs := awss3.NewBucket(b.stack, jsii.String("AccessLogBucket"), &awss3.BucketProps{
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:                                  jsii.String("expire-access-logs"),
			Expiration:                          awscdk.Duration_Days(jsii.Number(365)),
			AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1)),
		}},
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	suppress(logs, nagSuppression{"AwsSolutions-S1",
		"This bucket is the target of the output bucket's server access logs; logging it too would log the logs.", nil})

	return awss3.NewBucket(b.stack, jsii.String("OutputBucket"), &awss3.BucketProps{
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		Encryption:             awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:             jsii.Bool(true),
		ObjectOwnership:        awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		ServerAccessLogsBucket: logs,
		ServerAccessLogsPrefix: jsii.String("outputs/"),
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:                                  jsii.String("expire-outputs"),
			Expiration:                          awscdk.Duration_Days(jsii.Number(float64(b.settings.OutputRetentionDays))),
			AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1)),
		}},
		Cors: &[]*awss3.CorsRule{{
			AllowedMethods: &[]awss3.HttpMethods{awss3.HttpMethods_GET, awss3.HttpMethods_PUT},
			AllowedOrigins: jsii.Strings("*"),
			AllowedHeaders: jsii.Strings("content-type", "content-length", "x-amz-server-side-encryption"),
			ExposedHeaders: jsii.Strings("etag"),
			MaxAge:         jsii.Number(3600),
		}},
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
}

func (b *builder) newTaskQueues() []taskQueue {
	visibility := processSpec.timeoutSeconds + visibilityMargin
	var queues []taskQueue
	for _, p := range []struct{ id, priority, suffix string }{
		{"High", "HIGH", "tasks-high"},
		{"Normal", "NORMAL", "tasks-normal"},
		{"Low", "LOW", "tasks-low"},
	} {
		queues = append(queues, taskQueue{
			priority:  p.priority,
			queuePair: b.newQueuePair("TaskQueue"+p.id, p.suffix, visibility, b.settings.taskMaxReceives()),
		})
	}
	return queues
}

// newQueuePair makes mediatasks-<stage>-<suffix> and its dead-letter
// queue <...>-dlq. Receive wait and delivery delay are set to 0 outright:
// the functions refuse a queue whose defaults could differ from what
// they ask for per request.
func (b *builder) newQueuePair(id, suffix string, visibilitySeconds, maxReceives int) queuePair {
	dead := awssqs.NewQueue(b.stack, jsii.String(id+"Dead"), b.queueProps(suffix+"-dlq", nil))
	props := b.queueProps(suffix, &awssqs.DeadLetterQueue{Queue: dead, MaxReceiveCount: jsii.Number(float64(maxReceives))})
	props.VisibilityTimeout = awscdk.Duration_Seconds(jsii.Number(float64(visibilitySeconds)))
	return queuePair{queue: awssqs.NewQueue(b.stack, jsii.String(id), props), dead: dead}
}

func (b *builder) queueProps(suffix string, dlq *awssqs.DeadLetterQueue) *awssqs.QueueProps {
	return &awssqs.QueueProps{
		QueueName:              b.name(suffix),
		Encryption:             awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:             jsii.Bool(true),
		RetentionPeriod:        awscdk.Duration_Days(jsii.Number(14)),
		ReceiveMessageWaitTime: awscdk.Duration_Seconds(jsii.Number(0)),
		DeliveryDelay:          awscdk.Duration_Seconds(jsii.Number(0)),
		DeadLetterQueue:        dlq,
	}
}
