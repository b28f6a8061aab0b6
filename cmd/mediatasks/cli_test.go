package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/videoai/mediatasks/shared/auth"
)

func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestParseServeFlagsWinOverEnv(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
		want serveOptions
	}{
		"defaults": {
			want: serveOptions{Addr: "127.0.0.1:8080", Data: "./data"},
		},
		"env": {
			env:  map[string]string{"MEDIATASKS_ADDR": "127.0.0.1:9000", "MEDIATASKS_DATA": "/srv/mt", "MEDIATASKS_CONFIG": "/etc/mt.yaml", "MEDIATASKS_BASE_URL": "https://media.example.com/"},
			want: serveOptions{Addr: "127.0.0.1:9000", Data: "/srv/mt", Config: "/etc/mt.yaml", BaseURL: "https://media.example.com"},
		},
		"flags over env": {
			args: []string{"--addr", "127.0.0.1:0", "--data", "d", "--config", "c.yaml", "--webhook-allow-private", "--base-url", "http://h:1"},
			env:  map[string]string{"MEDIATASKS_ADDR": "127.0.0.1:9000", "MEDIATASKS_DATA": "/srv/mt", "MEDIATASKS_CONFIG": "/etc/mt.yaml"},
			want: serveOptions{Addr: "127.0.0.1:0", Data: "d", Config: "c.yaml", BaseURL: "http://h:1", WebhookAllowPrivate: true},
		},
		"single dash and equals": {
			args: []string{"-addr=[::1]:0", "-data=x"},
			want: serveOptions{Addr: "[::1]:0", Data: "x"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := parseServe(tc.args, envMap(tc.env), &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestRunExitCodes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	badConfig := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badConfig, []byte("limits:\n  prefer_wait_max_seconds: 120\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		args       []string
		env        map[string]string
		code       int
		stdout     string // must contain
		stderr     string // must contain
		noStdout   bool
		dataAbsent string // a folder that must not be made
	}{
		"no command":        {args: nil, code: 2, stderr: "a command is required", noStdout: true},
		"unknown command":   {args: []string{"start"}, code: 2, stderr: `unknown command "start"`, noStdout: true},
		"help":              {args: []string{"help"}, code: 0, stdout: "mediatasks keys create"},
		"version":           {args: []string{"version"}, code: 0, stdout: "mediatasks "},
		"version extra arg": {args: []string{"version", "now"}, code: 2, stderr: "unexpected argument"},
		"serve help":        {args: []string{"serve", "-h"}, code: 0, stdout: "MEDIATASKS_JWT_SECRET"},
		"serve bad flag":    {args: []string{"serve", "--nope"}, code: 2, stderr: "flag provided but not defined"},
		"serve empty addr":  {args: []string{"serve", "--addr", ""}, code: 2, stderr: "--addr"},
		"serve bad base":    {args: []string{"serve", "--base-url", "ftp://x"}, code: 2, stderr: "--base-url"},
		"serve bad config": {
			args: []string{"serve", "--addr", "127.0.0.1:0", "--data", filepath.Join(dir, "never1"), "--config", badConfig},
			code: 2, stderr: "limits.prefer_wait_max_seconds: must be between 1 and 60", dataAbsent: filepath.Join(dir, "never1"),
		},
		"serve bad log level": {
			args: []string{"serve", "--addr", "127.0.0.1:0", "--data", filepath.Join(dir, "never2")},
			env:  map[string]string{"MEDIATASKS_LOG_LEVEL": "loud"},
			code: 2, stderr: "MEDIATASKS_LOG_LEVEL", dataAbsent: filepath.Join(dir, "never2"),
		},
		"keys create bad user": {
			args: []string{"keys", "create", "--data", filepath.Join(dir, "never3"), "--user", "bad user"},
			code: 2, stderr: "user name", noStdout: true, dataAbsent: filepath.Join(dir, "never3"),
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tc.args, envMap(tc.env), &stdout, &stderr)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr: %s", code, tc.code, stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.stdout) {
				t.Errorf("stdout %q does not contain %q", stdout.String(), tc.stdout)
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tc.stderr)
			}
			if tc.noStdout && stdout.Len() > 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
			if tc.dataAbsent != "" {
				if _, err := os.Stat(tc.dataAbsent); err == nil {
					t.Errorf("%s was made", tc.dataAbsent)
				}
			}
		})
	}
}

func TestServeAddressInUseExits1(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"serve", "--addr", ln.Addr().String(), "--data", t.TempDir()}, envMap(nil), &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "listen on "+ln.Addr().String()) {
		t.Errorf("exit %d, stderr %q; want 1 and the address named", code, stderr.String())
	}
}

func TestValidUserName(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		user string
		ok   bool
	}{
		"plain":       {"alice", true},
		"email":       {"alice@example.com", true},
		"all allowed": {"A-z_0.9@x", true},
		"one char":    {"a", true},
		"64 chars":    {strings.Repeat("x", 64), true},
		"empty":       {"", false},
		"65 chars":    {strings.Repeat("x", 65), false},
		"space":       {"a b", false},
		"slash":       {"a/b", false},
		"colon":       {"a:b", false},
		"newline":     {"a\n", false},
		"non-ascii":   {"ålice", false},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if err := validUserName(tc.user); (err == nil) != tc.ok {
				t.Errorf("validUserName(%q) = %v, want ok=%v", tc.user, err, tc.ok)
			}
		})
	}
}

