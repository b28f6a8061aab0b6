package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The end-to-end tests run the real binary, built once per test run.
var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(floodEnv); spec != "" {
		os.Exit(flood(spec)) // this process is a flood's client (flood_test.go)
	}
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// binary returns the path of the mediatasks binary built from this package.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "mediatasks-bin-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "mediatasks")
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", binPath, ".")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// lockedBuffer collects a process's output for reading while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// server is a running `mediatasks serve`.
type server struct {
	t      *testing.T
	cmd    *exec.Cmd
	URL    string
	stderr *lockedBuffer
	exited chan struct{} // closed once the process has exited
	err    error         // Wait's result, after exited
}

// startServer runs `mediatasks serve --addr 127.0.0.1:0 --data data args...`
// and waits until it listens.
func startServer(t *testing.T, data string, env []string, args ...string) *server {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"serve", "--addr", "127.0.0.1:0", "--data", data}, args...)...)
	cmd.Env = append(cleanEnv(), env...)
	pr, pw := io.Pipe()
	s := &server{t: t, cmd: cmd, stderr: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = io.MultiWriter(s.stderr, pw)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.err = cmd.Wait()
		pw.Close()
		close(s.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			cmd.Process.Kill()
			<-s.exited
		}
		if t.Failed() {
			t.Logf("server log:\n%s", s.stderr.String())
		}
	})
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var line struct{ Msg string }
			if json.Unmarshal(sc.Bytes(), &line) == nil {
				if u, ok := strings.CutPrefix(line.Msg, "listening on "); ok {
					select {
					case listening <- u:
					default:
					}
				}
			}
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case u := <-listening:
		s.URL = u
	case <-s.exited:
		t.Fatalf("server exited before listening: %v\n%s", s.err, s.stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("server did not listen within 60 s:\n%s", s.stderr.String())
	}
	if !strings.HasPrefix(s.URL, "http://127.0.0.1:") {
		t.Fatalf("listening on %q, want http://127.0.0.1:PORT", s.URL)
	}
	return s
}

// cleanEnv is the test's environment without the server's variables, so
// that a developer's settings do not leak into the tests.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MEDIATASKS_") {
			env = append(env, kv)
		}
	}
	return env
}

// signal sends sig and waits up to d for the exit; it returns the exit
// code and how long the exit took.
func (s *server) stop(sig syscall.Signal, d time.Duration) (int, time.Duration) {
	s.t.Helper()
	start := time.Now()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signal %v: %v", sig, err)
	}
	select {
	case <-s.exited:
	case <-time.After(d):
		s.t.Fatalf("server did not exit within %s of %v", d, sig)
	}
	return exitCode(s.err), time.Since(start)
}

// kill9 kills the server at once, as a crash would.
func (s *server) kill9() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		s.t.Fatalf("kill -9: %v", err)
	}
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.t.Fatal("server did not die within 30 s of SIGKILL")
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// runCmd runs the binary to its end and returns its stdout, stderr and
// exit code.
func runCmd(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	cmd.Env = append(cleanEnv(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("mediatasks %v did not end within 60 s", args)
	}
	return stdout.String(), stderr.String(), exitCode(err)
}

// client calls the API with a bearer key.
type client struct {
	t    *testing.T
	base string
	key  string
	http *http.Client
}

func newClient(t *testing.T, base, key string) *client {
	return &client{t: t, base: base, key: key, http: &http.Client{Timeout: 30 * time.Second}}
}

// do sends a JSON request and decodes a JSON answer into out (when not
// nil); it returns the status code, or an error when there was no answer.
func (c *client) do(ctx context.Context, method, path string, body any, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %s %s answer %d %q: %w", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode, nil
}

// mustDo is do that fails the test on a transport error or another code.
func (c *client) mustDo(method, path string, body any, want int, out any) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code, err := c.do(ctx, method, path, body, out)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	if code != want {
		c.t.Fatalf("%s %s: %d, want %d", method, path, code, want)
	}
}

// readKeyFile returns the key in DATA/api-key after checking its mode.
func readKeyFile(t *testing.T, data string) string {
	t.Helper()
	path := filepath.Join(data, apiKeyFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("%s has mode %o, want 600", path, m)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(string(b))
	if !strings.HasPrefix(key, "mt_") || strings.ContainsAny(key, " \n") {
		t.Fatalf("api-key file holds %q, want one mt_ key", key)
	}
	return key
}
