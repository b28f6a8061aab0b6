// Command submit is the submit Lambda function: the API's writes (submits,
// uploads, batches, cancels), from API Gateway.
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
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("submit function: start", "err", err)
		os.Exit(1)
	}
	lambda.Start(p.SubmitFunction())
}
