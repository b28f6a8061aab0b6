package client_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/api"
	"github.com/videoai/mediatasks/shared/app"
	"github.com/videoai/mediatasks/shared/auth"
	"github.com/videoai/mediatasks/shared/blob/tieredblob"
	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/platform"
	"github.com/videoai/mediatasks/shared/queue/sqlitequeue"
	"github.com/videoai/mediatasks/shared/sqlitedb"
	"github.com/videoai/mediatasks/shared/store/sqlitestore"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/webhook"
	"github.com/videoai/mediatasks/shared/workflow/local"
)

// server is a whole platform in process, as `mediatasks serve` wires it:
// SQLite store and queue, tiered blobs, the local engine, fast sims.
type server struct {
	URL string
	Key string // an API key of user "alice"
}

type serverOptions struct {
	// wrap, when set, stands in front of the API (a fault injector).
	wrap func(http.Handler) http.Handler
	// simOptions are every sim provider's options (default: fast).
	simOptions string
}

func newServer(t testing.TB, o serverOptions) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	db, err := sqlitedb.Open(filepath.Join(dir, "mediatasks.db"), sqlitedb.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	deliveries := webhook.NewSignal()
	st, err := sqlitestore.New(ctx, db, sqlitestore.Options{OnDeliveries: deliveries.Notify, CursorKey: bytes.Repeat([]byte("c"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	q, err := sqlitequeue.New(ctx, db, "tasks", sqlitequeue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The listener first: file URLs name its address.
	ts := httptest.NewUnstartedServer(nil)
	blobs, err := tieredblob.New(ctx, db, filepath.Join(dir, "blobs"), tieredblob.Options{BaseURL: "http://" + ts.Listener.Addr().String(), Secret: bytes.Repeat([]byte("s"), 32), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	simOpts := o.simOptions
	if simOpts == "" {
		simOpts = `{"latency_ms":5,"poll_steps":1,"poll_after_ms":20}`
	}
	cfg := config.Default()
	cfg.Providers = []config.Provider{{Name: "sim", Type: "sim", TaskTypes: task.Types, Weight: 1, Options: json.RawMessage(simOpts)}}
	p, err := platform.Build(platform.Adapters{
		Store: sqlitestore.WithQueue{Store: st, Queue: q},
		Tasks: q,
		Blobs: blobs,
		Files: blobs.Handler(),
		Runner: func(d platform.RunnerDeps) (app.Runner, []platform.Service, error) {
			r, err := local.New(ctx, db, local.Options{Actions: d.Actions, Workers: 4, Now: d.Now, Log: d.Log})
			if err != nil {
				return nil, nil, err
			}
			return r, []platform.Service{{Name: "workflow engine", Run: r.Run}}, nil
		},
		NewAPI:               api.New,
		Deliveries:           deliveries,
		Config:               cfg,
		AllowPrivateWebhooks: true,
		Log:                  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	key, rec, err := auth.NewKey("alice", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateAPIKey(ctx, rec); err != nil {
		t.Fatal(err)
	}
	var h http.Handler = p.API
	if o.wrap != nil {
		h = o.wrap(h)
	}
	ts.Config.Handler = h
	ts.Start()
	var wg sync.WaitGroup
	wg.Go(func() { platform.Run(ctx, slog.New(slog.DiscardHandler), p.Services...) })
	t.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
		cancel()
		wg.Wait()
		db.Close()
	})
	return &server{URL: ts.URL, Key: key}
}

// testWAV is a valid WAV file of 0.1 s of silence.
func testWAV() []byte {
	const rate, samples = 8000, 800
	var b bytes.Buffer
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(36+samples*2))
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(1), uint32(rate), uint32(rate * 2), uint16(2), uint16(16)} {
		binary.Write(&b, binary.LittleEndian, v)
	}
	b.WriteString("data")
	binary.Write(&b, binary.LittleEndian, uint32(samples*2))
	b.Write(make([]byte, samples*2))
	return b.Bytes()
}
