// Command status is the status Lambda function: the API's reads (tasks,
// lists, events, health, stats), from API Gateway.
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
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("status function: start", "err", err)
		os.Exit(1)
	}
	lambda.Start(p.StatusFunction())
}
