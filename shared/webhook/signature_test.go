package webhook_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/webhook"
)

type vector struct {
	Name      string   `json:"name"`
	Source    string   `json:"source"`
	Secrets   []string `json:"secrets"`
	ID        string   `json:"id"`
	Timestamp int64    `json:"timestamp"`
	Body      string   `json:"body"`
	Signature string   `json:"signature"`
}

func readVectors(t *testing.T) []vector {
	t.Helper()
	raw, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(raw, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 {
		t.Fatal("no vectors")
	}
	return vs
}

func headers(id string, ts int64, sig string) http.Header {
	h := http.Header{}
	h.Set(webhook.HeaderID, id)
	h.Set(webhook.HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(webhook.HeaderSignature, sig)
	return h
}

// The golden vectors were computed by the reference library (npm
// standardwebhooks): we sign the same, byte for byte, and accept them.
func TestGoldenVectors(t *testing.T) {
	for _, v := range readVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			at := time.Unix(v.Timestamp, 0)
			got, err := webhook.Sign(v.Secrets, v.ID, at, []byte(v.Body))
			if err != nil {
				t.Fatal(err)
			}
			if got != v.Signature {
				t.Errorf("Sign = %q\nwant %q (%s)", got, v.Signature, v.Source)
			}
			// A receiver holding any one of the secrets accepts it.
			for _, secret := range v.Secrets {
				verifier, err := webhook.NewVerifier(secret)
				if err != nil {
					t.Fatal(err)
				}
				verifier.Now = func() time.Time { return at }
				if err := verifier.Verify(headers(v.ID, v.Timestamp, v.Signature), []byte(v.Body)); err != nil {
					t.Errorf("Verify with %s…: %v", secret[:10], err)
				}
			}
		})
	}
}

func TestNewSecret(t *testing.T) {
	a, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := webhook.NewSecret()
	if a == b {
		t.Error("two secrets are the same")
	}
	raw, ok := strings.CutPrefix(a, webhook.SecretPrefix)
	if !ok {
		t.Fatalf("secret %q lacks %s", a, webhook.SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(key) != 32 {
		t.Errorf("secret key = %d bytes, %v; want 32", len(key), err)
	}
}

func TestVerify(t *testing.T) {
	const (
		secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		other  = "whsec_PWrTWTgkINMY0Ny8e7WC0pdd8yXRM9gSuRCJ/DqZ4Fo="
		id     = "evt_tsk_1_3"
	)
	at := time.Unix(1795815088, 0)
	body := []byte(`{"id":"evt_tsk_1_3","event_type":"task.completed"}`)
	sign := func(secrets ...string) string {
		s, err := webhook.Sign(secrets, id, at, body)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	good := sign(secret)
	tests := map[string]struct {
		header http.Header
		body   []byte
		now    time.Time
		want   error
	}{
		"valid":                      {header: headers(id, at.Unix(), good), now: at},
		"within tolerance, late":     {header: headers(id, at.Unix(), good), now: at.Add(5 * time.Minute)},
		"within tolerance, early":    {header: headers(id, at.Unix(), good), now: at.Add(-5 * time.Minute)},
		"too old":                    {header: headers(id, at.Unix(), good), now: at.Add(5*time.Minute + time.Second), want: webhook.ErrTimestamp},
		"too new":                    {header: headers(id, at.Unix(), good), now: at.Add(-5*time.Minute - time.Second), want: webhook.ErrTimestamp},
		"timestamp not a number":     {header: headers(id, 0, good), now: at, want: webhook.ErrTimestamp},
		"body changed":               {header: headers(id, at.Unix(), good), body: []byte(`{"id":"evt_tsk_1_3","event_type":"task.failed"}`), now: at, want: webhook.ErrBadSignature},
		"id changed":                 {header: headers("evt_tsk_1_4", at.Unix(), good), now: at, want: webhook.ErrBadSignature},
		"timestamp changed":          {header: headers(id, at.Unix()+1, good), now: at, want: webhook.ErrBadSignature},
		"other secret":               {header: headers(id, at.Unix(), sign(other)), now: at, want: webhook.ErrBadSignature},
		"rotation: ours second":      {header: headers(id, at.Unix(), sign(other, secret)), now: at},
		"rotation: ours first":       {header: headers(id, at.Unix(), sign(secret, other)), now: at},
		"unknown versions ignored":   {header: headers(id, at.Unix(), "v2,abc "+good), now: at},
		"only unknown versions":      {header: headers(id, at.Unix(), "v2,"+strings.TrimPrefix(good, "v1,")), now: at, want: webhook.ErrNoSignature},
		"signature not base64":       {header: headers(id, at.Unix(), "v1,***"), now: at, want: webhook.ErrBadSignature},
		"no signature header":        {header: headers(id, at.Unix(), ""), now: at, want: webhook.ErrNoSignature},
		"no id header":               {header: headers("", at.Unix(), good), now: at, want: webhook.ErrNoSignature},
		"signature of an empty body": {header: headers(id, at.Unix(), good), body: []byte{}, now: at, want: webhook.ErrBadSignature},
		"truncated signature":        {header: headers(id, at.Unix(), good[:len(good)-4]), now: at, want: webhook.ErrBadSignature},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			v, err := webhook.NewVerifier(secret)
			if err != nil {
				t.Fatal(err)
			}
			v.Now = func() time.Time { return tc.now }
			if name == "timestamp not a number" {
				tc.header.Set(webhook.HeaderTimestamp, "yesterday")
			}
			b := body
			if tc.body != nil {
				b = tc.body
			}
			err = v.Verify(tc.header, b)
			if tc.want == nil && err != nil {
				t.Errorf("Verify = %v, want nil", err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestBadSecrets(t *testing.T) {
	for name, secret := range map[string]string{
		"empty":          "",
		"prefix only":    "whsec_",
		"not base64":     "whsec_not base64!",
		"url-safe chars": "whsec_-_-_",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := webhook.NewVerifier(secret); !errors.Is(err, webhook.ErrBadSecret) {
				t.Errorf("NewVerifier = %v, want ErrBadSecret", err)
			}
			if _, err := webhook.Sign([]string{secret}, "id", time.Now(), nil); !errors.Is(err, webhook.ErrBadSecret) {
				t.Errorf("Sign = %v, want ErrBadSecret", err)
			}
		})
	}
	if _, err := webhook.NewVerifier(); !errors.Is(err, webhook.ErrBadSecret) {
		t.Errorf("NewVerifier() = %v, want ErrBadSecret", err)
	}
	if _, err := webhook.Sign(nil, "id", time.Now(), nil); err == nil {
		t.Error("Sign without secrets succeeded")
	}
}
