package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/videoai/mediatasks/client"
	"github.com/videoai/mediatasks/shared/webhook"
)

// Submit an image and wait for it, following its event stream.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := client.New("http://127.0.0.1:8080", os.Getenv("MT_KEY"))
	t, err := c.SubmitImage(ctx, client.ImageRequest{Prompt: "a lighthouse at dawn, oil painting", Size: "1024x1024"})
	if err != nil {
		fmt.Println(err)
		return
	}
	t, err = c.Wait(ctx, t.ID)
	if err != nil {
		fmt.Println(err)
		return
	}
	if t.Status != client.StatusCompleted {
		fmt.Println("task", t.ID, t.Status, t.Error.Message)
		return
	}
	for _, f := range t.Output.Files {
		fmt.Println(f.URL, f.ContentType, f.SizeBytes)
	}
}

// Transcribe a file: upload it, then submit its upload id.
func ExampleClient_UploadFile() {
	ctx := context.Background()
	c := client.New("http://127.0.0.1:8080", os.Getenv("MT_KEY"))
	up, err := c.UploadFile(ctx, "talk.wav")
	if err != nil {
		fmt.Println(err)
		return
	}
	t, err := c.SubmitTranscription(ctx, client.TranscriptionRequest{UploadID: up.ID, Language: "en"})
	if err != nil {
		fmt.Println(err)
		return
	}
	if t, err = c.Wait(ctx, t.ID); err == nil && t.Output != nil {
		fmt.Println(t.Output.Text)
	}
}

// Submit an image, have the answer wait up to 30 s for the task to end,
// and save its files.
func ExampleClient_DownloadFile() {
	ctx := context.Background()
	c := client.New("http://127.0.0.1:8080", os.Getenv("MT_KEY"))
	t, err := c.SubmitImage(client.WithPreferWait(ctx, 30*time.Second), client.ImageRequest{Prompt: "a red fox in snow"})
	if err != nil {
		fmt.Println(err)
		return
	}
	if t.Status != client.StatusCompleted {
		if t, err = c.Wait(ctx, t.ID); err != nil || t.Status != client.StatusCompleted {
			fmt.Println("not completed:", t.Status, err)
			return
		}
	}
	for i, f := range t.Output.Files {
		name := fmt.Sprintf("%s-%d.png", t.ID, i)
		if _, err := c.DownloadFile(ctx, f.URL, name); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("saved", name)
	}
}

// List the failed tasks, newest first: the iterator reads the next page
// when the loop needs it.
func ExampleClient_ListTasks() {
	ctx := context.Background()
	c := client.New("http://127.0.0.1:8080", os.Getenv("MT_KEY"))
	for t, err := range c.ListTasks(ctx, client.TaskFilter{Status: client.StatusFailed, Limit: 100}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(t.ID, t.Error.Code)
	}
}

// A refused request is a *client.Problem naming the fields at fault.
func ExampleProblem_Field() {
	// A stand-in for the server, answering as it does.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"type":"urn:mediatasks:problem:invalid-request","title":"Bad Request","status":400,
			"detail":"size: must be one of 256x256, 512x512, 1024x1024, 1792x1024 or 1024x1792",
			"errors":[{"field":"size","message":"must be one of 256x256, 512x512, 1024x1024, 1792x1024 or 1024x1792"}]}`)
	}))
	defer srv.Close()

	c := client.New(srv.URL, "mt_key")
	_, err := c.SubmitImage(context.Background(), client.ImageRequest{Prompt: "a fox", Size: "3x3"})
	var p *client.Problem
	if errors.As(err, &p) {
		msg, _ := p.Field("size")
		fmt.Println(p.Status, "size", msg)
	}
	// Output: 400 size must be one of 256x256, 512x512, 1024x1024, 1792x1024 or 1024x1792
}

// A webhook receiver checks each request with the secret from
// WebhookSecret before trusting it.
func ExampleVerifyWebhook() {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	receive := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
			return
		}
		ev, err := client.VerifyWebhook(secret, r.Header, body)
		if err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		fmt.Println("accepted", ev.ID, ev.EventType)
		w.WriteHeader(http.StatusNoContent)
	})

	// What mediatasks sends, signed now.
	body := `{"id":"evt_1","event_type":"task.completed","created_at":"2026-11-27T21:31:28Z","data":{}}`
	now := time.Now()
	sig, _ := webhook.Sign([]string{secret}, "evt_1", now, []byte(body))
	req := httptest.NewRequest(http.MethodPost, "/hooks", strings.NewReader(body))
	req.Header.Set("webhook-id", "evt_1")
	req.Header.Set("webhook-timestamp", fmt.Sprint(now.Unix()))
	req.Header.Set("webhook-signature", sig)
	receive.ServeHTTP(httptest.NewRecorder(), req)

	req.Header.Set("webhook-signature", "v1,AAAA")
	rec := httptest.NewRecorder()
	receive.ServeHTTP(rec, req)
	fmt.Println(rec.Code)
	// Output:
	// accepted evt_1 task.completed
	// 401
}
