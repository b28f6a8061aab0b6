package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/netip"
	"net/url"
	"path"
	"strings"

	"github.com/videoai/mediatasks/shared/prompt"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/webhook"
	"github.com/videoai/mediatasks/shared/workflow"
)

// inputOf is a task's typed input, or nil when it does not decode: the
// API validated it, so a bad one names no media and asks for no
// optimisation, and the provider refuses it.
func inputOf(t *task.Task) task.Input {
	in, _ := task.DecodeInput(t.Type, t.Input)
	return in
}

// pinnedProvider is the provider a task's input pins, or "". The pin is
// one of the fields every type's input takes, so the input alone names it.
func pinnedProvider(input json.RawMessage) string {
	var c task.CommonInput
	if json.Unmarshal(input, &c) != nil {
		return "" // as inputOf: a bad input pins nothing
	}
	return c.Provider
}

// request builds what the provider is asked: the input after prompt
// optimisation, and a signed URL of the input media.
func (a *Actions) request(ctx context.Context, t *task.Task) (provider.Request, error) {
	req := provider.Request{TaskID: t.ID, UserID: t.UserID, Type: t.Type, Input: t.Input, Attempt: max(t.Attempts, 1)}
	in := inputOf(t)
	if in == nil {
		return req, nil
	}
	if p, ok := in.(task.Prompted); ok && t.OptimizedPrompt != nil {
		op := t.OptimizedPrompt
		p.SetPrompts(op.Final, op.NegativePrompt)
		b, err := task.EncodeJSON(p)
		if err != nil {
			return req, fmt.Errorf("encode the input of task %s: %w", t.ID, err)
		}
		req.Input, req.Expansion = b, &op.ProviderExpansion
	}
	refs := in.Media()
	switch {
	case refs.AudioURL != "":
		// A user's URL: public, fetched through the guard when its bytes
		// are needed.
		req.Media = &provider.Media{URL: refs.AudioURL, Name: nameOf(refs.AudioURL, ""), Public: true}
	case refs.UploadID != "" || refs.ImageUploadID != "":
		up, err := a.app.GetUpload(ctx, t.UserID, refs.UploadID+refs.ImageUploadID)
		if errors.Is(err, task.ErrNotFound) {
			return req, providerError("", provider.NewRejected("upload_not_found", "the input upload "+refs.UploadID+refs.ImageUploadID+" no longer exists", nil))
		}
		if err != nil {
			return req, fmt.Errorf("input upload of task %s: %w", t.ID, err)
		}
		req.Media = a.heldMedia(up.Key, up.URL, up.ContentType)
	case refs.TranscriptionTaskID != "":
		f, err := a.sourceFile(ctx, t, refs.TranscriptionTaskID, "transcription")
		if err != nil {
			return req, err
		}
		req.Media = a.heldMedia(f.Key, f.URL, f.ContentType)
	case refs.ImageTaskID != "":
		f, err := a.sourceFile(ctx, t, refs.ImageTaskID, "image")
		if err != nil {
			return req, err
		}
		req.Media = a.heldMedia(f.Key, f.URL, f.ContentType)
	}
	return req, nil
}

// sourceFile is the first output file of the completed task id of t's
// user, whose output t reads (what is a word for the errors: "image").
func (a *Actions) sourceFile(ctx context.Context, t *task.Task, id, what string) (task.File, error) {
	src, err := a.app.GetTask(ctx, t.UserID, id)
	if errors.Is(err, task.ErrNotFound) {
		return task.File{}, providerError("", provider.NewRejected(what+"_not_found", "the "+what+" task "+id+" no longer exists", nil))
	}
	if err != nil {
		return task.File{}, fmt.Errorf("%s task of task %s: %w", what, t.ID, err)
	}
	if src.Status != task.StatusCompleted || src.Output == nil || len(src.Output.Files) == 0 {
		return task.File{}, providerError("", provider.NewRejected(what+"_not_ready",
			fmt.Sprintf("the %s task %s is %s, not completed with an output file", what, src.ID, src.Status), nil))
	}
	f := src.Output.Files[0] // shown with its signed URL, and no key
	// The stored task, read the same way as the user's, holds the key the
	// bytes are read by.
	stored, err := a.app.Task(ctx, src.ID)
	if err != nil {
		return task.File{}, fmt.Errorf("%s task of task %s: %w", what, t.ID, err)
	}
	if stored.Output != nil && len(stored.Output.Files) > 0 {
		f.Key = stored.Output.Files[0].Key
	}
	return f, nil
}

