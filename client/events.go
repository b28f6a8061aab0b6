package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Event is one change of a task, as its event stream tells it.
type Event struct {
	ID   int64 // the event's sequence number within its task
	Type EventType
	Task Task // the task after the change
}

// errStopped ends reading a stream because the loop over it ended.
var errStopped = errors.New("stopped")

// Events yields a task's events, those already stored first, then each new
// one, until the task's terminal event. A stream that drops is opened
// again with Last-Event-ID, so no event is lost or repeated. When the
// task had ended before (or while) the stream was opened, Events may end
// without a terminal event: GetTask then reads the final state (Wait does
// this). An error is yielded once, last.
func (c *Client) Events(ctx context.Context, id string) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		var last int64
		idle := 0 // streams in a row that told nothing
		for {
			header := http.Header{"Accept": {"text/event-stream"}}
			if last > 0 {
				header.Set("Last-Event-ID", strconv.FormatInt(last, 10))
			}
			resp, err := c.do(ctx, request{method: http.MethodGet, path: "/tasks/" + url.PathEscape(id) + "/events", header: header})
			if err != nil {
				yield(Event{}, fmt.Errorf("follow task %s: %w", id, err))
				return
			}
			got, ended := 0, false
			err = readEvents(resp.Body, func(ev Event) error {
				got++
				last = ev.ID
				if ev.Type.EndsTask() {
					ended = true
				}
				if !yield(ev, nil) || ended {
					return errStopped
				}
				return nil
			})
			resp.Body.Close()
			if errors.Is(err, errStopped) {
				return
			}
			if ctx.Err() != nil {
				yield(Event{}, fmt.Errorf("follow task %s: %w", id, ctx.Err()))
				return
			}
			if err != nil && !isDrop(err) {
				yield(Event{}, fmt.Errorf("follow task %s: %w", id, err))
				return
			}
			// The stream ended before the task did, or the task had
			// already ended: an empty stream asks which.
			if got > 0 {
				idle = 0
				continue
			}
			t, err := c.GetTask(ctx, id)
			if err != nil {
				yield(Event{}, fmt.Errorf("follow task %s: %w", id, err))
				return
			}
			if t.Status.Terminal() {
				return
			}
			if err := sleep(ctx, c.wait(min(idle, 8), 0)); err != nil {
				yield(Event{}, fmt.Errorf("follow task %s: %w", id, err))
				return
			}
			idle++
		}
	}
}

// isDrop tells a stream cut short (the connection lost, the server gone)
// from an answer that cannot be read as events.
func isDrop(err error) bool {
	var bad *badEventError
	return !errors.As(err, &bad)
}

// badEventError is an event whose data is not a task.
type badEventError struct {
	id  int64
	err error
}

func (e *badEventError) Error() string {
	return fmt.Sprintf("event %d: decode task: %v", e.id, e.err)
}

func (e *badEventError) Unwrap() error { return e.err }

// readEvents reads server-sent events from r and hands each to emit,
// until r ends (nil) or fails, or emit returns an error. An event cut
// short by the end of r is dropped: it comes again after Last-Event-ID.
func readEvents(r io.Reader, emit func(Event) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		id        int64
		eventType string
		data      strings.Builder
		hasData   bool
	)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if hasData {
				ev := Event{ID: id, Type: EventType(eventType)}
				if err := json.Unmarshal([]byte(data.String()), &ev.Task); err != nil {
					return &badEventError{id: id, err: err}
				}
				if err := emit(ev); err != nil {
					return err
				}
			}
			eventType, hasData = "", false
			data.Reset()
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue // a heartbeat
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			if n, err := strconv.ParseInt(value, 10, 64); err == nil {
				id = n
			}
		case "event":
			eventType = value
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			data.WriteString(value)
			hasData = true
		}
	}
}

// Wait follows a task until it ends and returns it as it ended
// (completed, failed or canceled: a failed task is not an error). Bound
// the wait with ctx.
func (c *Client) Wait(ctx context.Context, id string) (Task, error) {
	for ev, err := range c.Events(ctx, id) {
		if err != nil {
			return Task{}, fmt.Errorf("wait for task %s: %w", id, err)
		}
		if ev.Type.EndsTask() {
			return ev.Task, nil
		}
	}
	// The stream ended without a terminal event: the task had ended
	// before it told us.
	t, err := c.GetTask(ctx, id)
	if err != nil {
		return Task{}, fmt.Errorf("wait for task %s: %w", id, err)
	}
	return t, nil
}
