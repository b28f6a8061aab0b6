package cloud

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/videoai/mediatasks/shared/api"
	"github.com/videoai/mediatasks/shared/queue"
	"github.com/videoai/mediatasks/shared/queue/sqsqueue"
	"github.com/videoai/mediatasks/shared/workflow"
)

// The handlers of the four Lambda functions: each main builds the
// Platform once and passes one of them to lambda.Start. Every invocation
// ends by publishing the metrics it moved (EMF lines on stdout).

// HTTPHandler is an API Gateway HTTP API (payload 2.0) handler.
type HTTPHandler func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// SQSHandler is an SQS event source mapping's handler, which reports the
// messages to keep (ReportBatchItemFailures); the mapping deletes the rest.
type SQSHandler func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)

// SubmitFunction serves the API's writes (POST): submits, uploads,
// batches, cancels, retries and secret rotation.
func (p *Platform) SubmitFunction() HTTPHandler { return p.httpFunction(http.MethodPost) }

// StatusFunction serves the API's reads (GET): tasks, lists, events,
// batches, deliveries, health and stats.
func (p *Platform) StatusFunction() HTTPHandler {
	return p.httpFunction(http.MethodGet, http.MethodHead)
}

// httpFunction serves the API for methods; the stack routes the other
// methods to the other function, so one that arrives here is a 405.
func (p *Platform) httpFunction(methods ...string) HTTPHandler {
	allow := strings.Join(methods, ", ")
	adapter := httpadapter.NewV2(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !slices.Contains(methods, r.Method) {
			w.Header().Set("Allow", allow)
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusMethodNotAllowed)
			_ = json.NewEncoder(w).Encode(map[string]any{
				"type": "about:blank", "title": "Method Not Allowed", "status": http.StatusMethodNotAllowed,
				"detail": r.Method + " " + r.URL.Path + ": this function serves " + allow,
			})
			return
		}
		p.API.ServeHTTP(w, r)
	}))
	return func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		defer p.publishMetrics(ctx)
		// A named stage leads the path; the API's routes start after it.
		if stage := req.RequestContext.Stage; stage != "" && stage != "$default" {
			req.RawPath = strings.TrimPrefix(req.RawPath, "/"+stage)
		}
		return adapter.ProxyWithContext(ctx, req)
	}
}

// processEvent is what the process function is given: a step action
// from a state machine, task messages from the task queues, or the
// schedule's event.
type processEvent struct {
	Action     string              `json:"action"`
	Records    []events.SQSMessage `json:"Records"`
	DetailType string              `json:"detail-type"`
}

// ProcessFunction runs the step actions the state machines invoke (routed
// by "action"; a step's error is answered with its name as the error
// type, which the definitions' Retry and Catch match), starts the
// workflows of task messages, and runs the sweep on its schedule.
func (p *Platform) ProcessFunction() func(context.Context, json.RawMessage) (any, error) {
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		defer p.publishMetrics(ctx)
		var ev processEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("process: the event is no JSON object: %w", err)
		}
		switch {
		case ev.Action != "":
			out, err := p.Actions.Invoke(ctx, raw)
			var se *workflow.StepError
			if errors.As(err, &se) {
				return nil, messages.InvokeResponse_Error{Type: se.Name, Message: se.Cause}
			}
			if err != nil {
				return nil, err
			}
			return out, nil
		case len(ev.Records) > 0:
			return p.eachMessage(ctx, ev.Records, p.Tasks, p.dispatchMessage), nil
		case ev.DetailType == "Scheduled Event":
			return nil, p.Sweep(ctx)
		default:
			return nil, errors.New("process: the event is no step action, task message or schedule")
		}
	}
}

// dispatchMessage starts the workflow of a task message. A message whose
// start failed comes back after a backoff rather than after the queue's
// visibility timeout, which the function's own timeout sets long.
func (p *Platform) dispatchMessage(ctx context.Context, d queue.Delivery) error {
	err := p.App.Dispatch(ctx, d)
	if err == nil {
		return nil
	}
	if verr := p.Tasks.ChangeVisibility(ctx, d.Receipt, startBackoff(d.ReceiveCount)); verr != nil {
		p.Log.WarnContext(ctx, "task message: set its backoff", "message_id", d.ID, "err", verr)
	}
	return err
}

