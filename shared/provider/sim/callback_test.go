package sim_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/sim"
	"github.com/videoai/mediatasks/shared/task"
)

// With callback_after_ms the sim calls back: it posts the job's end,
// signed with the callback's secret, which its VerifyCallback accepts and
// no other secret does; its Poll then answers the result.
func TestSimCallsBack(t *testing.T) {
	t.Parallel()
	type call struct {
		header http.Header
		body   []byte
	}
	calls := make(chan call, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		calls <- call{r.Header.Clone(), b}
	}))
	defer srv.Close()
	p := newSim(t, `{"callback_after_ms": 0, "seed": 1}`)
	caller, ok := p.(provider.Caller)
	if !ok {
		t.Fatal("a sim with callback_after_ms is not a provider.Caller")
	}
	if _, ok := newSim(t, `{"seed": 1}`).(provider.Caller); ok {
		t.Fatal("a plain sim claims to call back")
	}
	req := request(task.TypeVideoGeneration, `{"prompt":"waves","duration_seconds":5}`)
	req.Callback = &provider.Callback{URL: srv.URL + "/cb?task=x", Secret: "s3cret"}
	resp, err := p.Start(t.Context(), req)
	if err != nil || resp.Job == "" {
		t.Fatalf("start: %+v, %v", resp, err)
	}
	c := <-calls
	job, final, err := caller.VerifyCallback(t.Context(), c.header, c.body, "s3cret")
	if err != nil || job != resp.Job || !final {
		t.Fatalf("verify: job %q final %v (%v), want %q final", job, final, err, resp.Job)
	}
	if _, _, err := caller.VerifyCallback(t.Context(), c.header, c.body, "another"); !errors.Is(err, provider.ErrBadCallback) {
		t.Fatalf("another secret: %v, want ErrBadCallback", err)
	}
	got, err := p.Poll(t.Context(), req, resp.Job)
	if err != nil || got.Result == nil {
		t.Fatalf("poll after the callback: %+v, %v", got, err)
	}
}

func TestSimCallbackLostNeedsADelay(t *testing.T) {
	t.Parallel()
	if _, err := sim.New(configOf(`{"callback_lost": true}`)); err == nil {
		t.Fatal("callback_lost without callback_after_ms was accepted")
	}
}

func configOf(opts string) config.Provider {
	return config.Provider{Name: "sim-test", Type: sim.Type, TaskTypes: task.Types, Weight: 1, Options: json.RawMessage(opts)}
}
