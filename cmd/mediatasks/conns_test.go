package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
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