// heldMedia is a file the platform holds: its bytes read from the blob
// store, its signed URL handed over only where it is public (a presigned
// S3 URL; not a file server on one machine, which the internet cannot
// reach).
func (a *Actions) heldMedia(key, url, contentType string) *provider.Media {
	m := &provider.Media{URL: url, ContentType: contentType, Name: nameOf(url, contentType), Public: publicURL(url)}
	if key != "" {
		blobs := a.blobs
		m.Open = func(ctx context.Context) (io.ReadCloser, error) {
			rc, _, err := blobs.Get(ctx, key)
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", key, err)
			}
			return rc, nil
		}
	}
	return m
}

// publicURL reports a URL the internet can reach: an https or http URL
// whose host is a name with a dot, not localhost, or a public address.
func publicURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return false
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if addr, err := netip.ParseAddr(host); err == nil {
		return webhook.CheckURL(raw) == nil && addr.IsGlobalUnicast()
	}
	return strings.Contains(host, ".") && host != "localhost" && !strings.HasSuffix(host, ".localhost") &&
		!strings.HasSuffix(host, ".local") && !strings.HasSuffix(host, ".internal")
}

// nameOf is a file name for media, with its extension: the URL path's
// last part, or one made from the content type.
func nameOf(raw, contentType string) string {
	if u, err := url.Parse(raw); err == nil {
		if base := path.Base(u.Path); base != "." && base != "/" && path.Ext(base) != "" {
			return base
		}
	}
	if exts, _ := mime.ExtensionsByType(contentType); len(exts) > 0 {
		return "media" + exts[0]
	}
	return "media"
}

// providerError names a provider failure for the definitions' Retry and
// Catch blocks, with the provider and the details in its cause.
func providerError(name string, err error) *workflow.StepError {
	var se *workflow.StepError
	if errors.As(err, &se) {
		return se
	}
	c := Cause{Provider: name, Kind: string(provider.KindOf(err)), Message: err.Error()}
	var pe *provider.Error
	if errors.As(err, &pe) {
		c.Code, c.Message = pe.Code, pe.Message
		if c.Message == "" {
			c.Message = pe.Error()
		}
		c.RetryAfterSeconds = pe.RetryAfter.Seconds()
		c.Safety = pe.Safety
	}
	if errors.Is(err, context.DeadlineExceeded) {
		c.Kind, c.Code = "timeout", "timeout"
	}
	errName := provider.ErrorName(err)
	if errName == provider.NameCanceled {
		// The step's context ended (the execution was stopped or the
		// engine is shutting down): let the step run again.
		errName = provider.NameTransient
	}
	return stepError(errName, c)
}

// causeOf reads the cause of an ASL error object {"Error", "Cause"}. Step
// Functions gives a Lambda function's error as the function's error
// answer, {"errorMessage", "errorType"}, whose message is the step's own
// cause.
func causeOf(raw json.RawMessage) Cause {
	var e struct {
		Error string `json:"Error"`
		Cause string `json:"Cause"`
	}
	_ = json.Unmarshal(raw, &e)
	var lambdaErr struct {
		Message *string `json:"errorMessage"`
		Type    string  `json:"errorType"`
	}
	if json.Unmarshal([]byte(e.Cause), &lambdaErr) == nil && lambdaErr.Message != nil && lambdaErr.Type != "" {
		e.Cause = *lambdaErr.Message
	}
	var c Cause
	if json.Unmarshal([]byte(e.Cause), &c) != nil || c.Message == "" {
		c.Message = e.Cause
	}
	if c.Kind == "" {
		c.Kind = e.Error
	}
	return c
}

