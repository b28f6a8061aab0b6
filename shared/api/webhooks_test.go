package api

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/webhook"
)

// A task's events with a webhook become deliveries the owner can list,
// read with their attempts, and replay; other users see none of them.
func TestDeliveryRoutes(t *testing.T) {
	t.Parallel()
	h, b := setup(t)
	rec := do(t, h, req{method: "POST", path: Prefix + "/images/generate", key: b.keyA, body: map[string]any{
		"prompt": "a fox", "webhook_url": "https://hooks.example.com/mt", "webhook_events": []string{"task.queued", "task.canceled"}}})
	wantStatus(t, rec, http.StatusAccepted)
	tk := decode[*task.Task](t, rec)
	wantStatus(t, do(t, h, req{method: "POST", path: Prefix + "/tasks/" + tk.ID + "/cancel", key: b.keyA}), http.StatusOK)

	list := decode[deliveryList](t, do(t, h, req{method: "GET", path: Prefix + "/tasks/" + tk.ID + "/deliveries", key: b.keyA}))
	if len(list.Deliveries) != 2 {
		t.Fatalf("deliveries %+v, want task.queued and task.canceled", list.Deliveries)
	}
	var types []task.EventType
	for _, d := range list.Deliveries {
		types = append(types, d.EventType)
		if d.Status != webhook.StatusPending || d.URL != "https://hooks.example.com/mt" || !strings.HasPrefix(d.EventID, "evt_"+tk.ID) {
			t.Errorf("delivery %+v", d)
		}
	}
	if types[0] != task.EventTaskCanceled || types[1] != task.EventTaskQueued {
		t.Errorf("event types %v, want newest first", types)
	}

	pending := decode[deliveryList](t, do(t, h, req{method: "GET", path: Prefix + "/deliveries?status=pending&limit=1", key: b.keyA}))
	if len(pending.Deliveries) != 1 || pending.NextCursor == "" {
		t.Fatalf("first page %+v", pending)
	}
	next := decode[deliveryList](t, do(t, h, req{method: "GET", path: Prefix + "/deliveries?status=pending&limit=1&cursor=" + pending.NextCursor, key: b.keyA}))
	if len(next.Deliveries) != 1 || next.Deliveries[0].ID == pending.Deliveries[0].ID {
		t.Fatalf("second page %+v", next)
	}
	wantProblem(t, do(t, h, req{method: "GET", path: Prefix + "/deliveries?status=lost", key: b.keyA}), http.StatusBadRequest, "status")
	wantProblem(t, do(t, h, req{method: "GET", path: Prefix + "/deliveries?cursor=nope", key: b.keyA}), http.StatusBadRequest, "cursor")

	id := list.Deliveries[0].ID
	one := decode[webhook.Delivery](t, do(t, h, req{method: "GET", path: Prefix + "/deliveries/" + id, key: b.keyA}))
	if one.ID != id || one.EventID != list.Deliveries[0].EventID {
		t.Fatalf("delivery %+v", one)
	}
	rec = do(t, h, req{method: "POST", path: Prefix + "/deliveries/" + id + "/retry", key: b.keyA})
	wantStatus(t, rec, http.StatusAccepted)
	if again := decode[webhook.Delivery](t, rec); again.EventID != one.EventID || again.Status != webhook.StatusPending {
		t.Fatalf("replayed %+v, want the same webhook-id, pending", again)
	}

	// Another user's task, delivery and replay are not found.
	for _, r := range []req{
		{method: "GET", path: Prefix + "/tasks/" + tk.ID + "/deliveries", key: b.keyB},
		{method: "GET", path: Prefix + "/deliveries/" + id, key: b.keyB},
		{method: "POST", path: Prefix + "/deliveries/" + id + "/retry", key: b.keyB},
	} {
		wantStatus(t, do(t, h, r), http.StatusNotFound)
	}
	if other := decode[deliveryList](t, do(t, h, req{method: "GET", path: Prefix + "/deliveries", key: b.keyB})); len(other.Deliveries) != 0 {
		t.Fatalf("another user lists %+v", other.Deliveries)
	}
}

// Each user has a signing secret, made on first use; a rotation makes a
// new one and keeps the previous one beside it.
func TestWebhookSecretAndRotation(t *testing.T) {
	t.Parallel()
	h, b := setup(t)
	first := decode[secretAnswer](t, do(t, h, req{method: "GET", path: Prefix + "/webhooks/secret", key: b.keyA}))
	if !strings.HasPrefix(first.Secret, "whsec_") || len(first.Previous) != 0 {
		t.Fatalf("secret %+v", first)
	}
	if again := decode[secretAnswer](t, do(t, h, req{method: "GET", path: Prefix + "/webhooks/secret", key: b.keyA})); again.Secret != first.Secret {
		t.Fatal("the secret changed without a rotation")
	}
	other := decode[secretAnswer](t, do(t, h, req{method: "GET", path: Prefix + "/webhooks/secret", key: b.keyB}))
	if other.Secret == first.Secret {
		t.Fatal("two users share a secret")
	}
	rotated := decode[secretAnswer](t, do(t, h, req{method: "POST", path: Prefix + "/webhooks/secret/rotate", key: b.keyA}))
	if rotated.Secret == first.Secret || len(rotated.Previous) != 1 || rotated.Previous[0] != first.Secret || rotated.PreviousValidUntil == nil {
		t.Fatalf("after rotation %+v, want a new secret and the first as previous", rotated)
	}
}

// At submit, the guard refuses webhook URLs that point inside: each form,
// with the field named.
func TestWebhookGuardAtSubmit(t *testing.T) {
	t.Parallel()
	guard := webhook.Guard{}
	h, b := setup(t, withOptions(func(o *Options) {
		o.WebhookURLGuard = func(u string) error {
			err := guard.CheckURL(u)
			if ue, ok := errors.AsType[*webhook.URLError](err); ok {
				return errors.New(ue.Reason)
			}
			return err
		}
	}))
	refused := []string{
		"http://127.0.0.1/h", "http://10.1.2.3/h", "http://172.16.0.1/h", "http://192.168.1.1/h",
		"http://169.254.169.254/latest/meta-data", "http://[::1]/h", "http://[fc00::1]/h", "http://[fe80::1]/h",
		"http://0.0.0.0/h", "http://224.0.0.1/h", "http://255.255.255.255/h", "http://100.64.0.1/h",
		"http://[::ffff:127.0.0.1]/h", "http://[::ffff:10.0.0.1]/h", "http://[::127.0.0.1]/h", "http://[ff02::1]/h",
		"http://2130706433/h", "http://0x7f.1/h", "ftp://example.com/h", "https://user:pass@example.com/h",
	}
	for _, u := range refused {
		rec := do(t, h, req{method: "POST", path: Prefix + "/images/generate", key: b.keyA, body: map[string]any{"prompt": "x", "webhook_url": u}})
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "webhook_url") {
			t.Errorf("%s: %d %s, want 400 naming webhook_url", u, rec.Code, rec.Body)
		}
	}
	rec := do(t, h, req{method: "POST", path: Prefix + "/images/generate", key: b.keyA, body: map[string]any{"prompt": "x", "webhook_url": "https://hooks.example.com/mt"}})
	wantStatus(t, rec, http.StatusAccepted)
}
