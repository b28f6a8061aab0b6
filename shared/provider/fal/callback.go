package fal

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/httpapi"
)

var _ provider.Caller = (*Fal)(nil)

const (
	// DefaultWebhookJWKSURL is where fal publishes the public keys of its
	// webhook signatures (fal's docs, "Verifying your webhook").
	DefaultWebhookJWKSURL = "https://rest.fal.ai/.well-known/jwks.json"
	// jwksTTL is how long the keys are used before they are fetched
	// again: fal's docs allow caching them for up to 24 hours.
	jwksTTL = 12 * time.Hour
	// webhookTolerance is how far a webhook's timestamp may be from our
	// clock, as fal's docs ask: older calls may be replays.
	webhookTolerance = 5 * time.Minute
)

// fal's webhook headers.
const (
	headerRequestID = "X-Fal-Webhook-Request-Id"
	headerUserID    = "X-Fal-Webhook-User-Id"
	headerTimestamp = "X-Fal-Webhook-Timestamp"
	headerSignature = "X-Fal-Webhook-Signature"
)

// jwks is a JSON Web Key Set, as fal serves it.
type jwks struct {
	Keys []struct {
		Kty string `json:"kty"`
		Crv string `json:"crv"`
		X   string `json:"x"`
	} `json:"keys"`
}

// fetchKeys reads fal's webhook public keys (no key is sent: the set is
// public).
func (f *Fal) fetchKeys(ctx context.Context) ([]ed25519.PublicKey, error) {
	var set jwks
	if _, err := f.keys.JSON(ctx, httpapi.Call{Method: http.MethodGet, Path: f.jwksURL}, &set); err != nil {
		return nil, fmt.Errorf("fal %s: get the webhook keys: %w", f.name, err)
	}
	var keys []ed25519.PublicKey
	for _, k := range set.Keys {
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if k.Kty != "OKP" || k.Crv != "Ed25519" || err != nil || len(x) != ed25519.PublicKeySize {
			continue // a key of another kind, for something else
		}
		keys = append(keys, ed25519.PublicKey(x))
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("fal %s: the webhook keys: %w", f.name, provider.NewTransient("bad_answer", "fal's key set holds no Ed25519 key", nil))
	}
	return keys, nil
}

// VerifyCallback checks a fal webhook: an ED25519 signature, by one of
// the keys of fal's key set, over the request id, the user id, the
// timestamp (within 5 minutes) and the body's SHA-256; secret is not
// used. fal calls back once, at the end: the call is always final. The
// job it names is fal's request id.
func (f *Fal) VerifyCallback(ctx context.Context, header http.Header, body []byte, _ string) (string, bool, error) {
	bad := func(why string) (string, bool, error) {
		return "", false, fmt.Errorf("fal %s: callback: %w: %s", f.name, provider.ErrBadCallback, why)
	}
	id, user, tsText, sigHex := header.Get(headerRequestID), header.Get(headerUserID), header.Get(headerTimestamp), header.Get(headerSignature)
	if id == "" || user == "" || tsText == "" || sigHex == "" {
		return bad("a signature header is missing")
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return bad("the timestamp is not unix seconds")
	}
	if d := f.now().Sub(time.Unix(ts, 0)); d > webhookTolerance || d < -webhookTolerance {
		return bad(fmt.Sprintf("the timestamp is %s from now", d.Round(time.Second)))
	}
	sig, err := hex.DecodeString(sigHex)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return bad("the signature is not hex of an Ed25519 signature")
	}
	digest := sha256.Sum256(body)
	message := []byte(id + "\n" + user + "\n" + tsText + "\n" + hex.EncodeToString(digest[:]))
	keys, err := f.webhookKeys.Get(ctx)
	if err != nil {
		return "", false, err
	}
	ok := signedByOne(keys, message, sig)
	if !ok {
		// fal may have rotated its keys since they were fetched.
		if fresh, fetched, ferr := f.webhookKeys.Refresh(ctx); ferr == nil && fetched {
			ok = signedByOne(fresh, message, sig)
		}
	}
	if !ok {
		return bad("the signature does not match")
	}
	var call struct {
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal(body, &call); err != nil {
		return bad("the body is not fal's webhook JSON")
	}
	if call.RequestID != id {
		return bad("the body's request_id is not the signed one")
	}
	return id, true, nil
}

func signedByOne(keys []ed25519.PublicKey, message, sig []byte) bool {
	for _, k := range keys {
		if ed25519.Verify(k, message, sig) {
			return true
		}
	}
	return false
}

// withCallback adds fal_webhook to a submit's path when the platform
// gives a callback.
func withCallback(path string, cb *provider.Callback) string {
	if cb == nil {
		return path
	}
	return path + "?fal_webhook=" + url.QueryEscape(cb.URL)
}
