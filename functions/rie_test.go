package functions_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/testkit/awstest"
)

// The four functions' bootstraps run here as they run in Lambda: built
// as the deployment builds them (for the host's architecture), each
// under the Lambda Runtime Interface Emulator, invoked with the events
// API Gateway, SQS, Step Functions and EventBridge send.

const (
	modulePath = "github.com/videoai/mediatasks"
	riePackage = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"
	rieName    = "aws-lambda-rie"
)

var functionNames = []string{"submit", "status", "process", "webhook"}

func TestMain(m *testing.M) {
	// The build runs while the first tests start the AWS emulators.
	go buildOnce()
	code := awstest.Main(m)
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// build holds the binaries, built once per test binary.
var build struct {
	once sync.Once
	dir  string
	took time.Duration
	err  error
}

func buildOnce() {
	build.once.Do(func() {
		start := time.Now()
		build.dir, build.err = buildBinaries()
		build.took = time.Since(start)
	})
}

// binaries waits for the four bootstraps and the emulator, built into
// one folder, and returns it. One `go build` of all five builds them in
// parallel.
func binaries(t testing.TB) string {
	t.Helper()
	buildOnce()
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.dir
}

func buildBinaries() (string, error) {
	dir, err := os.MkdirTemp("", "mediatasks-functions-")
	if err != nil {
		return "", err
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return dir, fmt.Errorf("build the functions: %w", err)
	}
	// The flags of `make build-lambdas`, for the host: the emulator runs
	// the bootstrap as a local process.
	args := []string{"build", "-tags", "lambda.norpc", "-trimpath", "-buildvcs=false", "-ldflags", "-s -w", "-o", dir + string(filepath.Separator)}
	for _, name := range functionNames {
		args = append(args, modulePath+"/functions/"+name)
	}
	args = append(args, riePackage)
	cmd := exec.Command(goCmd, args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		return dir, fmt.Errorf("go %v: %w\n%s", args, err, out)
	}
	return dir, nil
}

// spawnRequests are started by one goroutine locked to its OS thread for
// the life of the test binary: Pdeathsig fires when the thread that
// started a child ends, so only a thread that never ends makes it mean
// "when the test binary dies".
var (
	spawnRequests = make(chan spawnRequest)
	startSpawner  = sync.OnceFunc(func() {
		go func() {
			runtime.LockOSThread() // never unlocked: see spawnRequests
			for r := range spawnRequests {
				r.done <- r.cmd.Start()
			}
		}()
	})
)

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

func spawn(cmd *exec.Cmd) error {
	startSpawner()
	done := make(chan error, 1)
	spawnRequests <- spawnRequest{cmd: cmd, done: done}
	return <-done
}

// lambdaFunction is one function's bootstrap running under the emulator.
type lambdaFunction struct {
	name    string
	url     string // the invocations endpoint
	logPath string // the emulator's output, the function's among it
	started time.Time
	exited  chan struct{}
	// stop stops the emulator and the bootstrap (at the test's end, or
	// before).
	stop func()
}

// startFunction starts the emulator on the named function with exactly
// env as its environment (the emulator hands it to the bootstrap), and
// stops both when the test ends. The function's INIT runs on the first
// invocation, as the emulator does it.
func startFunction(t testing.TB, name string, env map[string]string) *lambdaFunction {
	t.Helper()
	dir := binaries(t)
	// The runtime API port is picked, then freed, before the emulator
	// binds it: a start that lost it to another process starts again on
	// another port.
	const attempts = 5
	for attempt := 1; ; attempt++ {
		f, err := launchFunction(t, dir, name, env)
		if err == nil {
			t.Cleanup(func() {
				f.stop()
				if t.Failed() {
					t.Logf("output of the %s function under the emulator:\n%s", name, f.output(16<<10))
				}
			})
			return f
		}
		var taken *portTakenError
		if !errors.As(err, &taken) || attempt == attempts {
			t.Fatal(err)
		}
		t.Logf("start %d of the emulator for %s: %v; starting again", attempt, name, err)
	}
}

// portTakenError is an emulator's exit because its runtime API port was
// taken between freePort and its bind.
type portTakenError struct{ port int }

func (e *portTakenError) Error() string {
	return fmt.Sprintf("the runtime API port %d was taken before the emulator bound it", e.port)
}

// beforeLaunch, when set, runs before each start of an emulator with the
// runtime API port it is given (a test takes the port with it).
var beforeLaunch func(runtimePort int)

// launchFunction makes one start of the emulator and waits until it
// listens on both of its ports. On an error the emulator is stopped.
func launchFunction(t testing.TB, dir, name string, env map[string]string) (*lambdaFunction, error) {
	t.Helper()
	// The invocations API binds port 0, and the port the kernel chose is
	// read back from the emulator's sockets. The runtime API cannot: the
	// emulator would hand the bootstrap AWS_LAMBDA_RUNTIME_API with port
	// 0, so that one is picked here.
	runtimePort := freePort(t)
	if beforeLaunch != nil {
		beforeLaunch(runtimePort)
	}
	logFile, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(dir, rieName),
		"--runtime-interface-emulator-address", "127.0.0.1:0",
		"--runtime-api-address", "127.0.0.1:"+strconv.Itoa(runtimePort),
		filepath.Join(dir, name))
	cmd.Dir = dir
	cmd.Env = []string{"AWS_LAMBDA_FUNCTION_NAME=mediatasks-" + name}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	sort.Strings(cmd.Env)
	// Into a file, never a pipe: `go test` waits for its children's pipes.
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	f := &lambdaFunction{
		name:    name,
		logPath: logFile.Name(),
		started: time.Now(),
		exited:  make(chan struct{}),
	}
	if err := spawn(cmd); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start the emulator for %s: %v", name, err)
	}
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(f.exited)
	}()
	f.stop = sync.OnceFunc(func() {
		// SIGTERM: the emulator then kills the bootstrap, which runs in a
		// process group of its own. Should the test binary die instead,
		// the emulator gets SIGKILL and the bootstrap, its runtime API
		// gone, exits on its next request.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-f.exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-f.exited
		}
	})
	apiPort, err := f.waitListening(cmd.Process.Pid, runtimePort)
	if err != nil {
		f.stop()
		return nil, err
	}
	f.url = fmt.Sprintf("http://127.0.0.1:%d/2015-03-31/functions/function/invocations", apiPort)
	return f, nil
}

