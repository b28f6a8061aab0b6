package api

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"net/http"
	"strconv"

	"github.com/videoai/mediatasks/shared/task"
)

// maxIdempotencyKey is the longest Idempotency-Key taken.
const maxIdempotencyKey = 255

// idempotent is a POST's Idempotency-Key state: the key (empty when the
// request has none), the request's hash, and a stored answer to replay.
type idempotent struct {
	user, key, hash string
	stored          *task.IdempotencyRecord
}

// newRequestHash starts the hash of a request: method, path, then body.
func newRequestHash(r *http.Request) hash.Hash {
	h := sha256.New()
	h.Write([]byte(r.Method))
	h.Write([]byte{0})
	h.Write([]byte(r.URL.Path))
	h.Write([]byte{0})
	return h
}

// hashRequest hashes a request whose body is in hand.
func hashRequest(r *http.Request, body []byte) func() string {
	return func() string {
		h := newRequestHash(r)
		h.Write(body)
		return hex.EncodeToString(h.Sum(nil))
	}
}

// idempotencyKey reads and checks the Idempotency-Key header.
func idempotencyKey(r *http.Request) (string, error) {
	key := r.Header.Get("Idempotency-Key")
	if len(key) > maxIdempotencyKey {
		return "", invalid(fieldError("Idempotency-Key", "must be at most %d characters", maxIdempotencyKey))
	}
	return key, nil
}

// idempotency looks the request's key up: a stored answer for the same
// request is kept for replay; one for another request is a 422. The hash
// is computed only when the request carries a key.
func (s *server) idempotency(r *http.Request, user string, hashOf func() string) (idempotent, error) {
	key, err := idempotencyKey(r)
	if err != nil || key == "" {
		return idempotent{}, err
	}
	hash := hashOf()
	idem, err := s.lookupIdempotency(r, user, key, known(hash))
	if err != nil {
		return idempotent{}, err
	}
	idem.hash = hash
	return idem, nil
}

// lookupIdempotency reads the answer stored under the user's key. hashOf
// is called only when there is one, to tell the same request (kept for
// replay, with its hash) from another (a 422); without one the result has
// no hash yet.
func (s *server) lookupIdempotency(r *http.Request, user, key string, hashOf func() (string, error)) (idempotent, error) {
	idem := idempotent{user: user, key: key}
	rec, err := s.app.Answer(r.Context(), user, key)
	if errors.Is(err, task.ErrNotFound) {
		return idem, nil
	}
	if err != nil {
		return idempotent{}, err
	}
	if idem.hash, err = hashOf(); err != nil {
		return idempotent{}, err
	}
	if rec.RequestHash != idem.hash {
		return idempotent{}, reusedKey()
	}
	idem.stored = rec
	return idem, nil
}

// known is a hashOf for a hash in hand.
func known(hash string) func() (string, error) {
	return func() (string, error) { return hash, nil }
}

func reusedKey() *Problem {
	return &Problem{Status: http.StatusUnprocessableEntity,
		Detail: "this Idempotency-Key was used with another request",
		Errors: []FieldError{{Field: "Idempotency-Key", Message: "already used with a different method, path or body"}}}
}

// replay writes the stored answer, if there is one, and reports whether
// it did.
func (i idempotent) replay(w http.ResponseWriter) bool {
	rec := i.stored
	if rec == nil {
		return false
	}
	h := w.Header()
	for k, v := range rec.Headers {
		h.Set(k, v)
	}
	h.Set("Idempotent-Replayed", "true")
	h.Set("Content-Length", strconv.Itoa(len(rec.Body)))
	w.WriteHeader(rec.StatusCode)
	_, _ = w.Write(rec.Body)
	return true
}

// record builds the record that remembers an answer (nil without a key).
func (i idempotent) record(s *server, status int, location string, body []byte) *task.IdempotencyRecord {
	if i.key == "" {
		return nil
	}
	now := s.app.Now().UTC()
	headers := map[string]string{"Content-Type": "application/json"}
	if location != "" {
		headers["Location"] = location
	}
	return &task.IdempotencyRecord{
		UserID: i.user, Key: i.key, RequestHash: i.hash,
		StatusCode: status, Headers: headers, Body: body,
		CreatedAt: now, ExpiresAt: now.Add(s.app.Limits().IdempotencyTTL),
	}
}

// lostRace handles a submit's error: when a concurrent request with the
// same key stored its answer first, that answer is replayed (or 422 if it
// was another request).
func (i idempotent) lostRace(s *server, w http.ResponseWriter, r *http.Request, err error) error {
	return i.replayOn(s, w, r, err, task.ErrIdempotencyKeyExists)
}

// replayOn handles err, when it is target and the request has a key, by
// replaying the answer stored under the key since the first look-up (or
// 422 if it was another request's); otherwise, or with no answer stored,
// err stands.
func (i idempotent) replayOn(s *server, w http.ResponseWriter, r *http.Request, err, target error) error {
	if i.key == "" || !errors.Is(err, target) {
		return err
	}
	won, lerr := s.lookupIdempotency(r, i.user, i.key, known(i.hash))
	if lerr != nil {
		return lerr
	}
	if !won.replay(w) {
		return err // none stored, or stored and gone already: expired in between
	}
	return nil
}

// remember stores an answer given outside a submit (cancel, upload),
// after it was made. When a concurrent request stored one first, that one
// is replayed instead and remember reports true.
func (i idempotent) remember(s *server, w http.ResponseWriter, r *http.Request, rec *task.IdempotencyRecord) (replayed bool, err error) {
	if rec == nil {
		return false, nil
	}
	err = s.app.RememberAnswer(r.Context(), *rec)
	if err == nil {
		return false, nil
	}
	if !errors.Is(err, task.ErrIdempotencyKeyExists) {
		return false, err
	}
	return true, i.lostRace(s, w, r, err)
}

// cancelled handles a cancel's error. A cancel that finds the task ended
// may have lost to a concurrent cancel with the same key, whose answer is
// stored only after it was made: that answer is replayed if it is there
// by now, else the 409 stands.
func (i idempotent) cancelled(s *server, w http.ResponseWriter, r *http.Request, err error) error {
	return i.replayOn(s, w, r, err, task.ErrTerminal)
}
