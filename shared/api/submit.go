package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/videoai/mediatasks/shared/app"
	"github.com/videoai/mediatasks/shared/task"
)

// submitRequest is the body of a single-task submit: one type's input (a
// wire, whose parts it has) and the fields common to every submit.
type submitRequest interface {
	wire
	fields() *CommonFields
}

type imageRequest struct {
	task.ImageInput
	rawOptimization
	CommonFields
}

type videoRequest struct {
	task.VideoInput
	rawOptimization
	CommonFields
}

type transcriptionRequest struct {
	task.TranscriptionInput
	rawOptimization
	CommonFields
}

type subtitleRequest struct {
	task.SubtitleInput
	rawOptimization
	CommonFields
}

func (r *imageRequest) parts() (task.Input, json.RawMessage) {
	return &r.ImageInput, r.PromptOptimization
}
func (r *videoRequest) parts() (task.Input, json.RawMessage) {
	return &r.VideoInput, r.PromptOptimization
}
func (r *transcriptionRequest) parts() (task.Input, json.RawMessage) {
	return &r.TranscriptionInput, r.PromptOptimization
}
func (r *subtitleRequest) parts() (task.Input, json.RawMessage) {
	return &r.SubtitleInput, r.PromptOptimization
}

func (s *server) submitImage(w http.ResponseWriter, r *http.Request, user string) error {
	return s.submitOne(w, r, user, task.TypeImageGeneration, &imageRequest{})
}

func (s *server) submitVideo(w http.ResponseWriter, r *http.Request, user string) error {
	return s.submitOne(w, r, user, task.TypeVideoGeneration, &videoRequest{})
}

func (s *server) submitAudio(w http.ResponseWriter, r *http.Request, user string) error {
	return s.submitOne(w, r, user, task.TypeAudioTranscription, &transcriptionRequest{})
}

func (s *server) submitSubtitles(w http.ResponseWriter, r *http.Request, user string) error {
	return s.submitOne(w, r, user, task.TypeSubtitleGeneration, &subtitleRequest{})
}

// decodeSubmit reads a submit's JSON body into v, unless the request's
// Idempotency-Key has a stored answer, which it replays (replayed true).
func (s *server) decodeSubmit(w http.ResponseWriter, r *http.Request, user string, v any) (idem idempotent, replayed bool, err error) {
	buf, err := readJSONBody(w, r)
	if err != nil {
		return idempotent{}, false, err
	}
	defer putBuf(buf) // the decoded value holds copies of what it needs
	if idem, err = s.idempotency(r, user, hashRequest(r, buf.Bytes())); err != nil {
		return idempotent{}, false, err
	}
	if idem.replay(w) {
		return idem, true, nil
	}
	if p := decodeStrict(buf.Bytes(), "", v); p != nil {
		return idempotent{}, false, p
	}
	return idem, false, nil
}

// taskLocation is where a task is read.
func taskLocation(id string) string { return Prefix + "/tasks/" + id }

func (s *server) submitOne(w http.ResponseWriter, r *http.Request, user string, typ task.Type, req submitRequest) error {
	wait, waitSet, err := s.preferWait(r)
	if err != nil {
		return err
	}
	idem, replayed, err := s.decodeSubmit(w, r, user, req)
	if err != nil || replayed {
		return err
	}
	common := req.fields()
	c := &checker{ctx: r.Context(), s: s, user: user, typ: typ}
	c.served("task_type")
	in := c.input(req, "")
	c.common(common)
	if err := c.result(); err != nil {
		return err
	}
	if err := s.limiter.take(user, 1); err != nil {
		return err
	}
	input, err := encodeInput(in, "")
	if err != nil {
		return err
	}
	spec := app.TaskSpec{
		Type:          typ,
		Input:         input,
		Priority:      common.Priority,
		Metadata:      common.Metadata,
		WebhookURL:    common.WebhookURL,
		WebhookEvents: common.WebhookEvents,
	}
	var body []byte
	t, err := s.app.SubmitTask(r.Context(), user, spec, func(sub app.Submission) (*task.IdempotencyRecord, error) {
		var err error
		if body, err = task.EncodeJSON(sub.Tasks[0]); err != nil {
			return nil, err
		}
		return idem.record(s, http.StatusAccepted, taskLocation(sub.Tasks[0].ID), body), nil
	})
	if err != nil {
		return idem.lostRace(s, w, r, err)
	}
	status := http.StatusAccepted
	if waitSet {
		w.Header().Set("Preference-Applied", "wait="+strconv.Itoa(int(wait/time.Second)))
		done, err := s.app.WaitTerminal(r.Context(), user, t.ID, wait)
		if err != nil {
			return err
		}
		if body, err = task.EncodeJSON(done); err != nil {
			return fmt.Errorf("encode task: %w", err)
		}
		if done.Status.Terminal() {
			status = http.StatusOK
		}
	}
	w.Header().Set("Location", taskLocation(t.ID))
	writeBody(w, status, "application/json", body)
	return nil
}

// preferWait reads "Prefer: wait=N" (RFC 7240): N whole seconds from 0 to
// 60, capped at the operator's limit. Other preferences are ignored.
func (s *server) preferWait(r *http.Request) (time.Duration, bool, error) {
	for _, h := range r.Header.Values("Prefer") {
		for pref := range strings.SplitSeq(h, ",") {
			pref, _, _ = strings.Cut(pref, ";")
			name, val, _ := strings.Cut(strings.TrimSpace(pref), "=")
			if !strings.EqualFold(strings.TrimSpace(name), "wait") {
				continue
			}
			n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(val), `"`))
			if err != nil || n < 0 || n > 60 {
				return 0, false, invalid(fieldError("Prefer", "wait must be a whole number of seconds from 0 to 60"))
			}
			return min(time.Duration(n)*time.Second, s.app.Limits().PreferWaitMax.Truncate(time.Second)), true, nil
		}
	}
	return 0, false, nil
}

// batchLocation is where a batch is read.
func batchLocation(id string) string { return Prefix + "/batches/" + id }

func (s *server) submitBatch(w http.ResponseWriter, r *http.Request, user string) error {
	var req batchRequest
	idem, replayed, err := s.decodeSubmit(w, r, user, &req)
	if err != nil || replayed {
		return err
	}
	c := &checker{ctx: r.Context(), s: s, user: user}
	spec, err := c.batchSpec(&req, s.app.Limits().BatchMax)
	if err != nil {
		return err
	}
	// A batch spends one token per task: a batch of 50 costs what 50
	// single submits do (capped at the bucket's size, so that any batch can
	// pass a full bucket).
	if err := s.limiter.take(user, len(spec.Tasks)); err != nil {
		return err
	}
	var body []byte
	sub, err := s.app.SubmitBatch(r.Context(), user, spec, func(sub app.Submission) (*task.IdempotencyRecord, error) {
		var err error
		if body, err = task.EncodeJSON(sub.Batch); err != nil {
			return nil, err
		}
		return idem.record(s, http.StatusAccepted, batchLocation(sub.Batch.ID), body), nil
	})
	if err != nil {
		return idem.lostRace(s, w, r, err)
	}
	w.Header().Set("Location", batchLocation(sub.Batch.ID))
	writeBody(w, http.StatusAccepted, "application/json", body)
	return nil
}