func TestKeysCreateInProcess(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "new")
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"keys", "create", "--data", data, "--user", "bob"}, envMap(nil), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	key := strings.TrimSuffix(stdout.String(), "\n")
	if !strings.HasPrefix(key, auth.KeyPrefix) || strings.Contains(key, "\n") {
		t.Fatalf("stdout %q, want one key", stdout.String())
	}
	if stderr.Len() > 0 {
		t.Errorf("stderr %q, want nothing", stderr.String())
	}
	d, err := openData(t.Context(), data, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rec, err := d.store.APIKeyByHash(t.Context(), auth.HashKey(key))
	if err != nil || rec.UserID != "bob" {
		t.Errorf("stored key: %+v %v", rec, err)
	}
}

func TestSigningKeyIsMadeOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// Concurrent first calls agree on one key.
	var wg sync.WaitGroup
	keys := make([][]byte, 8)
	errs := make([]error, len(keys))
	for i := range keys {
		wg.Go(func() { keys[i], errs[i] = signingKey(dir) })
	}
	wg.Wait()
	for i := range keys {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if len(keys[i]) != signingKeySize || !bytes.Equal(keys[i], keys[0]) {
			t.Fatalf("call %d got a different key", i)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, signingKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %o, want 600", fi.Mode().Perm())
	}
	again, err := signingKey(dir)
	if err != nil || !bytes.Equal(again, keys[0]) {
		t.Errorf("a later call got another key (%v)", err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}

	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, signingKeyFile), []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := signingKey(bad); err == nil {
		t.Error("a truncated signing key was accepted")
	}
}

func TestEnsureKeyMakesOneKeyOnce(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	d, err := openData(t.Context(), data, "NORMAL", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var logs bytes.Buffer
	log, _ := newLogger(&logs, "")
	if err := ensureKey(t.Context(), d.store, data, log); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(data, apiKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(string(b))
	rec, err := d.store.APIKeyByHash(t.Context(), auth.HashKey(key))
	if err != nil || rec.UserID != firstKeyUser {
		t.Fatalf("stored key: %+v %v", rec, err)
	}
	if strings.Contains(logs.String(), key) || !strings.Contains(logs.String(), apiKeyFile) {
		t.Errorf("log %q: want the path, never the key", logs.String())
	}
	if err := ensureKey(t.Context(), d.store, data, log); err != nil {
		t.Fatal(err)
	}
	if n, _ := d.store.CountAPIKeys(t.Context()); n != 1 {
		t.Errorf("%d keys after a second call, want 1", n)
	}
}

// serve in process: the same path as the binary, under the race detector.
func TestServeInProcess(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	urls := make(chan string, 1)
	opts, err := parseServe([]string{"--addr", "127.0.0.1:0", "--data", data}, envMap(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	opts.ready = func(u string) { urls <- u }
	var logs lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, opts, envMap(map[string]string{"MEDIATASKS_JWT_SECRET": "s3cret-for-tests-only-0123456789"}), &logs)
	}()
	var base string
	select {
	case base = <-urls:
	case err := <-done:
		t.Fatalf("serve returned early: %v\n%s", err, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not listen")
	}
	c := newClient(t, base, readKeyFile(t, data))
	var created taskAnswer
	c.mustDo("POST", "/api/v1/media/subtitles/generate", map[string]any{"audio_url": "https://example.com/a.mp3", "format": "srt"}, http.StatusAccepted, &created)
	c.mustDo("GET", "/api/v1/media/tasks/"+created.ID, nil, http.StatusOK, nil)
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !regexp.MustCompile(`(?m)^mediatasks_data_folder_bytes [1-9][0-9.e+]*$`).Match(metrics) {
		t.Errorf("/metrics: %d, no nonzero mediatasks_data_folder_bytes", resp.StatusCode)
	}
	// An upload is served back at its signed URL, on this server's
	// address, without a bearer token.
	sound := "RIFF\x24\x00\x00\x00WAVEfmt "
	req, err := http.NewRequestWithContext(t.Context(), "POST", base+"/api/v1/media/uploads", strings.NewReader(sound))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", "audio/wav")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var up struct {
		URL string `json:"url"`
	}
	err = json.NewDecoder(resp.Body).Decode(&up)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		t.Fatalf("upload: %d %v", resp.StatusCode, err)
	}
	if !strings.HasPrefix(up.URL, base+"/files/") {
		t.Fatalf("upload url %q, want under %s/files/", up.URL, base)
	}
	resp, err = http.Get(up.URL)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(got) != sound {
		t.Errorf("GET signed url: %d %q", resp.StatusCode, got)
	}

	// MEDIATASKS_JWT_SECRET turns JWTs on; the subject is the user.
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Subject: "jwt-user", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour)),
	}).SignedString([]byte("s3cret-for-tests-only-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	jc := newClient(t, base, token)
	jc.mustDo("GET", "/api/v1/media/tasks", nil, http.StatusOK, nil)
	jc.mustDo("GET", "/api/v1/media/tasks/"+created.ID, nil, http.StatusNotFound, nil)

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop within 10 s")
	}
	if !strings.Contains(logs.String(), `"msg":"stopped"`) {
		t.Errorf("no stop in the log:\n%s", logs.String())
	}
}
