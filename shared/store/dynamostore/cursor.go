package dynamostore

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/videoai/mediatasks/shared/task"
)

// A listing cursor is the position of the last task shown: the sort key
// it has in the listing indexes (creation time and id, see positionKey),
// which is the index part of the LastEvaluatedKey a query ending on that
// task would return. The rest of that key is not carried: the partition is
// always the caller's own (built from the authenticated user, never from
// the cursor, so no cursor can reach another user's tasks) and the
// table's key follows from the id.
//
// The position is signed with an HMAC over the user and the position,
// truncated to 16 bytes, and the cursor is mac || position in unpadded
// base64url: a cursor that this store did not issue to this user (made
// up, truncated, edited, another user's or another table's) is refused
// with task.ErrBadCursor.
const cursorMACSize = 16

func (s *Store) cursorMAC(userID, position string) []byte {
	mac := hmac.New(sha256.New, s.cursorKey)
	mac.Write([]byte("tasks\x00" + userID + "\x00" + position))
	return mac.Sum(nil)[:cursorMACSize]
}

func (s *Store) encodeCursor(userID, position string) string {
	return base64.RawURLEncoding.EncodeToString(append(s.cursorMAC(userID, position), position...))
}

// decodeCursor returns the position a cursor holds.
func (s *Store) decodeCursor(userID, cursor string) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(raw) <= cursorMACSize {
		return "", fmt.Errorf("cursor %q: %w", cursor, task.ErrBadCursor)
	}
	position := string(raw[cursorMACSize:])
	if !hmac.Equal(raw[:cursorMACSize], s.cursorMAC(userID, position)) {
		return "", fmt.Errorf("cursor %q: not issued to this user by this store: %w", cursor, task.ErrBadCursor)
	}
	at, id, ok := strings.Cut(position, "#")
	if !ok || len(at) != 19 || strings.Trim(at, "0123456789") != "" || id == "" {
		return "", fmt.Errorf("cursor %q: %w", cursor, task.ErrBadCursor)
	}
	return position, nil
}
