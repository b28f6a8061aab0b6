package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/videoai/mediatasks/shared/app"
	"github.com/videoai/mediatasks/shared/auth"
	"github.com/videoai/mediatasks/shared/blob"
	"github.com/videoai/mediatasks/shared/blob/fsblob"
	"github.com/videoai/mediatasks/shared/queue/sqlitequeue"
	"github.com/videoai/mediatasks/shared/sqlitedb"
	"github.com/videoai/mediatasks/shared/store/sqlitestore"
	"github.com/videoai/mediatasks/shared/task"
)

// bundle is what a test needs besides the handler: the app under it and
// two users' credentials.
type bundle struct {
	app       *app.App
	db        *sqlitedb.DB
	store     *sqlitestore.Store
	keyA      string // user "alice"
	keyB      string // user "bob"
	jwtSecret []byte
}

const (
	userA = "alice"
	userB = "bob"
)

type setupConfig struct {
	limits      app.Limits
	opts        Options
	synchronous string
	// blobs, when set, wraps the file blob store the app is given.
	blobs func(*fsblob.Store) blob.Store
}

type setupOption func(*setupConfig)

func withLimits(f func(*app.Limits)) setupOption {
	return func(c *setupConfig) { f(&c.limits) }
}

func withOptions(f func(*Options)) setupOption {
	return func(c *setupConfig) { f(&c.opts) }
}

// withBlobs gives the app the blob store wrap makes of the file store.
func withBlobs(wrap func(*fsblob.Store) blob.Store) setupOption {
	return func(c *setupConfig) { c.blobs = wrap }
}

// withSynchronous sets SQLite's synchronous mode (tests use NORMAL: a
// commit survives a crash of the process, not of the machine).
func withSynchronous(mode string) setupOption {
	return func(c *setupConfig) { c.synchronous = mode }
}

// setup builds the API over the real SQLite store and queue and the file
// blob store, in the test's temporary folder.
func setup(tb testing.TB, opts ...setupOption) (http.Handler, *bundle) {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	secret := []byte("a test secret of thirty-two bytes!")
	cfg := setupConfig{synchronous: "NORMAL"}
	for _, o := range opts {
		o(&cfg)
	}
	db, err := sqlitedb.Open(filepath.Join(dir, "mediatasks.db"), sqlitedb.Options{Synchronous: cfg.synchronous})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	st, err := sqlitestore.New(ctx, db, sqlitestore.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	q, err := sqlitequeue.New(ctx, db, "tasks", sqlitequeue.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	blobs, err := fsblob.New(filepath.Join(dir, "blobs"), fsblob.Options{BaseURL: "http://127.0.0.1:8080", Secret: bytes.Repeat([]byte("s"), 32)})
	if err != nil {
		tb.Fatal(err)
	}
	apiOpts := cfg.opts
	apiOpts.Authenticator = &auth.Authenticator{Keys: st, JWTSecret: secret, Now: time.Now, KeyCacheTTL: 30 * time.Second}
	apiOpts.FilesHandler = blobs.Handler()
	if apiOpts.Webhooks == nil {
		apiOpts.Webhooks = st
	}
	var appBlobs blob.Store = blobs
	if cfg.blobs != nil {
		appBlobs = cfg.blobs(blobs)
	}
	// As the server does: a task and its message commit together.
	a, err := app.New(app.Deps{Store: sqlitestore.WithQueue{Store: st, Queue: q}, Tasks: q, Blobs: appBlobs, Limits: cfg.limits})
	if err != nil {
		tb.Fatal(err)
	}
	b := &bundle{app: a, db: db, store: st, jwtSecret: secret}
	for _, u := range []struct {
		user string
		key  *string
	}{{userA, &b.keyA}, {userB, &b.keyB}} {
		key, rec, err := auth.NewKey(u.user, time.Now())
		if err != nil {
			tb.Fatal(err)
		}
		if err := st.CreateAPIKey(ctx, rec); err != nil {
			tb.Fatal(err)
		}
		*u.key = key
	}
	return New(a, apiOpts), b
}

// req is one request of a test.
type req struct {
	method, path string
	key          string // bearer credential; "" sends no Authorization
	body         any    // []byte and string are sent as is, anything else as JSON
	header       map[string]string
}

// do sends r through h and checks the answer against the OpenAPI document.
func do(tb testing.TB, h http.Handler, r req) *httptest.ResponseRecorder {
	tb.Helper()
	var body io.Reader
	switch v := r.body.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(v)
	case string:
		body = strings.NewReader(v)
	default:
		raw, err := json.Marshal(v)
		if err != nil {
			tb.Fatal(err)
		}
		body = bytes.NewReader(raw)
	}
	hr := httptest.NewRequest(r.method, r.path, body)
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.key != "" {
		hr.Header.Set("Authorization", "Bearer "+r.key)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, hr)
	checkResponse(tb, r.method, r.path, rec.Code, rec.Header(), rec.Body.Bytes())
	return rec
}

// decode reads a JSON answer into a new T.
func decode[T any](tb testing.TB, rec *httptest.ResponseRecorder) T {
	tb.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		tb.Fatalf("decode %T from %q: %v", v, rec.Body.String(), err)
	}
	return v
}

