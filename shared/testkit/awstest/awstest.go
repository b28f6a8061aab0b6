// Package awstest starts the AWS emulators that the AWS adapters are
// tested against, speaking the real wire protocols: DynamoDB Local (AWS's
// own jar) for DynamoDB, and fauxqs for SQS and S3. `make tools` installs
// both (tools/dynamodb-local, tools/npm); a test that needs one fails, never
// skips, when it is missing.
//
// Each emulator is started once per test binary, on first use, and stopped
// by Main when the package's tests end. Tests share it: each makes its own
// table, queues or bucket, named by Name.
package awstest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/videoai/mediatasks/shared/testkit/npmtools"
)

// Region is the region every emulated client uses.
const Region = "us-east-1"

// Main runs the package's tests and then stops the emulators they
// started. Use it from TestMain: os.Exit(awstest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	stopAll()
	return code
}

// Config is an aws.Config for the emulators: fixed region and static
// credentials, no retries beyond the SDK's standard ones.
func Config() aws.Config {
	return aws.Config{
		Region:      Region,
		Credentials: credentials.NewStaticCredentialsProvider("mediatasks", "mediatasks-secret", ""),
	}
}

// DynamoDBEndpoint starts DynamoDB Local (once) and returns its URL.
func DynamoDBEndpoint(t testing.TB) string {
	t.Helper()
	return dynamo.endpoint(t)
}

// FauxqsEndpoint starts fauxqs (once) and returns its URL; it serves SQS
// and S3 on the same port.
func FauxqsEndpoint(t testing.TB) string {
	t.Helper()
	return fauxqs.endpoint(t)
}

// DynamoDB returns a client of DynamoDB Local.
func DynamoDB(t testing.TB) *dynamodb.Client {
	t.Helper()
	endpoint := DynamoDBEndpoint(t)
	return dynamodb.NewFromConfig(Config(), func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		// DynamoDB Local's error answers carry no CRC32 header.
		o.DisableValidateResponseChecksum = true
	})
}

// SQS returns a client of fauxqs's SQS.
func SQS(t testing.TB) *sqs.Client {
	t.Helper()
	endpoint := FauxqsEndpoint(t)
	return sqs.NewFromConfig(Config(), func(o *sqs.Options) {
		o.BaseEndpoint = aws.String(endpoint)
	})
}

// S3 returns a client of fauxqs's S3 (path-style addressing: bucket
// names as host names do not resolve on loopback).
func S3(t testing.TB) *s3.Client {
	t.Helper()
	endpoint := FauxqsEndpoint(t)
	return s3.NewFromConfig(Config(), func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
	})
}

var names atomic.Int64