// waitListening waits until the emulator (pid) listens on the runtime
// API port and on one more, the invocations API's, which it returns.
// Its own sockets are what count: a dial could reach another process
// that holds the port.
func (f *lambdaFunction) waitListening(pid, runtimePort int) (int, error) {
	deadline := time.Now().Add(15 * time.Second)
	for {
		ports, err := listeningPorts(pid)
		select {
		case <-f.exited:
			out := f.output(16 << 10)
			if strings.Contains(out, fmt.Sprintf("listen tcp 127.0.0.1:%d: bind: address already in use", runtimePort)) {
				return 0, &portTakenError{port: runtimePort}
			}
			return 0, fmt.Errorf("the emulator for %s exited:\n%s", f.name, out)
		default:
		}
		if err == nil && len(ports) == 2 && slices.Contains(ports, runtimePort) {
			if ports[0] == runtimePort {
				return ports[1], nil
			}
			return ports[0], nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("the emulator for %s does not listen on the runtime API port %d and an invocations port: listening on %v (%v):\n%s", f.name, runtimePort, ports, err, f.output(16<<10))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// listeningPorts are the ports of the IPv4 TCP sockets process pid
// listens on: its socket inodes (/proc/pid/fd) looked up in the
// network namespace's TCP table (/proc/pid/net/tcp). The tests run on
// Linux only already (Pdeathsig).
func listeningPorts(pid int) ([]int, error) {
	proc := "/proc/" + strconv.Itoa(pid)
	fds, err := os.ReadDir(proc + "/fd")
	if err != nil {
		return nil, err
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		// A descriptor closed meanwhile is not a listener: skipped.
		link, err := os.Readlink(proc + "/fd/" + fd.Name())
		if inode, ok := strings.CutPrefix(link, "socket:["); err == nil && ok {
			inodes[strings.TrimSuffix(inode, "]")] = true
		}
	}
	table, err := os.ReadFile(proc + "/net/tcp")
	if err != nil {
		return nil, err
	}
	var ports []int
	for _, line := range strings.Split(string(table), "\n")[1:] {
		// sl local_address rem_address st ... uid timeout inode
		fields := strings.Fields(line)
		if len(fields) < 10 || fields[3] != "0A" || !inodes[fields[9]] { // 0A: LISTEN
			continue
		}
		_, hexPort, ok := strings.Cut(fields[1], ":")
		port, err := strconv.ParseUint(hexPort, 16, 16)
		if !ok || err != nil {
			return nil, fmt.Errorf("%s/net/tcp: local address %q", proc, fields[1])
		}
		ports = append(ports, int(port))
	}
	return ports, nil
}

// output is the end of what the emulator and the function printed.
func (f *lambdaFunction) output(limit int) string {
	b, err := os.ReadFile(f.logPath)
	if err != nil {
		return err.Error()
	}
	if len(b) > limit {
		b = append([]byte("...\n"), b[len(b)-limit:]...)
	}
	return string(b)
}

// invocation is a function's answer: its result, or its error as Lambda
// reports it (errorType, errorMessage).
type invocation struct {
	Result       json.RawMessage
	ErrorType    string
	ErrorMessage string
}

var invokeClient = &http.Client{Timeout: 60 * time.Second} // a failure bound, not a measure

// invoke sends event (a value, or json.RawMessage) to the function and
// returns its answer.
func (f *lambdaFunction) invoke(t testing.TB, event any) invocation {
	t.Helper()
	inv, err := f.tryInvoke(event)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func (f *lambdaFunction) tryInvoke(event any) (invocation, error) {
	body, ok := event.(json.RawMessage)
	if !ok {
		var err error
		if body, err = json.Marshal(event); err != nil {
			return invocation{}, err
		}
	}
	resp, err := invokeClient.Post(f.url, "application/json", bytes.NewReader(body))
	if err != nil {
		return invocation{}, fmt.Errorf("invoke %s: %w", f.name, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return invocation{}, fmt.Errorf("invoke %s: %w", f.name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return invocation{}, fmt.Errorf("invoke %s: emulator answered %d: %s", f.name, resp.StatusCode, out)
	}
	var e struct {
		Type    string `json:"errorType"`
		Message string `json:"errorMessage"`
	}
	if bytes.HasPrefix(bytes.TrimSpace(out), []byte("{")) && json.Unmarshal(out, &e) == nil && e.Type != "" {
		return invocation{ErrorType: e.Type, ErrorMessage: e.Message}, nil
	}
	return invocation{Result: out}, nil
}

// decode reads a successful invocation's result into v.
func (inv invocation) decode(t testing.TB, v any) {
	t.Helper()
	if inv.ErrorType != "" {
		t.Fatalf("function failed: %s: %s", inv.ErrorType, inv.ErrorMessage)
	}
	if err := json.Unmarshal(inv.Result, v); err != nil {
		t.Fatalf("function answered %s: %v", inv.Result, err)
	}
}

// initReport is the emulator's line for the end of INIT: from the
// bootstrap's start to its first request for an event. (The REPORT
// line's "Init Duration" times only the emulator's own call, which does
// not wait for the runtime.)
var initReport = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)

// initDuration is the function's INIT as the emulator reported it.
func (f *lambdaFunction) initDuration() (time.Duration, error) {
	b, err := os.ReadFile(f.logPath)
	if err != nil {
		return 0, err
	}
	m := initReport.FindSubmatch(b)
	if m == nil {
		return 0, errors.New("the emulator printed no INIT REPORT")
	}
	ms, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		return 0, err
	}
	return time.Duration(ms * float64(time.Millisecond)), nil
}

// freePort is a port that was free: nothing holds it once it returns,
// so another process may take it before the caller binds it.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// An emulator whose runtime API port is taken before it binds it exits,
// and the start goes on with another port: here the port of the first
// start is taken on purpose. Not parallel: beforeLaunch is global, and
// the parallel tests run only once the others have ended.
func TestStartFunctionWhenPortTaken(t *testing.T) {
	p := setup(t, platformOptions{})
	var ports []int
	held := false
	beforeLaunch = func(port int) {
		ports = append(ports, port)
		if len(ports) > 1 {
			return
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			// Taken by another already: this start fails all the same.
			t.Logf("take port %d: %v", port, err)
			return
		}
		held = true
		t.Cleanup(func() { l.Close() })
	}
	t.Cleanup(func() { beforeLaunch = nil })
	fn := startFunction(t, "status", p.env)
	if held && len(ports) < 2 {
		t.Fatalf("the emulator started on runtime API port %d, which this test held", ports[0])
	}
	if err := wantStatus(fn.invoke(t, httpEvent(http.MethodGet, "/openapi.json", "", nil)), http.StatusOK); err != nil {
		t.Fatal(err)
	}
}
