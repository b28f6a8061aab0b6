// Package webhook tells clients that their tasks and batches have changed:
// Standard Webhooks signing and verifying, the durable delivery of every
// event on a retry schedule, and the guard that keeps webhook URLs out of
// the server's own network.
//
// Receivers import this package for its Verifier alone:
//
//	v, err := webhook.NewVerifier(os.Getenv("MEDIATASKS_WEBHOOK_SECRET"))
//	...
//	if err := v.Verify(r.Header, body); err != nil { // 400 }
package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks header names.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts every signing secret; the rest is the key in base64.
const SecretPrefix = "whsec_"

// secretBytes is the size of the keys NewSecret makes.
const secretBytes = 32

// DefaultTolerance is how far a webhook's timestamp may be from the
// receiver's clock: older messages are refused as possible replays.
const DefaultTolerance = 5 * time.Minute

var (
	// ErrNoSignature: the webhook-id, webhook-timestamp or
	// webhook-signature header is missing, or no v1 signature is given.
	ErrNoSignature = errors.New("webhook: no signature")
	// ErrBadSignature: no given signature matches the body.
	ErrBadSignature = errors.New("webhook: signature does not match")
	// ErrTimestamp: the timestamp is not a number or is outside the
	// tolerance.
	ErrTimestamp = errors.New("webhook: timestamp out of tolerance")
	// ErrBadSecret: a secret is not whsec_ followed by a base64 key.
	ErrBadSecret = errors.New("webhook: bad secret")
)

// NewSecret returns a new signing secret: whsec_ and 32 random bytes in
// base64.
func NewSecret() (string, error) {
	key := make([]byte, secretBytes)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("new webhook secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(key), nil
}

// decodeSecret returns the key of a secret. The prefix is optional, as in
// the reference libraries; padding too, since some tools strip it.
func decodeSecret(secret string) ([]byte, error) {
	raw := strings.TrimPrefix(secret, SecretPrefix)
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(raw)
	}
	if err != nil || len(key) == 0 {
		return nil, fmt.Errorf("%w: not %s followed by a base64 key", ErrBadSecret, SecretPrefix)
	}
	return key, nil
}

func signature(key []byte, id string, ts int64, body []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write(strconv.AppendInt(nil, ts, 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return mac.Sum(nil)
}

// Sign returns the webhook-signature header for the message: one
// "v1,<base64>" per secret, space-separated, so that while a secret is
// being rotated receivers holding either one accept the message.
func Sign(secrets []string, id string, ts time.Time, body []byte) (string, error) {
	if len(secrets) == 0 {
		return "", fmt.Errorf("sign webhook %s: no secret", id)
	}
	parts := make([]string, 0, len(secrets))
	for i, s := range secrets {
		key, err := decodeSecret(s)
		if err != nil {
			return "", fmt.Errorf("sign webhook %s: secret %d: %w", id, i, err)
		}
		parts = append(parts, "v1,"+base64.StdEncoding.EncodeToString(signature(key, id, ts.Unix(), body)))
	}
	return strings.Join(parts, " "), nil
}

// Verifier checks the signatures of webhooks a receiver gets. It is safe
// for concurrent use once built.
type Verifier struct {
	keys [][]byte
	// Tolerance is how far the timestamp may be from Now (default 5 min).
	Tolerance time.Duration
	// Now is the receiver's clock (default time.Now).
	Now func() time.Time
}

// NewVerifier returns a verifier accepting messages signed with any of the
// secrets (a receiver may hold the old and the new one while rotating).
func NewVerifier(secrets ...string) (*Verifier, error) {
	if len(secrets) == 0 {
		return nil, fmt.Errorf("new verifier: %w: none given", ErrBadSecret)
	}
	v := &Verifier{Tolerance: DefaultTolerance, Now: time.Now}
	for i, s := range secrets {
		key, err := decodeSecret(s)
		if err != nil {
			return nil, fmt.Errorf("new verifier: secret %d: %w", i, err)
		}
		v.keys = append(v.keys, key)
	}
	return v, nil
}

// Verify checks that body was signed, recently, with one of the
// verifier's secrets. Errors wrap ErrNoSignature, ErrTimestamp or
// ErrBadSignature.
func (v *Verifier) Verify(header http.Header, body []byte) error {
	id, tsText, sigs := header.Get(HeaderID), header.Get(HeaderTimestamp), header.Get(HeaderSignature)
	if id == "" || tsText == "" || sigs == "" {
		return fmt.Errorf("verify webhook: %w: missing %s, %s or %s header", ErrNoSignature, HeaderID, HeaderTimestamp, HeaderSignature)
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("verify webhook %s: %w: %q is not unix seconds", id, ErrTimestamp, tsText)
	}
	now, tolerance := time.Now, v.Tolerance
	if v.Now != nil {
		now = v.Now
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	at := time.Unix(ts, 0)
	if d := now().Sub(at); d > tolerance || d < -tolerance {
		return fmt.Errorf("verify webhook %s: %w: %s from now", id, ErrTimestamp, d.Round(time.Second))
	}
	// Every key is tried against every v1 signature: rotation may put the
	// one we hold anywhere in the list.
	expected := make([][]byte, len(v.keys))
	for i, key := range v.keys {
		expected[i] = signature(key, id, ts, body)
	}
	found := false
	for _, vs := range strings.Fields(sigs) {
		version, sig, ok := strings.Cut(vs, ",")
		if !ok || version != "v1" {
			continue
		}
		found = true
		given, err := base64.StdEncoding.DecodeString(sig)
		if err != nil {
			continue
		}
		for _, want := range expected {
			if hmac.Equal(given, want) {
				return nil
			}
		}
	}
	if !found {
		return fmt.Errorf("verify webhook %s: %w: no v1 signature", id, ErrNoSignature)
	}
	return fmt.Errorf("verify webhook %s: %w", id, ErrBadSignature)
}
