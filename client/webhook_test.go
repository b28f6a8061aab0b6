package client_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/videoai/mediatasks/client"
)

// A task's webhook reaches its receiver signed with the caller's secret;
// its delivery is listed, read and replayed.
func TestWebhooksAreSignedAndListed(t *testing.T) {
	t.Parallel()
	srv := newServer(t, serverOptions{})
	c := client.New(srv.URL, srv.Key)
	ctx := testContext(t)
	secret, err := c.WebhookSecret(ctx)
	if err != nil {
		t.Fatal(err)
	}
	received := make(chan client.WebhookEvent, 4)
	var (
		mu      sync.Mutex
		verrors []error
	)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ev, err := client.VerifyWebhook(secret.Secret, r.Header, body)
		if err != nil {
			mu.Lock()
			verrors = append(verrors, err)
			mu.Unlock()
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		received <- ev
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()

	tk, err := c.SubmitImage(ctx, client.ImageRequest{Prompt: "a kite", WebhookURL: receiver.URL + "/hooks", WebhookEvents: []client.EventType{client.EventTaskCompleted}})
	if err != nil {
		t.Fatal(err)
	}
	var ev client.WebhookEvent
	select {
	case ev = <-received:
	case <-time.After(20 * time.Second):
		t.Fatal("no webhook")
	}
	if ev.EventType != client.EventTaskCompleted || len(ev.Data) == 0 {
		t.Errorf("webhook %+v", ev)
	}
	mu.Lock()
	if len(verrors) > 0 {
		t.Errorf("webhooks that did not verify: %v", verrors)
	}
	mu.Unlock()

	var deliveries []client.Delivery
	for d, err := range c.ListDeliveries(ctx, client.DeliveryFilter{TaskID: tk.ID}) {
		if err != nil {
			t.Fatal(err)
		}
		deliveries = append(deliveries, d)
	}
	if len(deliveries) != 1 || deliveries[0].WebhookID != ev.ID || deliveries[0].SubjectID != tk.ID {
		t.Fatalf("deliveries %+v, want the one of webhook %s", deliveries, ev.ID)
	}
	var d client.Delivery
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		// The attempt is recorded once the receiver has answered.
		if d, err = c.GetDelivery(ctx, deliveries[0].ID); err != nil {
			t.Fatal(err)
		}
		if d.Status == "delivered" || time.Now().After(deadline) {
			break
		}
	}
	if d.Status != "delivered" || d.LastAttempt == nil || d.LastAttempt.StatusCode != http.StatusNoContent {
		t.Errorf("delivery %+v", d)
	}
	if _, err := c.RetryDelivery(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case again := <-received:
		if again.ID != ev.ID {
			t.Errorf("replayed webhook-id %s, want %s", again.ID, ev.ID)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no replay")
	}

	// An old webhook is refused: it may be a replay.
	_, err = client.VerifyWebhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", http.Header{
		"Webhook-Id": {"x"}, "Webhook-Timestamp": {"1"}, "Webhook-Signature": {"v1,AAAA"}}, []byte("{}"))
	if !errors.Is(err, client.ErrWebhookTimestamp) {
		t.Errorf("an old webhook: %v", err)
	}
}