// taskErrorOf is the task's error for the ASL error object that ended its
// workflow.
func taskErrorOf(raw json.RawMessage) *task.Error {
	var e struct {
		Error string `json:"Error"`
	}
	_ = json.Unmarshal(raw, &e)
	c := causeOf(raw)
	te := &task.Error{Code: c.Code, Message: c.Message}
	switch e.Error {
	case provider.NamePermanent:
		if te.Code == "" {
			te.Code = "provider_error"
		}
	case provider.NameTransient, provider.NameThrottled:
		te.Retryable = true
		if te.Code == "" {
			te.Code = "provider_unavailable"
		}
	case "States.Timeout":
		te.Retryable = true
		te.Code = "timeout"
	default:
		if te.Code == "" {
			te.Code = "internal_error"
		}
	}
	if c.Provider != "" && c.Provider != "-" {
		te.Message = c.Provider + ": " + te.Message
	}
	if te.Message == "" {
		te.Message = e.Error
	}
	te.Message = truncate(te.Message, 1000)
	return te
}

// maxSafetyRefusals is how many providers may refuse a task's content: a
// refusal fails over once, as another provider's rules may differ, but a
// second says the content is the problem.
const maxSafetyRefusals = 2

// outcomeOf is the attempt history's word for how a call failed.
func outcomeOf(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	if provider.IsSafetyRefusal(err) {
		return task.OutcomeRefused
	}
	switch provider.KindOf(err) {
	case provider.Throttled:
		return "throttled"
	case provider.Permanent:
		return "permanent"
	}
	return "transient"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

type finalizeInput struct {
	BatchID string `json:"batch_id"`
}

// BatchOutcome is what finalize_batch answers.
type BatchOutcome struct {
	BatchID string              `json:"batch_id"`
	Status  task.BatchStatus    `json:"status"`
	Counts  map[task.Status]int `json:"counts"`
}

// finalizeBatch makes sure the batch has ended (App.FinishBatch).
func (a *Actions) finalizeBatch(ctx context.Context, in finalizeInput) (BatchOutcome, error) {
	b, err := a.app.FinishBatch(ctx, in.BatchID)
	if errors.Is(err, task.ErrNotFound) {
		return BatchOutcome{}, stepError(workflow.ErrNameBadInput, Cause{Code: "batch_not_found", Message: "batch " + in.BatchID + " does not exist"})
	}
	if err != nil {
		return BatchOutcome{}, err
	}
	return BatchOutcome{BatchID: b.ID, Status: b.Status, Counts: b.Counts}, nil
}

// optimize makes the prompt for the provider chosen, when the task asks
// for optimisation: nil otherwise, and the prompt goes as written. A
// setting that cannot be carried out (a template gone since the submit)
// fails the task; a cache that cannot be reached is retried.
func (a *Actions) optimize(ctx context.Context, t *task.Task, name string) (*task.OptimizedPrompt, error) {
	if a.optimizer == nil {
		return nil, nil
	}
	p, ok := inputOf(t).(task.Prompted)
	if !ok {
		return nil, nil
	}
	text, negative := p.Prompts()
	var opts task.PromptOptimization
	var exp *task.PromptExperiment
	if po := p.Common().PromptOptimization; po != nil {
		opts = *po
	} else if opts, exp, ok = a.optimizer.Assign(t.Type, t.ID); !ok || strings.TrimSpace(text) == "" {
		return nil, nil // no optimisation asked for, nor any experiment's
	}
	op, err := a.optimizer.Optimize(ctx, prompt.Request{TaskType: t.Type, Prompt: text, NegativePrompt: negative,
		Options: opts, Provider: name, ProviderType: a.providers.Type(name),
		Limits: a.providers.PromptLimits(name, t.Type)})
	var fe *prompt.FieldError
	if errors.As(err, &fe) {
		return nil, providerError("", provider.NewPermanent("prompt_optimization", fe.Error(), nil))
	}
	if err != nil {
		return nil, fmt.Errorf("optimise the prompt of task %s: %w", t.ID, err)
	}
	op.Experiment = exp
	return op, nil
}
