package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/videoai/mediatasks/shared/app"
	"github.com/videoai/mediatasks/shared/prompt"
	"github.com/videoai/mediatasks/shared/task"
)

// checker collects the field errors of one request: the domain's rules
// (task.Input and the task.Validate functions), then what only the API
// can tell (is a provider of that name configured, may the webhook URL be
// called, do the upload and the transcription task exist).
type checker struct {
	ctx   context.Context
	s     *server
	user  string
	errs  []FieldError
	base  int       // len(errs) when the current item's checks began
	fatal error     // a failure of the store itself, not of the request
	typ   task.Type // the task type of the input being checked
}

// clean reports whether the current item has no error so far: checks
// that read the store run only then.
func (c *checker) clean() bool { return len(c.errs) == c.base }

func (c *checker) add(field, format string, args ...any) {
	c.errs = append(c.errs, fieldError(field, format, args...))
}

// adopt takes the domain's field errors as the request's.
func (c *checker) adopt(errs task.FieldErrors) {
	for _, e := range errs {
		c.errs = append(c.errs, FieldError(e))
	}
}

// insertBefore puts errs ahead of the current item's first error at or
// under field, or last: the API's findings stand where the domain's would
// for that field, so that the errors keep the order of the fields.
func (c *checker) insertBefore(field string, errs ...FieldError) {
	at := len(c.errs)
	for i := c.base; i < len(c.errs); i++ {
		if f := c.errs[i].Field; f == field || strings.HasPrefix(f, field+".") {
			at = i
			break
		}
	}
	c.errs = slices.Insert(c.errs, at, errs...)
}

// join names field name under prefix, as the domain's field errors do.
func join(prefix, name string) string { return task.FieldPath(prefix, name) }

// served refuses a task type that no provider of this server serves: the
// task could only fail.
func (c *checker) served(field string) {
	if c.s.opts.ProviderCheck == nil {
		return
	}
	if err := c.s.opts.ProviderCheck(c.typ, ""); err != nil {
		c.add(field, "%v", err)
	}
}

// upload checks that id names one of the caller's uploads.
func (c *checker) upload(field, id string) {
	if _, err := c.s.app.GetUpload(c.ctx, c.user, id); err != nil {
		if errors.Is(err, task.ErrNotFound) {
			c.add(field, "names no upload of yours")
			return
		}
		c.fatal = err
	}
}

// imageUpload checks that id names one of the caller's uploads, an image.
func (c *checker) imageUpload(field, id string) {
	up, err := c.s.app.GetUpload(c.ctx, c.user, id)
	switch {
	case errors.Is(err, task.ErrNotFound):
		c.add(field, "names no upload of yours")
	case err != nil:
		c.fatal = err
	case !strings.HasPrefix(up.ContentType, "image/"):
		c.add(field, "names an upload of type %s, not an image", up.ContentType)
	}
}

// completedTask checks that id names one of the caller's tasks of type typ,
// completed with an output file, whose output a new task reads. Another
// user's task is answered as no task at all.
func (c *checker) completedTask(field, id string, typ task.Type) {
	t, err := c.s.app.GetTask(c.ctx, c.user, id)
	switch {
	case errors.Is(err, task.ErrNotFound):
		c.add(field, "names no task of yours")
	case err != nil:
		c.fatal = err
	case t.Type != typ:
		c.add(field, "names a %s task, not an %s", t.Type, typ)
	case t.Status != task.StatusCompleted:
		c.add(field, "names a task that is %s, not completed", t.Status)
	case t.Output == nil || len(t.Output.Files) == 0:
		c.add(field, "names a task with no output file")
	}
}

func (c *checker) priority(prefix string, p task.Priority) task.Priority {
	c.adopt(task.ValidatePriority(prefix, p))
	if p == "" {
		return task.PriorityNormal
	}
	return p
}

// metadata checks a metadata map and returns it normalised (nil if empty).
func (c *checker) metadata(prefix string, m map[string]string) map[string]string {
	c.adopt(task.ValidateMetadata(prefix, m))
	if len(m) == 0 {
		return nil
	}
	return m
}

// webhook checks a webhook URL, then whether it may be called, then its
// event subscription.
func (c *checker) webhook(prefix, rawURL string, events []task.EventType) {
	errs := task.ValidateWebhookURL(prefix, rawURL)
	c.adopt(errs)
	if rawURL != "" && len(errs) == 0 && c.s.opts.WebhookURLGuard != nil {
		if err := c.s.opts.WebhookURLGuard(rawURL); err != nil {
			c.add(join(prefix, "webhook_url"), "%v", err)
		}
	}
	c.adopt(task.ValidateWebhookEvents(prefix, rawURL, events))
}

