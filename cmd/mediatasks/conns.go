package main

import (
	"bytes"
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// connLimits bound the server's open connections, in all and per client
// address, so that a flood of connections meets a quick 503 instead of
// using up the process's file descriptors, which would stop accept for
// everyone (/health included). golang.org/x/net/netutil's LimitListener
// blocks accept when full; a refusal must instead be answered at once.
type connLimits struct {
	total, perClient int
}

// defaultConnLimits leave room under the file descriptor limit for the
// database, the files and the provider calls: at most 8,192 connections,
// a quarter of those per client address.
func defaultConnLimits() connLimits {
	total := 8192
	if n := openFilesLimit(); n > 0 {
		total = min(total, max(n*3/4-64, 16))
	}
	return connLimits{total: total, perClient: max(total/4, 1)}
}

// limitedListener hands out connections within its limits, and answers
// the others 503 problem+json and closes them.
type limitedListener struct {
	net.Listener
	limits connLimits

	mu       sync.Mutex
	open     int
	byClient map[string]int
	refused  func() // counts a refusal (metrics); may be nil
}

func limitListener(ln net.Listener, l connLimits, refused func()) *limitedListener {
	return &limitedListener{Listener: ln, limits: l, byClient: map[string]int{}, refused: refused}
}

// refusal is written on a connection over the limits: Connection: close,
// and a Retry-After of a second.
var refusal = func() []byte {
	body := `{"type":"urn:mediatasks:problem:too-many-connections","title":"Service Unavailable","status":503,` +
		`"detail":"too many open connections from this address or in all"}` + "\n"
	return []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/problem+json\r\n" +
		"Retry-After: 1\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}()

func (l *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		client := clientOf(c)
		l.mu.Lock()
		ok := l.open < l.limits.total && l.byClient[client] < l.limits.perClient
		if ok {
			l.open++
			l.byClient[client]++
		}
		l.mu.Unlock()
		if ok {
			return &limitedConn{Conn: c, l: l, client: client}, nil
		}
		if l.refused != nil {
			l.refused()
		}
		go func() {
			_ = c.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = c.Write(refusal)
			_ = c.Close()
		}()
	}
}

func (l *limitedListener) release(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.byClient[client]--; l.byClient[client] <= 0 {
		delete(l.byClient, client)
	}
}

func clientOf(c net.Conn) string {
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return host
}

// limitedConn gives its place back when closed (once).
type limitedConn struct {
	net.Conn
	l      *limitedListener
	client string
	once   sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.client) })
	return err
}

// Write answers as problem+json where net/http answers a request it could
// not read (a control character in a header, a malformed line, headers too
// large) with a text/plain reply of its own, written before any handler
// runs and with no hook to change it. That reply is one write whose status
// line is followed by exactly netHTTPErrorHeaders; a handler's answer
// never is (its headers are sorted, and carry a Date), so nothing else is
// touched.
func (c *limitedConn) Write(p []byte) (int, error) {
	if out, ok := problemForCannedError(p); ok {
		if _, err := c.Conn.Write(out); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// netHTTPErrorHeaders are the headers of net/http's own error replies.
const netHTTPErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// problemForCannedError rewrites net/http's reply p to a request it could
// not read ("HTTP/1.1 400 Bad Request: invalid header" + headers + body)
// as the same status in problem+json, naming the request's headers.
func problemForCannedError(p []byte) ([]byte, bool) {
	rest, ok := bytes.CutPrefix(p, []byte("HTTP/1.1 "))
	if !ok {
		return nil, false
	}
	line, _, found := bytes.Cut(rest, []byte("\r\n"))
	if !found || !bytes.HasPrefix(rest[len(line):], []byte(netHTTPErrorHeaders)) || len(line) < 4 {
		return nil, false
	}
	code, err := strconv.Atoi(string(line[:3]))
	if err != nil || code < 400 || code > 599 {
		return nil, false
	}
	reason := string(line[4:])
	title, detail, _ := strings.Cut(reason, ": ")
	if detail == "" {
		detail = strings.ToLower(title)
	}
	body, _ := json.Marshal(map[string]any{
		"type":   "urn:mediatasks:problem:invalid-request",
		"title":  title,
		"status": code,
		"detail": "the request could not be read: " + detail,
		"errors": []map[string]string{{"field": "headers", "message": detail}},
	})
	body = append(body, '\n')
	return []byte("HTTP/1.1 " + string(line) + "\r\nContent-Type: application/problem+json\r\nConnection: close\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + string(body)), true
}
