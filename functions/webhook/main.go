// Command webhook is the webhook Lambda function: the webhook queue's
// messages, each a signed delivery attempt.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/videoai/mediatasks/shared/cloud"
)

func main() {
	p, err := cloud.FromEnv(context.Background())
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("webhook function: start", "err", err)
		os.Exit(1)
	}
	lambda.Start(p.WebhookFunction())
}
