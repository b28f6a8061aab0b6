package cursor_test

import (
	"encoding/base64"
	"testing"

	"github.com/videoai/mediatasks/shared/store/cursor"
)

// A cursor decodes only for the signer, listing and user it was made for,
// and only unchanged.
func TestCursorsAreTamperProof(t *testing.T) {
	t.Parallel()
	s, other := cursor.New([]byte("key one")), cursor.New([]byte("key two"))
	c := s.Encode("tasks", "alice", "1800000000000000000.tsk_1")
	if pos, ok := s.Decode("tasks", "alice", c); !ok || pos != "1800000000000000000.tsk_1" {
		t.Fatalf("Decode = %q, %v", pos, ok)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(c)
	flipped := append([]byte{}, raw...)
	flipped[len(flipped)-1] ^= 1
	for name, tc := range map[string]struct {
		s                     cursor.Signer
		listing, user, cursor string
	}{
		"another user":      {s, "tasks", "bob", c},
		"another listing":   {s, "deliveries", "alice", c},
		"another key":       {other, "tasks", "alice", c},
		"a byte changed":    {s, "tasks", "alice", base64.RawURLEncoding.EncodeToString(flipped)},
		"the position only": {s, "tasks", "alice", base64.RawURLEncoding.EncodeToString(raw[16:])},
		"truncated":         {s, "tasks", "alice", c[:len(c)-2]},
		"not base64":        {s, "tasks", "alice", "%%%"},
		"empty":             {s, "tasks", "alice", ""},
	} {
		if pos, ok := tc.s.Decode(tc.listing, tc.user, tc.cursor); ok {
			t.Errorf("%s: decoded to %q", name, pos)
		}
	}
	if a, b := cursor.New(nil), cursor.New(nil); func() bool { _, ok := b.Decode("tasks", "alice", a.Encode("tasks", "alice", "p")); return ok }() {
		t.Error("two random keys accept each other's cursors")
	}
}