// wantStatus fails the test unless the answer has status code.
func wantStatus(tb testing.TB, rec *httptest.ResponseRecorder, code int) {
	tb.Helper()
	if rec.Code != code {
		tb.Fatalf("status %d, want %d; body %s", rec.Code, code, rec.Body.String())
	}
}

// wantProblem checks a problem answer and that it names field (if given).
func wantProblem(tb testing.TB, rec *httptest.ResponseRecorder, code int, field string) Problem {
	tb.Helper()
	wantStatus(tb, rec, code)
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		tb.Fatalf("Content-Type %q, want application/problem+json", ct)
	}
	p := decode[Problem](tb, rec)
	if p.Status != code || p.Type == "" || p.Title == "" {
		tb.Fatalf("problem %+v does not describe status %d", p, code)
	}
	if field == "" {
		return p
	}
	for _, e := range p.Errors {
		if e.Field == field {
			return p
		}
	}
	tb.Fatalf("problem names %+v, want field %q", p.Errors, field)
	return p
}

// submitImage submits an image task for key and returns it.
func submitImage(tb testing.TB, h http.Handler, key, prompt string) *task.Task {
	tb.Helper()
	rec := do(tb, h, req{method: "POST", path: Prefix + "/images/generate", key: key, body: map[string]any{"prompt": prompt}})
	wantStatus(tb, rec, http.StatusAccepted)
	return decode[*task.Task](tb, rec)
}

// The OpenAPI document, compiled once, checks every answer the tests get.
var (
	oasOnce     sync.Once
	oasDoc      map[string]any
	oasCompiler *jsonschema.Compiler
	oasErr      error
	oasSchemas  sync.Map // JSON pointer -> *jsonschema.Schema
	oasMu       sync.Mutex
	routeMux    *http.ServeMux
)

const oasURL = "mem:///openapi.json"

func loadOpenAPI() {
	if oasErr = json.Unmarshal(openapiDoc, &oasDoc); oasErr != nil {
		return
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(openapiDoc))
	if err != nil {
		oasErr = err
		return
	}
	oasCompiler = jsonschema.NewCompiler()
	oasCompiler.AssertFormat()
	oasCompiler.DefaultDraft(jsonschema.Draft2020)
	if oasErr = oasCompiler.AddResource(oasURL, doc); oasErr != nil {
		return
	}
	routeMux = http.NewServeMux()
	for _, rt := range routes {
		routeMux.Handle(rt.method+" "+rt.pattern, http.NotFoundHandler())
	}
}

