package dynamostore

import (
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
// table's key follows from the id. The position is signed for the user
// (shared/store/cursor): a cursor this store did not issue to this user
// is refused with task.ErrBadCursor.

func (s *Store) encodeCursor(userID, position string) string {
	return s.cursors.Encode("tasks", userID, position)
}

// decodeCursor returns the position a cursor holds.
func (s *Store) decodeCursor(userID, c string) (string, error) {
	position, ok := s.cursors.Decode("tasks", userID, c)
	if !ok {
		return "", fmt.Errorf("cursor %q: not issued to this user by this store: %w", c, task.ErrBadCursor)
	}
	at, id, ok := strings.Cut(position, "#")
	if !ok || len(at) != 19 || strings.Trim(at, "0123456789") != "" || id == "" {
		return "", fmt.Errorf("cursor %q: %w", c, task.ErrBadCursor)
	}
	return position, nil
}
