package awstest_test

import (
	"context"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/videoai/mediatasks/shared/testkit/awstest"
)

func TestMain(m *testing.M) { os.Exit(awstest.Main(m)) }

// The emulators start and answer the calls the adapters are built on.
func TestEmulatorsAnswer(t *testing.T) {
	ctx := context.Background()
	t.Run("dynamodb", func(t *testing.T) {
		t.Parallel()
		if _, err := awstest.DynamoDB(t).ListTables(ctx, nil); err != nil {
			t.Fatalf("list tables: %v", err)
		}
	})
	t.Run("sqs", func(t *testing.T) {
		t.Parallel()
		out, err := awstest.SQS(t).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(awstest.Name(t))})
		if err != nil {
			t.Fatalf("create queue: %v", err)
		}
		if aws.ToString(out.QueueUrl) == "" {
			t.Fatal("no queue URL")
		}
	})
	t.Run("s3", func(t *testing.T) {
		t.Parallel()
		if _, err := awstest.S3(t).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(awstest.Name(t))}); err != nil {
			t.Fatalf("create bucket: %v", err)
		}
	})
}