// CommonFields are taken by every single-task submit.
type CommonFields struct {
	Priority      task.Priority     `json:"priority"`
	WebhookURL    string            `json:"webhook_url"`
	WebhookEvents []task.EventType  `json:"webhook_events"`
	Metadata      map[string]string `json:"metadata"`
}

// fields serves submitRequest for the requests that embed f.
func (f *CommonFields) fields() *CommonFields { return f }

func (c *checker) common(f *CommonFields) {
	f.Priority = c.priority("", f.Priority)
	f.Metadata = c.metadata("", f.Metadata)
	c.webhook("", f.WebhookURL, f.WebhookEvents)
}

// wire is a task input as the API decodes it: the task.Input beside a
// rawOptimization, whose prompt_optimization shadows the input's typed one
// (the shallower field wins in encoding/json, and the later one in
// decodeStrict's key check). The API decodes that field strictly on its
// own, so that its errors name their whole path: encoding/json names an
// unknown key inside a nested object without it.
type wire interface {
	parts() (task.Input, json.RawMessage)
}

// rawOptimization is prompt_optimization as sent. It is embedded beside
// the input, never around it: the decoder's paths name the Go fields
// embedded around a field, and only capitalised ones are dropped.
type rawOptimization struct {
	PromptOptimization json.RawMessage `json:"prompt_optimization"`
}

type imageWire struct {
	task.ImageInput
	rawOptimization
}

type videoWire struct {
	task.VideoInput
	rawOptimization
}

type transcriptionWire struct {
	task.TranscriptionInput
	rawOptimization
}

type subtitleWire struct {
	task.SubtitleInput
	rawOptimization
}

func (w *imageWire) parts() (task.Input, json.RawMessage) { return &w.ImageInput, w.PromptOptimization }
func (w *videoWire) parts() (task.Input, json.RawMessage) { return &w.VideoInput, w.PromptOptimization }
func (w *transcriptionWire) parts() (task.Input, json.RawMessage) {
	return &w.TranscriptionInput, w.PromptOptimization
}
func (w *subtitleWire) parts() (task.Input, json.RawMessage) {
	return &w.SubtitleInput, w.PromptOptimization
}

// newWire returns an empty input of task type typ as decoded.
func newWire(typ task.Type) wire {
	switch typ {
	case task.TypeImageGeneration:
		return &imageWire{}
	case task.TypeVideoGeneration:
		return &videoWire{}
	case task.TypeAudioTranscription:
		return &transcriptionWire{}
	case task.TypeSubtitleGeneration:
		return &subtitleWire{}
	}
	return nil
}

// input checks a decoded input named under prefix and fills in its
// defaults; it returns the task.Input to store.
func (c *checker) input(w wire, prefix string) task.Input {
	in, rawOpt := w.parts()
	optField := join(prefix, "prompt_optimization")
	var optErrs []FieldError
	if len(rawOpt) > 0 && string(rawOpt) != "null" {
		opt := new(task.PromptOptimization)
		if p := decodeStrict(rawOpt, optField, opt); p != nil {
			optErrs = p.Errors
		} else {
			in.Common().PromptOptimization = opt
		}
	}
	errs := in.Validate(prefix)
	c.adopt(errs)
	// The pinned provider's verdict, for a name of the right form, and
	// prompt_optimization's decoding come where the domain checks those
	// fields: provider, then prompt_optimization, last.
	var late []FieldError
	providerField := join(prefix, "provider")
	if name := in.Common().Provider; name != "" && c.s.opts.ProviderCheck != nil &&
		!slices.ContainsFunc(errs, func(e task.FieldError) bool { return e.Field == providerField }) {
		if err := c.s.opts.ProviderCheck(c.typ, name); err != nil {
			late = append(late, fieldError(providerField, "%v", err))
		}
	}
	c.insertBefore(optField, append(late, optErrs...)...)
	in.SetDefaults()
	if !c.clean() {
		return in
	}
	if c.s.opts.InputCheck != nil {
		c.adopt(c.s.opts.InputCheck(prefix, in))
		if !c.clean() {
			return in
		}
	}
	if po := in.Common().PromptOptimization; po != nil && c.s.opts.Prompts != nil {
		c.prompt(prefix, po)
	}
	m := in.Media()
	if m.UploadID != "" {
		c.upload(join(prefix, "upload_id"), m.UploadID)
	}
	if m.TranscriptionTaskID != "" {
		c.completedTask(join(prefix, "transcription_task_id"), m.TranscriptionTaskID, task.TypeAudioTranscription)
	}
	if m.ImageUploadID != "" {
		c.imageUpload(join(prefix, "image_upload_id"), m.ImageUploadID)
	}
	if m.ImageTaskID != "" {
		c.completedTask(join(prefix, "image_task_id"), m.ImageTaskID, task.TypeImageGeneration)
	}
	return in
}

