// Package cursor makes the stores' listing cursors opaque and
// tamper-proof: a cursor is a listing position signed for one user and one
// listing, so that a cursor the store did not issue to that user (made up,
// truncated, edited, another user's, another listing's or another key's)
// is refused, whatever the position inside it would name.
package cursor

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
)

// macSize is the bytes of HMAC-SHA256 a cursor carries: 128 bits.
const macSize = 16

// Signer signs and checks cursors with one key. Every store instance over
// one database must share it.
type Signer struct{ key []byte }

// New returns a signer over key; an empty key is a random one, good for
// the life of the process only (cursors then do not survive a restart).
func New(key []byte) Signer {
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key) // crypto/rand does not fail
	}
	return Signer{key: key}
}

func (s Signer) mac(listing, userID, position string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(listing + "\x00" + userID + "\x00" + position))
	return m.Sum(nil)[:macSize]
}

// Encode is the cursor of position in listing for userID: unpadded
// base64url of the MAC and the position.
func (s Signer) Encode(listing, userID, position string) string {
	return base64.RawURLEncoding.EncodeToString(append(s.mac(listing, userID, position), position...))
}

// Decode returns the position a cursor holds, and false for a cursor this
// signer did not issue for this listing and user.
func (s Signer) Decode(listing, userID, cursor string) (string, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(raw) <= macSize {
		return "", false
	}
	position := string(raw[macSize:])
	if !hmac.Equal(raw[:macSize], s.mac(listing, userID, position)) {
		return "", false
	}
	return position, true
}
