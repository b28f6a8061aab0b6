package webhook_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/testkit/npmtools"
	"github.com/videoai/mediatasks/shared/webhook"
)

type nodeSign struct {
	Secret    string `json:"secret"`
	ID        string `json:"id"`
	Timestamp int64  `json:"timestamp"`
	Body      string `json:"body"`
}

type nodeVerify struct {
	Secret  string            `json:"secret"`
	Body    string            `json:"body"`
	Headers map[string]string `json:"headers"`
}

type nodeResult struct {
	Signatures []string `json:"signatures"`
	Verified   []struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	} `json:"verified"`
}

// standardWebhooks runs the reference library (npm standardwebhooks) on
// the requests, in one node process.
func standardWebhooks(t *testing.T, sign []nodeSign, verify []nodeVerify) nodeResult {
	t.Helper()
	if _, err := os.Stat(filepath.Join(npmtools.Module(t, "standardwebhooks"), "package.json")); err != nil {
		t.Fatalf("npm standardwebhooks is not installed (%v): run `make tools`", err)
	}
	in, err := json.Marshal(map[string]any{"sign": sign, "verify": verify})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(npmtools.Node(t), filepath.Join("testdata", "standardwebhooks.cjs"))
	cmd.Env = append(os.Environ(), "NODE_PATH="+npmtools.NodePath(t))
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var res nodeResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("node output %q: %v", out, err)
	}
	if len(res.Signatures) != len(sign) || len(res.Verified) != len(verify) {
		t.Fatalf("node answered %d signatures, %d verifications; asked %d, %d", len(res.Signatures), len(res.Verified), len(sign), len(verify))
	}
	return res
}

// A webhook as the deliverer sends it, during a secret rotation, passes
// the reference library's verification with the old secret alone and with
// the new one alone; and what the library signs, our Verifier accepts.
func TestInteropStandardWebhooks(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	h.clock.Set(time.Now()) // the library checks the timestamp against the real clock
	old, err := h.store.WebhookSecrets(h.ctx, h.user, h.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := h.store.RotateWebhookSecret(h.ctx, h.user, h.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	stranger, _ := webhook.NewSecret()
	h.submit(h.url())
	if n := h.runOnce(); n != 1 {
		t.Fatalf("attempted %d", n)
	}
	reqs := h.recv.requests()
	if len(reqs) != 1 {
		t.Fatalf("receiver got %d requests", len(reqs))
	}
	sent := reqs[0]
	if sigs := strings.Fields(sent.header.Get(webhook.HeaderSignature)); len(sigs) != 2 {
		t.Fatalf("signature header during rotation = %q, want two signatures", sent.header.Get(webhook.HeaderSignature))
	}
	hdrs := map[string]string{}
	for _, name := range []string{webhook.HeaderID, webhook.HeaderTimestamp, webhook.HeaderSignature} {
		hdrs[name] = sent.header.Get(name)
	}
	body := string(sent.body)

	now := time.Now()
	ourBody := `{"id":"msg_from_node","event_type":"task.completed","data":{"text":"héllo"}}`
	res := standardWebhooks(t,
		[]nodeSign{{Secret: fresh, ID: "msg_from_node", Timestamp: now.Unix(), Body: ourBody}},
		[]nodeVerify{
			{Secret: old[0], Body: body, Headers: hdrs},
			{Secret: fresh, Body: body, Headers: hdrs},
			{Secret: stranger, Body: body, Headers: hdrs},
			{Secret: fresh, Body: body + " ", Headers: hdrs},
		})
	for i, want := range []bool{true, true, false, false} {
		if got := res.Verified[i]; got.OK != want {
			t.Errorf("library verification %d = %v (%s), want %v", i, got.OK, got.Error, want)
		}
	}

	header := headers("msg_from_node", now.Unix(), res.Signatures[0])
	v, err := webhook.NewVerifier(fresh)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(header, []byte(ourBody)); err != nil {
		t.Errorf("our Verifier refuses the library's signature: %v", err)
	}
	wrong, _ := webhook.NewVerifier(old[0])
	if err := wrong.Verify(header, []byte(ourBody)); err == nil {
		t.Error("our Verifier accepts the library's signature with another secret")
	}
	if ts := sent.header.Get(webhook.HeaderTimestamp); ts != strconv.FormatInt(h.clock.Now().Unix(), 10) {
		t.Errorf("webhook-timestamp = %s", ts)
	}
}
