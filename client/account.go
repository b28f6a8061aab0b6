package client

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
)

// Stats reads the caller's figures.
func (c *Client) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	if err := c.get(ctx, "/stats", nil, &s); err != nil {
		return Stats{}, fmt.Errorf("stats: %w", err)
	}
	return s, nil
}

// Health reads the server's state. When a component is down the server
// answers 503: the error is then a *Problem whose Health says which.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var h Health
	if err := c.get(ctx, "/health", nil, &h); err != nil {
		return Health{}, fmt.Errorf("health: %w", err)
	}
	return h, nil
}

// PromptPreview shows what prompt optimisation would make of a prompt,
// without submitting a task.
func (c *Client) PromptPreview(ctx context.Context, in PromptPreview) (OptimizedPrompt, error) {
	var p OptimizedPrompt
	if err := c.post(ctx, "/prompts/optimize", in, &p); err != nil {
		return OptimizedPrompt{}, fmt.Errorf("preview prompt: %w", err)
	}
	return p, nil
}

// Templates lists the prompt templates the server offers.
func (c *Client) Templates(ctx context.Context) ([]Template, error) {
	var l TemplateList
	if err := c.get(ctx, "/prompts/templates", nil, &l); err != nil {
		return nil, fmt.Errorf("prompt templates: %w", err)
	}
	return l.Templates, nil
}

// DeliveryFilter selects the deliveries ListDeliveries yields.
type DeliveryFilter struct {
	// TaskID or BatchID, at most one, narrows the list to that task's or
	// batch's deliveries.
	TaskID, BatchID string
	Status          string // pending, delivered, exhausted, skipped or blocked
	Limit           int    // page size
}

// ListDeliveries yields webhook deliveries, page after page. An error is
// yielded once, last.
func (c *Client) ListDeliveries(ctx context.Context, f DeliveryFilter) iter.Seq2[Delivery, error] {
	path := "/deliveries"
	switch {
	case f.TaskID != "":
		path = "/tasks/" + url.PathEscape(f.TaskID) + "/deliveries"
	case f.BatchID != "":
		path = "/batches/" + url.PathEscape(f.BatchID) + "/deliveries"
	}
	return paginate(func(cursor string) ([]Delivery, string, error) {
		q := url.Values{}
		if f.Status != "" {
			q.Set("status", f.Status)
		}
		if f.Limit > 0 {
			q.Set("limit", strconv.Itoa(f.Limit))
		}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page DeliveryList
		if err := c.get(ctx, path, q, &page); err != nil {
			return nil, "", fmt.Errorf("list deliveries: %w", err)
		}
		return page.Deliveries, page.NextCursor, nil
	})
}

// GetDelivery reads a delivery with its attempts.
func (c *Client) GetDelivery(ctx context.Context, id string) (Delivery, error) {
	var d Delivery
	if err := c.get(ctx, "/deliveries/"+url.PathEscape(id), nil, &d); err != nil {
		return Delivery{}, fmt.Errorf("get delivery %s: %w", id, err)
	}
	return d, nil
}

// RetryDelivery delivers a webhook again (same webhook-id), now.
func (c *Client) RetryDelivery(ctx context.Context, id string) (Delivery, error) {
	var d Delivery
	if err := c.call(ctx, request{method: http.MethodPost, path: "/deliveries/" + url.PathEscape(id) + "/retry"}, &d); err != nil {
		return Delivery{}, fmt.Errorf("retry delivery %s: %w", id, err)
	}
	return d, nil
}

// WebhookSecret reads the caller's webhook signing secret.
func (c *Client) WebhookSecret(ctx context.Context) (WebhookSecret, error) {
	var s WebhookSecret
	if err := c.get(ctx, "/webhooks/secret", nil, &s); err != nil {
		return WebhookSecret{}, fmt.Errorf("webhook secret: %w", err)
	}
	return s, nil
}

// RotateWebhookSecret makes a new signing secret; the old one keeps
// signing beside it for a day.
func (c *Client) RotateWebhookSecret(ctx context.Context) (WebhookSecret, error) {
	var s WebhookSecret
	if err := c.post(ctx, "/webhooks/secret/rotate", nil, &s); err != nil {
		return WebhookSecret{}, fmt.Errorf("rotate webhook secret: %w", err)
	}
	return s, nil
}
