package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/callback"
	"github.com/videoai/mediatasks/shared/provider/assemblyai/assemblyaifake"
	"github.com/videoai/mediatasks/shared/provider/fal/falfake"
	"github.com/videoai/mediatasks/shared/provider/openai/openaifake"
	"github.com/videoai/mediatasks/shared/provider/piapi/piapifake"
	"github.com/videoai/mediatasks/shared/provider/replicate/replicatefake"
	"github.com/videoai/mediatasks/shared/provider/sim"
)

// freeAddr is a loopback address with a free port: the server's public
// base URL must be known before it starts.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// serveCallbacks runs `mediatasks serve` on addr, its public base URL,
// with one video provider: a sim with simOptions that calls back.
func serveCallbacks(t *testing.T, data, addr, simOptions, fallback string) (*server, *client) {
	t.Helper()
	cfg := filepath.Join(filepath.Dir(data), "config.yaml")
	conf := fmt.Sprintf(`providers:
  - name: calls
    type: sim
    task_types: [video_generation]
    options: %s
workflow:
  callback_fallback: %s
server:
  public_base_url: http://%s
`, simOptions, fallback, addr)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, data, nil, "--config", cfg, "--addr", addr)
	return s, newClient(t, s.URL, readKeyFile(t, data))
}

func submitVideo(t *testing.T, c *client) string {
	t.Helper()
	var created hostedAnswer
	c.mustDo("POST", "/api/v1/media/videos/generate", map[string]any{"prompt": "waves on a beach", "duration_seconds": 5}, http.StatusAccepted, &created)
	return created.ID
}

// The receiver's log lines of a callback that ended a wait, or came
// before it.
const (
	resumedLog  = "callback resumed the workflow"
	recordedLog = "callback before its wait: recorded"
)

// With a public base URL, a video job whose provider calls back waits for
// the call: the task completes on it, long before the fallback poll (an
// hour here) would have.
func TestVideoTaskCompletesOnItsProvidersCallback(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, c := serveCallbacks(t, filepath.Join(dir, "data"), freeAddr(t), `{callback_after_ms: 200, seed: 1}`, "1h")
	got := c.wait(submitVideo(t, c))
	if got.Status != "completed" || got.OutputData == nil || len(got.OutputData.Files) == 0 {
		t.Fatalf("task %+v (error %+v), want completed with its video", got, got.Error)
	}
	// The call resumes the wait, or, when it beats the wait's arming,
	// is recorded and ends the wait at once: either way the callback, not
	// the fallback poll, ended it.
	if log := s.stderr.String(); !strings.Contains(log, resumedLog) && !strings.Contains(log, recordedLog) {
		t.Fatalf("the task completed without its callback being received:\n%s", log)
	}
}

// A callback that never comes: the fallback poll (1 s here) finds the job
// ended and completes the task.
func TestLostCallbackIsRecoveredByTheFallbackPoll(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, c := serveCallbacks(t, filepath.Join(dir, "data"), freeAddr(t), `{callback_after_ms: 0, callback_lost: true, seed: 1}`, "1s")
	got := c.wait(submitVideo(t, c))
	if got.Status != "completed" {
		t.Fatalf("task %+v (error %+v), want completed by the fallback poll", got, got.Error)
	}
	if log := s.stderr.String(); strings.Contains(log, resumedLog) || strings.Contains(log, recordedLog) {
		t.Fatal("a callback was received, though the provider sent none")
	}
}

