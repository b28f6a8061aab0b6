package api

import (
	"bytes"
	"cmp"
	"context"
	_ "embed"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/videoai/mediatasks/shared/app"
	"github.com/videoai/mediatasks/shared/task"
)

// maxIDLen: ids are UUIDs; a longer path value names nothing.
const maxIDLen = 128

func pathID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if id == "" || len(id) > maxIDLen {
		return "", fmt.Errorf("id %.20q: %w", id, task.ErrNotFound)
	}
	return id, nil
}

func (s *server) getTask(w http.ResponseWriter, r *http.Request, user string) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	t, err := s.app.GetTask(r.Context(), user, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, t)
}

// pageParams checks a listing's cursor and reads its limit (default 20,
// at most 100), adding to errs what is wrong.
func pageParams(q url.Values, cursor string, errs []FieldError) (int, []FieldError) {
	if len(cursor) > 1024 {
		errs = append(errs, fieldError("cursor", "not a cursor this API issued"))
	}
	limit := 20
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			errs = append(errs, fieldError("limit", "must be a whole number from 1 to 100"))
		}
		limit = n
	}
	return limit, errs
}

// taskList is a page of tasks as the API answers it.
type taskList struct {
	Tasks      []*task.Task `json:"tasks"`
	NextCursor string       `json:"next_cursor,omitempty"`
}

func (s *server) listTasks(w http.ResponseWriter, r *http.Request, user string) error {
	q := r.URL.Query()
	f := task.ListFilter{
		Status:  task.Status(q.Get("status")),
		Type:    task.Type(q.Get("task_type")),
		BatchID: q.Get("batch_id"),
		Cursor:  q.Get("cursor"),
		Limit:   20,
	}
	var errs []FieldError
	if f.Status != "" && !f.Status.Valid() {
		errs = append(errs, fieldError("status", "must be one of %s", oneOf(task.Statuses)))
	}
	if f.Type != "" && !f.Type.Valid() {
		errs = append(errs, fieldError("task_type", "must be one of %s", oneOf(task.Types)))
	}
	if len(f.BatchID) > maxIDLen {
		errs = append(errs, fieldError("batch_id", "must be at most %d characters", maxIDLen))
	}
	f.Limit, errs = pageParams(q, f.Cursor, errs)
	if len(errs) > 0 {
		return invalid(errs...)
	}
	p, err := s.app.ListTasks(r.Context(), user, f)
	if err != nil {
		return err
	}
	out := taskList{Tasks: p.Tasks, NextCursor: p.NextCursor}
	if out.Tasks == nil {
		out.Tasks = []*task.Task{}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *server) getBatch(w http.ResponseWriter, r *http.Request, user string) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	b, err := s.app.GetBatch(r.Context(), user, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, b)
}

// cancelTask cancels a task: 200 with the task, 409 if it has ended. The
// body may be empty or an empty JSON object.
func (s *server) cancelTask(w http.ResponseWriter, r *http.Request, user string) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var body []byte
	if r.ContentLength != 0 {
		buf, err := readJSONBody(w, r)
		if err != nil {
			return err
		}
		defer putBuf(buf)
		body = buf.Bytes()
		if len(bytes.TrimSpace(body)) > 0 {
			if p := decodeStrict(body, "", &struct{}{}); p != nil {
				return p
			}
		}
	}
	idem, err := s.idempotency(r, user, hashRequest(r, body))
	if err != nil || idem.replay(w) {
		return err
	}
	t, err := s.app.Cancel(r.Context(), user, id)
	if err != nil {
		return idem.cancelled(s, w, r, err)
	}
	out, err := task.EncodeJSON(t)
	if err != nil {
		return fmt.Errorf("encode task: %w", err)
	}
	if replayed, err := idem.remember(s, w, r, idem.record(s, http.StatusOK, "", out)); replayed || err != nil {
		return err
	}
	writeBody(w, http.StatusOK, "application/json", out)
	return nil
}

// unavailable is what /health shows for a component's error: its text
// (paths, driver messages) goes to the log, not to the public.
const unavailable = "unavailable"

// redactHealth replaces the error text of each component and provider
// with "unavailable", logging the real one.
func (s *server) redactHealth(ctx context.Context, h *app.Health) {
	for kind, m := range map[string]map[string]app.ComponentHealth{"component": h.Components, "provider": h.Providers} {
		for name, c := range m {
			if c.Error == "" {
				continue
			}
			s.log.WarnContext(ctx, "health: "+kind+" "+c.Status, kind, name, "err", c.Error)
			c.Error = cmp.Or(c.Reason, unavailable)
			m[name] = c
		}
	}
}

