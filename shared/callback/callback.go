// Package callback is how a provider's job reports its own end: the
// platform's callback URL for one task (signed, so that no one can end
// another task's wait), the secret a provider is given, the record of a
// task's wait (Waits), and the use case that receives one call (Receiver).
//
// A workflow whose provider was given a callback waits on a task token
// (a Step Functions .waitForTaskToken state, or the embedded engine's
// equivalent) and polls only as a slow fallback. The token is recorded
// under the task by the wait's step (Waits.Arm); the callback finds it
// there (Waits.Arrive) and ends the wait (Resumer). A callback that
// arrives before the wait was armed is recorded, and the wait ends as
// soon as it is armed.
package callback

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Path is the callback endpoint under the API's base URL; {name} is the
// provider's configured name.
const Path = "/api/v1/media/providers/{name}/callback"

// RefParam is the query parameter of the callback URL that carries the
// signed task reference.
const RefParam = "task"

// DefaultFallback is how long a workflow waits for a callback before it
// polls the provider once (and then waits again). Three minutes: most
// video and transcription jobs end within it, so their callback ends the
// wait before any fallback poll (a 2-minute video then makes 6 state
// transitions; each fallback poll adds 3), and a lost callback still
// costs a few minutes, not the task.
const DefaultFallback = 3 * time.Minute

// Errors.
var (
	// ErrBadReference: the URL's task reference is missing or not signed
	// by this platform for this provider.
	ErrBadReference = errors.New("the callback's task reference is not valid")
	// ErrUnknownProvider: no configured provider of that name calls back.
	ErrUnknownProvider = errors.New("no provider of that name calls back")
	// ErrNotWaiting is a Resumer's answer for a token no workflow waits
	// on any more (ended, timed out, answered already).
	ErrNotWaiting = errors.New("no workflow waits on this token")
)

// Keys derives the callback's secrets from one platform secret: the
// signature of each task reference, and each provider's shared secret.
type Keys struct{ secret []byte }

// NewKeys returns keys over secret (at least 16 bytes).
func NewKeys(secret []byte) (Keys, error) {
	if len(secret) < 16 {
		return Keys{}, fmt.Errorf("callback keys: the secret has %d bytes, want at least 16", len(secret))
	}
	return Keys{secret: secret}, nil
}

// KeysFrom derives the callback keys from another secret of the platform
// (the local server's signing key, the cloud's cursor key): a key of
// their own, so that no callback value signs anything else.
func KeysFrom(platformSecret []byte) (Keys, error) {
	if len(platformSecret) < 16 {
		return Keys{}, fmt.Errorf("callback keys: the platform secret has %d bytes, want at least 16", len(platformSecret))
	}
	m := hmac.New(sha256.New, platformSecret)
	m.Write([]byte("mediatasks provider callbacks"))
	return Keys{secret: m.Sum(nil)}, nil
}

func (k Keys) mac(parts ...string) []byte {
	m := hmac.New(sha256.New, k.secret)
	m.Write([]byte(strings.Join(parts, "\x00")))
	return m.Sum(nil)
}

// ProviderSecret is the secret provider is told to send back (a header
// value) or sign with: distinct per provider, so one provider's secret
// ends no other's waits.
func (k Keys) ProviderSecret(provider string) string {
	return base64.RawURLEncoding.EncodeToString(k.mac("provider-secret", provider))
}

// Ref is the signed reference to a task in provider's callback URL.
func (k Keys) Ref(taskID, provider string) string {
	return taskID + "." + base64.RawURLEncoding.EncodeToString(k.mac("task-ref", provider, taskID)[:16])
}

// TaskOf checks a reference signed by Ref for provider and returns its
// task id.
func (k Keys) TaskOf(ref, provider string) (string, error) {
	i := strings.LastIndexByte(ref, '.')
	if i <= 0 {
		return "", ErrBadReference
	}
	taskID := ref[:i]
	sig, err := base64.RawURLEncoding.DecodeString(ref[i+1:])
	if err != nil || !hmac.Equal(sig, k.mac("task-ref", provider, taskID)[:16]) {
		return "", ErrBadReference
	}
	return taskID, nil
}

// URL is provider's callback URL for a task under the API's public base
// URL (such as https://api.example.com).
func (k Keys) URL(baseURL, provider, taskID string) string {
	return strings.TrimRight(baseURL, "/") + strings.Replace(Path, "{name}", url.PathEscape(provider), 1) +
		"?" + RefParam + "=" + url.QueryEscape(k.Ref(taskID, provider))
}

// Waits records each task's wait for a callback, apart from the task
// itself: the job it waits on and the token that ends the wait.
type Waits interface {
	// Arm records that the task's workflow waits on token for the end of
	// provider's job, replacing any wait of the task on another job, and
	// reports whether that job's end was already received (the workflow
	// then goes on without waiting).
	Arm(ctx context.Context, taskID, provider, job, token string) (arrived bool, err error)
	// Arrive records that provider reported the end of job, and returns
	// the token the task's workflow waits on for it ("" when the wait is
	// not armed yet). A call about another job than the one the task
	// waits on changes nothing and returns "".
	Arrive(ctx context.Context, taskID, provider, job string) (token string, err error)
	// Forget removes the task's wait (the task ended).
	Forget(ctx context.Context, taskID string) error
}

// Resumer ends a workflow's wait on a token: the runner (SendTaskSuccess
// in Step Functions, the embedded engine's equivalent).
type Resumer interface {
	// ResumeWait ends the wait; ErrNotWaiting when no workflow waits on
	// the token.
	ResumeWait(ctx context.Context, token string) error
}
