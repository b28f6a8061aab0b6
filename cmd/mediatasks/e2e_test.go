package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/auth"
	"github.com/videoai/mediatasks/shared/sqlitedb"
	"github.com/videoai/mediatasks/shared/store/sqlitestore"
)

// taskAnswer is the part of a task answer the tests read.
type taskAnswer struct {
	ID       string `json:"id"`
	TaskType string `json:"task_type"`
	Status   string `json:"status"`
	Priority string `json:"priority"`
}

func TestServeFreshDataFolderMakesFirstKey(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data") // does not exist yet
	srv := startServer(t, data, nil)

	fi, err := os.Stat(data)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o700 {
		t.Errorf("data folder mode %o, want 700", m)
	}
	key := readKeyFile(t, data)
	sk, err := os.Stat(filepath.Join(data, signingKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if sk.Mode().Perm() != 0o600 || sk.Size() != signingKeySize {
		t.Errorf("signing key: mode %o size %d, want 600 and %d", sk.Mode().Perm(), sk.Size(), signingKeySize)
	}
	for _, f := range []string{dbFile, dbFile + "-wal"} {
		if fi, err := os.Stat(filepath.Join(data, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, want mode 600", f, err)
		}
	}
	if log := srv.stderr.String(); strings.Contains(log, key) {
		t.Error("the log shows the API key itself")
	} else if !strings.Contains(log, filepath.Join(data, apiKeyFile)) {
		t.Errorf("the log does not say where the key is:\n%s", log)
	}

	c := newClient(t, srv.URL, key)
	var page struct {
		Tasks []taskAnswer `json:"tasks"`
	}
	c.mustDo("GET", "/api/v1/media/tasks", nil, http.StatusOK, &page)
	newClient(t, srv.URL, "").mustDo("GET", "/api/v1/media/tasks", nil, http.StatusUnauthorized, nil)
	newClient(t, srv.URL, "mt_0000").mustDo("GET", "/api/v1/media/tasks", nil, http.StatusUnauthorized, nil)
	newClient(t, srv.URL, "").mustDo("GET", "/api/v1/media/health", nil, http.StatusOK, nil)
	// The dashboard is served beside the API, without credentials.
	for path, want := range map[string]string{"/": "<title>mediatasks</title>", "/app.js": "/api/v1/media"} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d, body without %q", path, res.StatusCode, want)
		}
	}

	var created taskAnswer
	c.mustDo("POST", "/api/v1/media/images/generate", map[string]any{"prompt": "a red kite"}, http.StatusAccepted, &created)

	if code, _ := srv.stop(syscall.SIGTERM, 15*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}

	// A restart keeps the key (no new one is made) and the task.
	srv2 := startServer(t, data, nil)
	if again := readKeyFile(t, data); again != key {
		t.Error("a restart replaced the API key file")
	}
	// The task is there, and its workflow, cut short by the stop, goes on.
	var got taskAnswer
	c2 := newClient(t, srv2.URL, key)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		c2.mustDo("GET", "/api/v1/media/tasks/"+created.ID, nil, http.StatusOK, &got)
		if terminal(got.Status) || time.Now().After(deadline) {
			break
		}
	}
	if got.Status != "completed" || got.TaskType != "image_generation" {
		t.Errorf("task after restart: %+v, want it completed", got)
	}
	if code, _ := srv2.stop(syscall.SIGINT, 15*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGINT, want 0", code)
	}
}