// startBackoff is how long a task message whose start failed waits: 5 s,
// doubling with each receive, 2 minutes at most.
func startBackoff(receives int) time.Duration {
	d := 5 * time.Second
	for range min(max(receives-1, 0), 5) {
		d *= 2
	}
	return min(d, 2*time.Minute)
}

// WebhookFunction makes the webhook attempts its messages ask for. A
// delivery that needs another attempt keeps its message, hidden until
// then; the mapping deletes the others.
func (p *Platform) WebhookFunction() SQSHandler {
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		defer p.publishMetrics(ctx)
		return p.eachMessage(ctx, ev.Records, p.Webhooks, p.deliverMessage), nil
	}
}

// errKeep keeps a message whose delivery is due again later.
var errKeep = errors.New("due again later")

func (p *Platform) deliverMessage(ctx context.Context, d queue.Delivery) error {
	v, err := p.Deliverer.HandleBody(ctx, d.Body)
	if err != nil {
		return err
	}
	if v.Done {
		return nil
	}
	if err := p.Webhooks.ChangeVisibility(ctx, d.Receipt, v.Again); err != nil {
		return fmt.Errorf("hide webhook message %s for %s: %w", d.ID, v.Again, err)
	}
	return errKeep
}

// eachMessage handles an event's messages at once (a batch holds ten at
// most) and reports those to keep: the ones handle failed or kept.
func (p *Platform) eachMessage(ctx context.Context, records []events.SQSMessage, q *sqsqueue.Queue,
	handle func(context.Context, queue.Delivery) error) events.SQSEventResponse {
	received := time.Now()
	var (
		mu   sync.Mutex
		resp = events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
		wg   sync.WaitGroup
	)
	for _, rec := range records {
		wg.Go(func() {
			d, err := q.EventDelivery(rec, received)
			if err == nil {
				err = handle(ctx, d)
			}
			if err == nil {
				return
			}
			if !errors.Is(err, errKeep) {
				p.Log.ErrorContext(ctx, "queue message kept for another try", "message_id", rec.MessageId, "err", err)
			}
			mu.Lock()
			defer mu.Unlock()
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
		})
	}
	wg.Wait()
	return resp
}

// publishMetrics writes what the invocation moved as EMF lines.
func (p *Platform) publishMetrics(ctx context.Context) {
	if err := p.metrics.Flush(); err != nil {
		p.Log.WarnContext(ctx, "publish metrics", "err", err)
	}
}

// Function builds one Lambda function's part of the platform from the
// environment and returns its handler: Submit, Status, Process, Webhook.
type Function func(ctx context.Context, env Env, opts Options) (handler any, err error)

// Submit is the submit function: the API's writes (SubmitFunction).
func Submit(ctx context.Context, env Env, opts Options) (any, error) {
	p, err := Build(ctx, env, opts, Parts{Workflows: StepFunctions, API: api.New})
	if err != nil {
		return nil, err
	}
	return p.SubmitFunction(), nil
}

// Status is the status function: the API's reads (StatusFunction); its
// health route asks Step Functions about the state machines.
func Status(ctx context.Context, env Env, opts Options) (any, error) {
	p, err := Build(ctx, env, opts, Parts{Workflows: StepFunctions, API: api.New})
	if err != nil {
		return nil, err
	}
	return p.StatusFunction(), nil
}

// Process is the process function (ProcessFunction): no API.
func Process(ctx context.Context, env Env, opts Options) (any, error) {
	p, err := Build(ctx, env, opts, Parts{Workflows: StepFunctions})
	if err != nil {
		return nil, err
	}
	return p.ProcessFunction(), nil
}

// Webhook is the webhook function (WebhookFunction): neither the API nor
// the workflows.
func Webhook(ctx context.Context, env Env, opts Options) (any, error) {
	p, err := Build(ctx, env, opts, Parts{})
	if err != nil {
		return nil, err
	}
	return p.WebhookFunction(), nil
}

// Start is a function's whole main: it builds the function from the
// environment once and serves its handler. A function that cannot be
// built ends the process, which Lambda reports as the function's INIT
// error with the log line that names the cause.
func Start(fn Function) {
	handler, err := startFunction(context.Background(), fn)
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("start the function", "err", err)
		os.Exit(1)
	}
	lambda.Start(handler)
}

func startFunction(ctx context.Context, fn Function) (any, error) {
	env, err := ReadEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	return fn(ctx, env, Options{})
}
