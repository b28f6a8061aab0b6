// Command process is the process Lambda function: the state machines' step
// actions, the task queues' messages (each starts a workflow) and the
// scheduled sweep.
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
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("process function: start", "err", err)
		os.Exit(1)
	}
	lambda.Start(p.ProcessFunction())
}
