package webhook_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/videoai/mediatasks/shared/webhook"
)

// A receiver checks each webhook with the secret from
// GET /api/v1/media/webhooks/secret before trusting it, and drops repeats
// by their webhook-id.
func ExampleVerifier() {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	verifier, err := webhook.NewVerifier(secret)
	if err != nil {
		panic(err)
	}
	receive := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err := verifier.Verify(r.Header, body); err != nil {
			http.Error(w, "bad signature", http.StatusBadRequest)
			return
		}
		fmt.Println("accepted", r.Header.Get("webhook-id"))
		w.WriteHeader(http.StatusNoContent)
	})

	// What mediatasks sends, signed now.
	body := `{"id":"evt_tsk_1_3","event_type":"task.completed","created_at":"2026-11-27T21:31:28Z","data":{}}`
	now := time.Now()
	sig, _ := webhook.Sign([]string{secret}, "evt_tsk_1_3", now, []byte(body))
	req := httptest.NewRequest(http.MethodPost, "/hooks", strings.NewReader(body))
	req.Header.Set("webhook-id", "evt_tsk_1_3")
	req.Header.Set("webhook-timestamp", fmt.Sprint(now.Unix()))
	req.Header.Set("webhook-signature", sig)
	receive.ServeHTTP(httptest.NewRecorder(), req)
	// Output: accepted evt_tsk_1_3
}