func TestKeysCreate(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	srv := startServer(t, data, nil)
	local := readKeyFile(t, data)

	// Made while the server runs: the server sees it at once.
	stdout, stderr, code := runCmd(t, nil, "keys", "create", "--data", data, "--user", "alice@example.com")
	if code != 0 {
		t.Fatalf("keys create: exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "mt_") || !strings.HasSuffix(stdout, "\n") {
		t.Fatalf("keys create printed %q, want one key on one line", stdout)
	}
	key := lines[0]

	alice := newClient(t, srv.URL, key)
	var created taskAnswer
	alice.mustDo("POST", "/api/v1/media/audio/transcribe", map[string]any{"audio_url": "https://example.com/talk.mp3"}, http.StatusAccepted, &created)
	alice.mustDo("GET", "/api/v1/media/tasks/"+created.ID, nil, http.StatusOK, nil)
	// Another user's key does not see alice's task.
	newClient(t, srv.URL, local).mustDo("GET", "/api/v1/media/tasks/"+created.ID, nil, http.StatusNotFound, nil)

	if code, _ := srv.stop(syscall.SIGTERM, 15*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}

	// Only the hash is stored: no database file holds the key's bytes.
	files, err := filepath.Glob(filepath.Join(data, dbFile+"*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("database files: %v %v", files, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{key, local, strings.TrimPrefix(key, auth.KeyPrefix)} {
			if bytes.Contains(b, []byte(k)) {
				t.Errorf("%s holds a plaintext API key", f)
			}
		}
	}
	// ... and the hash finds alice.
	db, err := sqlitedb.Open(filepath.Join(data, dbFile), sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := sqlitestore.New(t.Context(), db, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := st.APIKeyByHash(t.Context(), auth.HashKey(key))
	if err != nil || rec.UserID != "alice@example.com" {
		t.Errorf("stored key = %+v, %v; want alice's", rec, err)
	}
	if n, err := st.CountAPIKeys(t.Context()); err != nil || n != 2 {
		t.Errorf("CountAPIKeys = %d, %v; want 2", n, err)
	}
}

func TestKeysCreateRefusesBadInput(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	for name, args := range map[string][]string{
		"user with space":    {"keys", "create", "--data", data, "--user", "a b"},
		"user too long":      {"keys", "create", "--data", data, "--user", strings.Repeat("a", 65)},
		"user empty":         {"keys", "create", "--data", data, "--user", ""},
		"user missing":       {"keys", "create", "--data", data},
		"user with slash":    {"keys", "create", "--data", data, "--user", "a/b"},
		"data missing":       {"keys", "create", "--user", "bob"},
		"unknown flag":       {"keys", "create", "--data", data, "--user", "bob", "--admin"},
		"no subcommand":      {"keys"},
		"unknown subcommand": {"keys", "delete"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := runCmd(t, nil, args...)
			if code != 2 {
				t.Errorf("exit %d, want 2 (stderr %q)", code, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			if stderr == "" {
				t.Error("no message on stderr")
			}
		})
	}
}

func TestInvalidConfigExits2NamingTheField(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		config string
		want   string
	}{
		"out of range":    {"limits:\n  batch_max: 0\n", "limits.batch_max: must be between 1 and 1000"},
		"unknown field":   {"limits:\n  batch_size: 10\n", "limits.batch_size: unknown field"},
		"bad task type":   {"providers:\n  - {name: a, type: sim, task_types: [image_generation]}\n  - {name: b, type: sim, task_types: [x]}\n", `providers[1].task_types[0]: unknown task type "x"`},
		"bad duration":    {"webhooks:\n  retry_schedule: [5s, later]\n", "webhooks.retry_schedule[1]"},
		"bad synchronous": {"storage:\n  synchronous: \"OFF\"\n", "storage.synchronous"},
		"bad template":    {"prompt:\n  templates:\n    - {name: t, task_types: [image_generation], prompt: \"{prompt} {nope}\"}\n", "prompt.templates[0].prompt"},
		"bad llm type":    {"prompt:\n  llm: {type: gpt, model: m}\n", "prompt.llm.type"},
		"bad cache ttl":   {"prompt:\n  cache_ttl: soon\n", "prompt.cache_ttl"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yaml")
			if err := os.WriteFile(path, []byte(tc.config), 0o600); err != nil {
				t.Fatal(err)
			}
			data := filepath.Join(dir, "data-"+strings.ReplaceAll(name, " ", "-"))
			_, stderr, code := runCmd(t, nil, "serve", "--addr", "127.0.0.1:0", "--data", data, "--config", path)
			if code != 2 {
				t.Errorf("exit %d, want 2; stderr:\n%s", code, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr does not name the field (%q):\n%s", tc.want, stderr)
			}
			// The config is read before anything is made.
			if _, err := os.Stat(data); err == nil {
				t.Error("the data folder was made despite the bad config")
			}
		})
	}
	t.Run("config from the environment", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(dir, "env.yaml")
		if err := os.WriteFile(path, []byte("queue: {max_receives: -1}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, stderr, code := runCmd(t, []string{"MEDIATASKS_CONFIG=" + path, "MEDIATASKS_ADDR=127.0.0.1:0", "MEDIATASKS_DATA=" + filepath.Join(dir, "env-data")}, "serve")
		if code != 2 || !strings.Contains(stderr, "queue.max_receives") {
			t.Errorf("exit %d, stderr:\n%s", code, stderr)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		t.Parallel()
		_, stderr, code := runCmd(t, nil, "serve", "--addr", "127.0.0.1:0", "--data", filepath.Join(dir, "d"), "--config", filepath.Join(dir, "none.yaml"))
		if code != 2 || !strings.Contains(stderr, "none.yaml") {
			t.Errorf("exit %d, stderr:\n%s", code, stderr)
		}
	})
}

func TestBinaryUsage(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		args     []string
		code     int
		inStdout string
	}{
		"version":           {[]string{"version"}, 0, "mediatasks "},
		"help":              {[]string{"--help"}, 0, "mediatasks serve"},
		"serve help":        {[]string{"serve", "--help"}, 0, "-webhook-allow-private"},
		"keys help":         {[]string{"keys", "--help"}, 0, "keys create"},
		"keys create help":  {[]string{"keys", "create", "--help"}, 0, "-user"},
		"version help":      {[]string{"version", "--help"}, 0, "mediatasks version"},
		"no command":        {nil, 2, ""},
		"unknown command":   {[]string{"frobnicate"}, 2, ""},
		"serve bad flag":    {[]string{"serve", "--port", "80"}, 2, ""},
		"serve bad addr":    {[]string{"serve", "--addr", "no-port"}, 2, ""},
		"serve extra arg":   {[]string{"serve", "now"}, 2, ""},
		"serve bad log env": {[]string{"serve", "--addr", "127.0.0.1:0", "--data", "/nonexistent/never"}, 2, ""},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var env []string
			if name == "serve bad log env" {
				env = []string{"MEDIATASKS_LOG_LEVEL=chatty"}
			}
			stdout, stderr, code := runCmd(t, env, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr)
			}
			if !strings.Contains(stdout, tc.inStdout) {
				t.Errorf("stdout %q does not contain %q", stdout, tc.inStdout)
			}
		})
	}
}

// An open event stream must not hold the shutdown: SIGTERM ends the
// process, with exit code 0, within 10 s.
func TestSIGTERMWithOpenEventStream(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	srv := startServer(t, data, nil)
	key := readKeyFile(t, data)
	c := newClient(t, srv.URL, key)
	var created taskAnswer
	c.mustDo("POST", "/api/v1/media/videos/generate", map[string]any{"prompt": "waves", "priority": "high"}, http.StatusAccepted, &created)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/media/tasks/"+created.ID+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// The stream is live: its first event (the task was queued) arrives.
	r := bufio.NewReader(resp.Body)
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("read the stream: %q %v", line, err)
	}
	streamEnded := make(chan struct{})
	go func() {
		defer close(streamEnded)
		for range 10_000 {
			if _, err := r.ReadString('\n'); err != nil {
				return
			}
		}
	}()

	code, took := srv.stop(syscall.SIGTERM, 15*time.Second)
	if code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	if took >= 10*time.Second {
		t.Errorf("exit took %s with a stream open, want under 10 s", took)
	}
	select {
	case <-streamEnded:
	case <-time.After(5 * time.Second):
		t.Error("the event stream stayed open after the server exited")
	}
}