func (s *server) health(w http.ResponseWriter, r *http.Request, _ string) error {
	h := s.app.Health(r.Context())
	s.redactHealth(r.Context(), &h)
	if !h.OK {
		p := &Problem{Status: http.StatusServiceUnavailable, Detail: "a component is down", Health: &h}
		for name, c := range h.Components {
			if c.Status == "down" {
				p.Errors = append(p.Errors, FieldError{Field: "components." + name, Message: c.Error})
			}
		}
		writeProblem(w, r, p)
		return nil
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, h)
}

func (s *server) stats(w http.ResponseWriter, r *http.Request, user string) error {
	st, err := s.app.Stats(r.Context(), user)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, st)
}

//go:embed openapi.json
var openapiDoc []byte

// OpenAPI returns the API's OpenAPI 3.1 document.
func OpenAPI() []byte { return bytes.Clone(openapiDoc) }

func (s *server) openapi(w http.ResponseWriter, _ *http.Request, _ string) error {
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeBody(w, http.StatusOK, "application/json", openapiDoc)
	return nil
}

// sseEvent is written for each stored event of a task.
func writeSSE(w http.ResponseWriter, ev task.Event) error {
	_, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", ev.Seq, ev.Type, ev.Data)
	return err
}

// taskEvents streams a task's events as server-sent events: those after
// Last-Event-ID (or ?after=), then each new one as it is stored, with a
// comment every heartbeat interval; it closes after a terminal event.
func (s *server) taskEvents(w http.ResponseWriter, r *http.Request, user string) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	after, field := int64(0), ""
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		after, field = parseSeq(v), "Last-Event-ID"
	} else if v := r.URL.Query().Get("after"); v != "" {
		after, field = parseSeq(v), "after"
	}
	if after < 0 {
		return invalid(fieldError(field, "must be an event id (a whole number)"))
	}
	ctx := r.Context()
	// The first read answers 404 for another user's task, before any byte
	// of the stream is written.
	t, err := s.app.GetTask(ctx, user, id)
	if err != nil {
		return err
	}
	if !s.streams.enter(user, s.opts.MaxStreamsPerUser) {
		return &Problem{Status: http.StatusTooManyRequests, retryAfter: 5,
			Detail: fmt.Sprintf("at most %d event streams may be open at once; close one first", s.opts.MaxStreamsPerUser)}
	}
	defer s.streams.leave(user)
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's write timeout
	flush := rc.Flush
	if s.opts.BufferedStreams {
		flush = func() error { return nil } // the answer goes whole when the handler returns
	}
	opened := s.now()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if err := flush(); err != nil {
		return nil // nothing more can be said on this connection
	}
	lastWrite := s.now()
	for {
		// The task is read before its events: every event up to the
		// status read is then in the list.
		ended := t.Status.Terminal()
		evs, err := s.app.Events(ctx, user, id, after)
		if err != nil {
			s.log.WarnContext(ctx, "event stream: list events", "task_id", id, "err", err)
			return nil
		}
		for _, ev := range evs {
			if err := writeSSE(w, ev); err != nil {
				return nil
			}
			after = ev.Seq
			if ev.Type.EndsTask() {
				_ = flush()
				return nil
			}
		}
		if len(evs) > 0 {
			if flush() != nil || s.opts.BufferedStreams {
				return nil
			}
			lastWrite = s.now()
		}
		if ended && len(evs) < 100 {
			return nil
		}
		if len(evs) == 100 {
			continue // more to replay
		}
		if s.now().Sub(lastWrite) >= s.opts.HeartbeatInterval {
			if _, err := fmt.Fprint(w, ": heartbeat\n\n"); err != nil || flush() != nil {
				return nil
			}
			lastWrite = s.now()
		}
		if s.opts.BufferedStreams && s.now().Sub(opened) >= s.opts.BufferedStreamWait {
			return nil // nothing new: the client asks again, after its last event
		}
		s.app.WaitChange(ctx, id)
		if ctx.Err() != nil {
			return nil
		}
		if t, err = s.app.GetTask(ctx, user, id); err != nil {
			s.log.WarnContext(ctx, "event stream: read task", "task_id", id, "err", err)
			return nil
		}
	}
}

// parseSeq reads an event id; -1 when it is not one.
func parseSeq(v string) int64 {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// streamCounter counts each user's open event streams.
type streamCounter struct {
	mu   sync.Mutex
	open map[string]int
}

// enter counts a new stream of user's, unless user already has max open.
func (c *streamCounter) enter(user string, max int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open[user] >= max {
		return false
	}
	c.open[user]++
	return true
}

func (c *streamCounter) leave(user string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open[user]--; c.open[user] <= 0 {
		delete(c.open, user)
	}
}