// prompt asks the optimiser whether it can carry out prompt_optimization
// (a template that exists, serves the type and takes the params).
func (c *checker) prompt(prefix string, po *task.PromptOptimization) {
	err := c.s.opts.Prompts.Check(c.typ, po)
	var fe *prompt.FieldError
	if errors.As(err, &fe) {
		c.errs = append(c.errs, fieldError(join(prefix, fe.Field), "%s", fe.Message))
	} else if err != nil {
		c.errs = append(c.errs, fieldError(join(prefix, "prompt_optimization"), "%v", err))
	}
}

// result turns the checker's findings into the error to answer, if any.
func (c *checker) result() error {
	if c.fatal != nil {
		return c.fatal
	}
	if len(c.errs) > 0 {
		return invalid(c.errs...)
	}
	return nil
}

// batchItem is one task of a batch request.
type batchItem struct {
	TaskType  task.Type         `json:"task_type"`
	InputData json.RawMessage   `json:"input_data"`
	Priority  task.Priority     `json:"priority"`
	Metadata  map[string]string `json:"metadata"`
}

type batchRequest struct {
	Tasks         []json.RawMessage `json:"tasks"`
	WebhookURL    string            `json:"webhook_url"`
	WebhookEvents []task.EventType  `json:"webhook_events"`
}

// batchSpec validates a decoded batch request, naming every bad item by
// its index, and returns the spec to submit.
func (c *checker) batchSpec(req *batchRequest, max int) (app.BatchSpec, error) {
	if len(req.Tasks) == 0 || len(req.Tasks) > max {
		c.add("tasks", "must hold 1 to %d tasks (got %d)", max, len(req.Tasks))
		return app.BatchSpec{}, c.result()
	}
	c.webhook("", req.WebhookURL, req.WebhookEvents)
	spec := app.BatchSpec{WebhookURL: req.WebhookURL, WebhookEvents: req.WebhookEvents, Tasks: make([]app.TaskSpec, 0, len(req.Tasks))}
	for i, raw := range req.Tasks {
		prefix := fmt.Sprintf("tasks[%d]", i)
		c.base = len(c.errs)
		var item batchItem
		if p := decodeStrict(raw, prefix, &item); p != nil {
			c.errs = append(c.errs, p.Errors...)
			continue
		}
		w := newWire(item.TaskType)
		if w == nil {
			c.add(join(prefix, "task_type"), "must be one of %s", oneOf(task.Types))
			continue
		}
		if len(item.InputData) == 0 || string(item.InputData) == "null" {
			c.add(join(prefix, "input_data"), "is required")
			continue
		}
		inPrefix := join(prefix, "input_data")
		if p := decodeStrict(item.InputData, inPrefix, w); p != nil {
			c.errs = append(c.errs, p.Errors...)
			continue
		}
		c.typ = item.TaskType
		c.served(join(prefix, "task_type"))
		in := c.input(w, inPrefix)
		ts := app.TaskSpec{
			Type:          item.TaskType,
			Priority:      c.priority(prefix, item.Priority),
			Metadata:      c.metadata(prefix, item.Metadata),
			WebhookURL:    req.WebhookURL,
			WebhookEvents: req.WebhookEvents,
		}
		if c.fatal != nil {
			return app.BatchSpec{}, c.fatal
		}
		if len(c.errs) == 0 {
			input, err := encodeInput(in, inPrefix)
			if err != nil {
				var p *Problem
				if !errors.As(err, &p) {
					return app.BatchSpec{}, err
				}
				c.errs = append(c.errs, p.Errors...)
			}
			ts.Input = input
		}
		spec.Tasks = append(spec.Tasks, ts)
	}
	return spec, c.result()
}

// oneOf lists the allowed values for a message: "a, b or c", in the
// domain's words.
func oneOf[T ~string](values []T) string { return task.OneOf(values) }

// MaxInputBytes bounds a task's input as stored. The per-field limits
// allow more (32 optimisation parameters of 4,000 characters), but a
// task's record, its events and its webhooks all carry its input, and a
// record must fit in what every store holds in one item (DynamoDB: 400 KB).
const MaxInputBytes = 64 << 10

// encodeInput encodes a checked input for storage, refusing one larger
// than MaxInputBytes with a 400 naming field ("" for a submit's body).
func encodeInput(in task.Input, field string) (json.RawMessage, error) {
	out, err := task.EncodeJSON(in)
	if err != nil {
		return nil, fmt.Errorf("encode input: %w", err)
	}
	if len(out) > MaxInputBytes {
		name := field
		if name == "" {
			name = "body"
		}
		return nil, invalid(fieldError(name, "is %d bytes once encoded: at most %d (%d KiB)", len(out), MaxInputBytes, MaxInputBytes>>10))
	}
	return out, nil
}
