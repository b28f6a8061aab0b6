package client

import (
	"context"
	"fmt"
	"iter"
	"net/url"
	"strconv"
)

// SubmitImage submits an image generation task; the answer is the task,
// queued.
func (c *Client) SubmitImage(ctx context.Context, in ImageRequest) (Task, error) {
	return c.submit(ctx, "image", "/images/generate", in)
}

// SubmitVideo submits a video generation task.
func (c *Client) SubmitVideo(ctx context.Context, in VideoRequest) (Task, error) {
	return c.submit(ctx, "video", "/videos/generate", in)
}

// SubmitTranscription submits an audio transcription task.
func (c *Client) SubmitTranscription(ctx context.Context, in TranscriptionRequest) (Task, error) {
	return c.submit(ctx, "transcription", "/audio/transcribe", in)
}

// SubmitSubtitles submits a subtitle generation task.
func (c *Client) SubmitSubtitles(ctx context.Context, in SubtitlesRequest) (Task, error) {
	return c.submit(ctx, "subtitles", "/subtitles/generate", in)
}

func (c *Client) submit(ctx context.Context, kind, path string, in any) (Task, error) {
	var t Task
	if err := c.post(ctx, path, in, &t); err != nil {
		return Task{}, fmt.Errorf("submit %s: %w", kind, err)
	}
	return t, nil
}

// SubmitBatch submits tasks together: all are accepted, or none.
func (c *Client) SubmitBatch(ctx context.Context, in BatchRequest) (Batch, error) {
	var b Batch
	if err := c.post(ctx, "/batches", in, &b); err != nil {
		return Batch{}, fmt.Errorf("submit batch: %w", err)
	}
	return b, nil
}

// GetBatch reads a batch.
func (c *Client) GetBatch(ctx context.Context, id string) (Batch, error) {
	var b Batch
	if err := c.get(ctx, "/batches/"+url.PathEscape(id), nil, &b); err != nil {
		return Batch{}, fmt.Errorf("get batch %s: %w", id, err)
	}
	return b, nil
}

// GetTask reads a task.
func (c *Client) GetTask(ctx context.Context, id string) (Task, error) {
	var t Task
	if err := c.get(ctx, "/tasks/"+url.PathEscape(id), nil, &t); err != nil {
		return Task{}, fmt.Errorf("get task %s: %w", id, err)
	}
	return t, nil
}

// CancelTask cancels a task; a task that has already ended is a 409
// Problem.
func (c *Client) CancelTask(ctx context.Context, id string) (Task, error) {
	var t Task
	if err := c.post(ctx, "/tasks/"+url.PathEscape(id)+"/cancel", nil, &t); err != nil {
		return Task{}, fmt.Errorf("cancel task %s: %w", id, err)
	}
	return t, nil
}

// TaskFilter selects the tasks ListTasks yields; zero fields select all.
type TaskFilter struct {
	Status  Status
	Type    TaskType
	BatchID string
	// Limit is the size of each page asked for (1 to 100; server default 20).
	Limit int
}

func (f TaskFilter) query() url.Values {
	q := url.Values{}
	if f.Status != "" {
		q.Set("status", string(f.Status))
	}
	if f.Type != "" {
		q.Set("task_type", string(f.Type))
	}
	if f.BatchID != "" {
		q.Set("batch_id", f.BatchID)
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	return q
}

// ListTasksPage reads one page of tasks, newest first: cursor is the
// previous page's NextCursor, or empty for the first page.
func (c *Client) ListTasksPage(ctx context.Context, f TaskFilter, cursor string) (TaskList, error) {
	q := f.query()
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	var page TaskList
	if err := c.get(ctx, "/tasks", q, &page); err != nil {
		return TaskList{}, fmt.Errorf("list tasks: %w", err)
	}
	return page, nil
}

// ListTasks yields the tasks f selects, newest first, reading page after
// page as the loop goes on. An error is yielded once, last.
func (c *Client) ListTasks(ctx context.Context, f TaskFilter) iter.Seq2[Task, error] {
	return paginate(func(cursor string) ([]Task, string, error) {
		page, err := c.ListTasksPage(ctx, f, cursor)
		return page.Tasks, page.NextCursor, err
	})
}

// paginate yields the items of page after page until a page has no next
// cursor.
func paginate[T any](page func(cursor string) ([]T, string, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		cursor := ""
		for {
			items, next, err := page(cursor)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, it := range items {
				if !yield(it, nil) {
					return
				}
			}
			if next == "" {
				return
			}
			cursor = next
		}
	}
}