// The wait for a callback is stored: the server killed (kill -9) while a
// task waits, then started again on the same data folder, takes the
// provider's callback and completes the task (the fallback poll is an
// hour away, and the provider's own call died with the first process).
func TestCallbackWaitSurvivesKill9(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data, addr := filepath.Join(dir, "data"), freeAddr(t)
	s, c := serveCallbacks(t, data, addr, `{callback_after_ms: 600000, seed: 1}`, "1h")
	id := submitVideo(t, c)
	job := armedJob(t, data, id)
	s.kill9()

	_, c = serveCallbacks(t, data, addr, `{callback_after_ms: 600000, seed: 1}`, "1h")
	key, err := os.ReadFile(filepath.Join(data, signingKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := callback.KeysFrom(key)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(sim.CallbackEvent{Job: job, Status: "succeeded"})
	req, err := http.NewRequest("POST", keys.URL("http://"+addr, "calls", id), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(sim.SignatureHeader, sim.Sign(keys.ProviderSecret("calls"), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var answer struct{ Outcome string }
	err = json.NewDecoder(resp.Body).Decode(&answer)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil || answer.Outcome != string(callback.Resumed) {
		t.Fatalf("the callback after the restart: %d %+v (%v), want 200 resumed", resp.StatusCode, answer, err)
	}
	if got := c.wait(id); got.Status != "completed" {
		t.Fatalf("task %+v (error %+v), want completed", got, got.Error)
	}
}

// armedJob waits until the task's workflow waits for its job's callback
// (its wait is armed, with a token) and returns the job, read from the
// server's database as another reader of the file.
func armedJob(t *testing.T, data, taskID string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, dbFile)+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var job string
		err := db.QueryRowContext(context.Background(), `SELECT job FROM callback_waits WHERE task_id = ? AND token IS NOT NULL`, taskID).Scan(&job)
		if err == nil {
			return job
		}
		if time.Now().After(deadline) {
			t.Fatalf("the task's callback wait was not armed within 60 s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The hosted providers' callbacks plug into the same path: Replicate,
// fal, PiAPI and AssemblyAI (their fakes) are given the callback URL, call
// it as each does (Standard Webhooks, ED25519 signatures, a secret sent
// back), and each task completes on its call: the fallback poll is an
// hour away. A fake calls back as soon as it has answered the create, so
// a call may come before the wait: either way the receiver takes it.
func TestHostedProvidersCompleteOnTheirCallbacks(t *testing.T) {
	t.Parallel()
	rep, fal, pi, aai := replicatefake.New(), falfake.New(), piapifake.New(), assemblyaifake.New()
	t.Cleanup(func() { rep.Close(); fal.Close(); pi.Close(); aai.Close() })
	dir := t.TempDir()
	data, addr := filepath.Join(dir, "data"), freeAddr(t)
	cfg := filepath.Join(dir, "config.yaml")
	conf := fmt.Sprintf(`providers:
  - name: replicate-kling
    type: replicate
    task_types: [video_generation]
    options: {model: kwaivgi/kling-v1.6-standard, base_url: %q, api_key: %q, allow_private: true}
  - name: fal-kling
    type: fal
    task_types: [video_generation]
    weight: 0
    options: {model: fal-ai/kling-video/v2.1/master/text-to-video, base_url: %q, api_key: %q, webhook_jwks_url: %q, allow_private: true}
  - name: piapi
    type: piapi
    task_types: [video_generation]
    weight: 0
    options: {video_model: kling, base_url: %q, api_key: %q, allow_private: true}
  - name: assemblyai
    type: assemblyai
    task_types: [audio_transcription]
    options: {base_url: %q, api_key: %q, allow_private: true}
workflow:
  callback_fallback: 1h
server:
  public_base_url: http://%s
`, rep.URL(), replicatefake.Key, fal.URL(), falfake.Key, fal.JWKSURL(), pi.URL(), piapifake.Key, aai.URL(), assemblyaifake.Key, addr)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, data, nil, "--config", cfg, "--addr", addr)
	c := newClient(t, s.URL, readKeyFile(t, data))
	submit := func(path string, body map[string]any) string {
		t.Helper()
		var created hostedAnswer
		c.mustDo("POST", "/api/v1/media/"+path, body, http.StatusAccepted, &created)
		return created.ID
	}
	ids := map[string]string{
		"replicate-kling": submit("videos/generate", map[string]any{"prompt": "waves at dusk", "duration_seconds": 5, "provider": "replicate-kling"}),
		"fal-kling":       submit("videos/generate", map[string]any{"prompt": "waves at dusk", "duration_seconds": 5, "provider": "fal-kling"}),
		"piapi":           submit("videos/generate", map[string]any{"prompt": "waves at dusk", "duration_seconds": 5, "provider": "piapi"}),
		"assemblyai":      submit("audio/transcribe", map[string]any{"upload_id": c.upload(openaifake.WAV(2), "audio/wav"), "language": "en"}),
	}
	for name, id := range ids {
		got := c.wait(id)
		if got.Status != "completed" || got.Provider == nil || *got.Provider != name || got.OutputData == nil || len(got.OutputData.Files) == 0 {
			t.Errorf("%s: task %+v (error %+v), want completed with its files", name, got, got.Error)
		}
	}
	received := map[string]bool{} // task ids whose callback ended (or came before) its wait
	for _, line := range strings.Split(s.stderr.String(), "\n") {
		var l struct {
			Msg    string `json:"msg"`
			TaskID string `json:"task_id"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && (l.Msg == resumedLog || l.Msg == recordedLog) {
			received[l.TaskID] = true
		}
	}
	for name, id := range ids {
		if !received[id] {
			t.Errorf("%s: the task completed without its callback being received", name)
		}
	}
}