// Name returns a name unique in this test run, usable as a table, queue
// or bucket name (lower case letters, digits and dashes, at most 63).
func Name(t testing.TB) string {
	base := strings.ToLower(t.Name())
	var b strings.Builder
	for _, r := range base {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	s := strings.Trim(b.String(), "-")
	if len(s) > 40 {
		s = s[len(s)-40:]
	}
	return fmt.Sprintf("mt-%d-%d-%s", os.Getpid()%100000, names.Add(1), strings.Trim(s, "-"))
}

// emulator is one emulator process, started on first use.
type emulator struct {
	name  string
	start func(t testing.TB, port int) *exec.Cmd
	ready func(ctx context.Context, url string) error

	once sync.Once
	url  string
	err  error
	cmd  *exec.Cmd
	log  string
}

var (
	dynamo = &emulator{name: "DynamoDB Local", start: startDynamoDB, ready: httpAnswers}
	fauxqs = &emulator{name: "fauxqs", start: startFauxqs, ready: httpAnswers}
)

func (e *emulator) endpoint(t testing.TB) string {
	t.Helper()
	e.once.Do(func() { e.url, e.err = e.launch(t) })
	if e.err != nil {
		t.Fatalf("%s: %v", e.name, e.err)
	}
	return e.url
}

// errPortTaken: the emulator could not bind the port it was given, which
// another process took between freePort's probe and the emulator's bind
// (packages' tests run at once, each starting servers on free ports).
var errPortTaken = errors.New("port taken")

// launch starts the emulator on a free port, and on another one when
// that port was taken before the emulator could bind it.
func (e *emulator) launch(t testing.TB) (string, error) {
	for try := 1; ; try++ {
		url, err := e.launchOn(t)
		if !errors.Is(err, errPortTaken) || try == 5 {
			return url, err
		}
	}
}

func (e *emulator) launchOn(t testing.TB) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	logFile, err := os.CreateTemp("", "mediatasks-"+strings.ReplaceAll(strings.ToLower(e.name), " ", "-")+"-*.log")
	if err != nil {
		return "", fmt.Errorf("create log: %w", err)
	}
	e.log = logFile.Name()
	cmd := e.start(t, port)
	// The child's output goes to a file, never to the test binary's own
	// stdout: `go test` waits for that pipe to close, and an emulator
	// outliving a crashed test binary would hang it.
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// SIGKILL reaches the emulator when the thread that started it dies;
	// that thread is locked and kept for the life of the test binary, so
	// the emulator dies with the binary even if Main never runs (a panic,
	// a test timeout).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	started := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: see above
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
		logFile.Close()
		close(exited)
		select {} // keep the locked thread alive
	}()
	if err := <-started; err != nil {
		return "", fmt.Errorf("start: %w", err)
	}
	e.cmd = cmd
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		err := e.ready(ctx, url)
		if err == nil {
			return url, nil
		}
		exitedNow := false
		select {
		case <-exited:
			exitedNow = true
		default:
		}
		if log := tail(e.log); strings.Contains(log, "Address already in use") || strings.Contains(log, "EADDRINUSE") {
			// DynamoDB Local logs the failed bind and stays up, serving nothing.
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			os.Remove(e.log)
			return "", fmt.Errorf("%s on %d: %w", e.name, port, errPortTaken)
		}
		if exitedNow || ctx.Err() != nil {
			return "", fmt.Errorf("not ready on %s (%v); its log:\n%s", url, err, tail(e.log))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func stopAll() {
	for _, e := range []*emulator{dynamo, fauxqs} {
		if e.cmd != nil && e.cmd.Process != nil {
			_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
		}
		if e.log != "" {
			os.Remove(e.log)
		}
	}
}

func startDynamoDB(t testing.TB, port int) *exec.Cmd {
	dir := filepath.Join(npmtools.Root(t), "tools", "dynamodb-local")
	if _, err := os.Stat(filepath.Join(dir, "DynamoDBLocal.jar")); err != nil {
		t.Fatalf("DynamoDB Local is not installed (%v): run `make tools`", err)
	}
	cmd := exec.Command("java",
		"-Xmx1g", "-XX:+UseSerialGC",
		"-Djava.library.path="+filepath.Join(dir, "DynamoDBLocal_lib"),
		"-jar", filepath.Join(dir, "DynamoDBLocal.jar"),
		"-inMemory", "-port", fmt.Sprint(port))
	cmd.Dir = dir
	return cmd
}

func startFauxqs(t testing.TB, port int) *exec.Cmd {
	cmd := exec.Command(npmtools.Node(t), filepath.Join(npmtools.Module(t, "fauxqs"), "dist", "cli.js"))
	cmd.Env = append(os.Environ(),
		fmt.Sprintf("FAUXQS_PORT=%d", port),
		"FAUXQS_HOST=127.0.0.1",
		"FAUXQS_DEFAULT_REGION="+Region,
		"FAUXQS_LOGGER=false",
	)
	return cmd
}

// httpAnswers is ready when the emulator answers HTTP at all (its answer
// to a bare GET is an error document, which is fine).
func httpAnswers(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/", nil)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > 40 {
			lines = lines[1:]
		}
	}
	if len(lines) == 0 {
		return "(empty)"
	}
	return strings.Join(lines, "\n")
}
