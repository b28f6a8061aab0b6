package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rawConn opens a TCP connection to the server of base.
func rawConn(t *testing.T, base string) net.Conn {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// answer reads one response's status line, and reports whether the
// connection then ends; the deadline only keeps a broken server from
// hanging the test.
func answer(t *testing.T, c net.Conn) (string, bool) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return "", false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	_, err = r.ReadByte()
	return resp.Status, err == io.EOF
}

// A request refused from its headers (no key) is answered at once,
// without its body being read, and its connection closed: a client that
// sends headers and stalls holds nothing.
func TestARefusedRequestIsNotDrained(t *testing.T) {
	t.Parallel()
	c := serveWithConfig(t, "providers: [{name: s, type: sim, task_types: [image_generation]}]\n")
	conn := rawConn(t, c.base)
	fmt.Fprintf(conn, "POST /api/v1/media/images/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"pro")
	if status, closed := answer(t, conn); !strings.HasPrefix(status, "401") || !closed {
		t.Errorf("answer %q, closed %v: want 401 and the connection closed", status, closed)
	}
}

// A body that arrives slower than server.min_body_rate, past
// server.body_grace, is cut off and its connection closed.
func TestASlowBodyIsCutOff(t *testing.T) {
	t.Parallel()
	c := serveWithConfig(t, "providers: [{name: s, type: sim, task_types: [audio_transcription]}]\nserver: {min_body_rate: 1024, body_grace: 1s}\n")
	conn := rawConn(t, c.base)
	fmt.Fprintf(conn, "POST /api/v1/media/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: audio/wav\r\nContent-Length: 1000000\r\n\r\nRIFF", c.key)
	status, closed := answer(t, conn)
	if !closed || (status != "" && !strings.HasPrefix(status, "4")) {
		t.Errorf("answer %q, closed %v: want the slow upload cut off", status, closed)
	}
}

// Past server.max_client_connections, a connection is answered 503 and
// closed at once, and the server goes on answering once they are gone.
func TestConnectionsOverTheLimitAre503(t *testing.T) {
	t.Parallel()
	c := serveWithConfig(t, "providers: [{name: s, type: sim, task_types: [image_generation]}]\nserver: {max_connections: 16, max_client_connections: 16}\n")
	c.http.CloseIdleConnections()
	var conns []net.Conn
	for range 20 {
		conns = append(conns, rawConn(t, c.base))
	}
	refused := 0
	for _, conn := range conns {
		if status, _ := answer(t, conn); strings.HasPrefix(status, "503") {
			refused++
		}
	}
	if refused < 4 {
		t.Errorf("%d of 20 connections refused with a limit of 16, want at least 4", refused)
	}
	for _, conn := range conns {
		conn.Close()
	}
	c.mustDo("GET", "/api/v1/media/health", nil, http.StatusOK, nil)
}

// A request net/http cannot read (a control character in a header, a
// header line without a colon, headers over the limit) is answered in
// problem+json naming the headers, as every other refusal is, not with
// net/http's own text.
func TestUnreadableHeadersAreProblems(t *testing.T) {
	t.Parallel()
	c := serveWithConfig(t, "providers: [{name: s, type: sim, task_types: [image_generation]}]\n")
	for name, tc := range map[string]struct {
		head   string
		status string
	}{
		"a control character":       {"GET /api/v1/media/tasks HTTP/1.1\r\nHost: x\r\nIdempotency-Key: a\x01b\r\n\r\n", "400"},
		"a line without a colon":    {"GET /api/v1/media/tasks HTTP/1.1\r\nHost: x\r\nLast-Event-ID 5\r\n\r\n", "400"},
		"headers over the limit":    {"GET /api/v1/media/tasks HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 2<<20) + "\r\n\r\n", "431"},
		"a NUL in the request line": {"GET /api/v1/media/\x00 HTTP/1.1\r\nHost: x\r\n\r\n", "400"},
	} {
		conn := rawConn(t, c.base)
		go io.WriteString(conn, tc.head)
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var p struct {
			Status int
			Errors []struct{ Field, Message string }
		}
		err = json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		if !strings.HasPrefix(resp.Status, tc.status) || resp.Header.Get("Content-Type") != "application/problem+json" ||
			err != nil || len(p.Errors) != 1 || p.Errors[0].Field != "headers" || p.Errors[0].Message == "" || strconv.Itoa(p.Status) != tc.status {
			t.Errorf("%s: %s %s %+v %v", name, resp.Status, resp.Header.Get("Content-Type"), p, err)
		}
	}
	c.mustDo("GET", "/api/v1/media/health", nil, http.StatusOK, nil)
}

func TestProblemForCannedErrorLeavesHandlersAlone(t *testing.T) {
	t.Parallel()
	for _, p := range []string{
		"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nDate: x\r\n\r\nbad",
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nok",
		"{\"a\":1}",
		"HTTP/1.1 400 Bad Request",
	} {
		if _, ok := problemForCannedError([]byte(p)); ok {
			t.Errorf("rewrote %q", p)
		}
	}
	out, ok := problemForCannedError([]byte("HTTP/1.1 400 Bad Request: invalid header" + netHTTPErrorHeaders + "400 Bad Request: invalid header"))
	if !ok || !strings.Contains(string(out), `"detail":"the request could not be read: invalid header"`) {
		t.Errorf("net/http's reply: %q %v", out, ok)
	}
}