// docPath turns a mux pattern's path into the document's path template.
func docPath(pattern string) string {
	return strings.ReplaceAll(pattern, "...}", "}")
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// lookup walks the document by keys; a {"$ref": "#/..."} met on the way
// (not at the end) is followed. It returns the node and its JSON pointer.
func lookup(segs []string) (any, string, bool) {
	var cur any = oasDoc
	ptr := ""
	for _, seg := range segs {
		for {
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, "", false
			}
			ref, ok := m["$ref"].(string)
			if !ok {
				break
			}
			if cur, ptr, ok = lookup(refSegments(ref)); !ok {
				return nil, "", false
			}
		}
		next, ok := cur.(map[string]any)[seg]
		if !ok {
			return nil, "", false
		}
		cur, ptr = next, ptr+"/"+escapePointer(seg)
	}
	return cur, ptr, true
}

func refSegments(ref string) []string {
	var segs []string
	for _, s := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		segs = append(segs, strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~"))
	}
	return segs
}

// checkResponse validates an answer against the document: its status is
// documented for the route (or a default is), its content type is
// documented for that status, and a JSON body matches the schema.
func checkResponse(tb testing.TB, method, target string, code int, h http.Header, body []byte) {
	tb.Helper()
	oasOnce.Do(loadOpenAPI)
	if oasErr != nil {
		tb.Fatalf("openapi document: %v", oasErr)
	}
	hr := httptest.NewRequest(method, target, nil)
	_, pattern := routeMux.Handler(hr)
	if pattern == "" {
		if code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
			tb.Fatalf("%s %s: no route, yet status %d", method, target, code)
		}
		return
	}
	_, p, _ := strings.Cut(pattern, " ")
	op := []string{"paths", docPath(p), strings.ToLower(method), "responses"}
	status := fmt.Sprint(code)
	if _, _, ok := lookup(append(op, status)); !ok {
		status = "default"
	}
	if _, _, ok := lookup(append(op, status)); !ok {
		tb.Fatalf("%s %s: status %d is not documented", method, p, code)
	}
	node, _, _ := lookup(append(op, status, "content"))
	content, _ := node.(map[string]any)
	if content == nil {
		return // documented without a body
	}
	ct := h.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	key := mt
	if _, ok := content[mt]; !ok {
		if _, ok := content["*/*"]; !ok {
			tb.Fatalf("%s %s %d: content type %q is not documented", method, p, code, ct)
		}
		key = "*/*"
	}
	if mt != "application/json" && mt != "application/problem+json" {
		return
	}
	_, ptr, ok := lookup(append(op, status, "content", key, "schema"))
	if !ok {
		tb.Fatalf("%s %s %d: no schema for %s", method, p, code, key)
	}
	sch, err := compiled(ptr)
	if err != nil {
		tb.Fatalf("compile schema %s: %v", ptr, err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		tb.Fatalf("%s %s %d: body is not JSON: %v: %q", method, p, code, err, body)
	}
	if err := sch.Validate(inst); err != nil {
		tb.Fatalf("%s %s %d: body does not match the document:\n%v\nbody: %s", method, p, code, err, body)
	}
	if code == http.StatusUnauthorized && h.Get("WWW-Authenticate") == "" {
		tb.Fatalf("%s %s: 401 without WWW-Authenticate", method, p)
	}
}

func compiled(ptr string) (*jsonschema.Schema, error) {
	if s, ok := oasSchemas.Load(ptr); ok {
		return s.(*jsonschema.Schema), nil
	}
	oasMu.Lock()
	defer oasMu.Unlock()
	s, err := oasCompiler.Compile(oasURL + "#" + fragmentEscape(ptr))
	if err != nil {
		return nil, err
	}
	oasSchemas.Store(ptr, s)
	return s, nil
}

// fragmentEscape percent-encodes what a URL fragment may not hold.
func fragmentEscape(ptr string) string {
	var b strings.Builder
	for _, c := range []byte(ptr) {
		if c == '{' || c == '}' || c == '%' || c == ' ' || c == '*' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
