package task

import "errors"

// ErrBadCursor: a listing cursor that no store issued (malformed, truncated
// or from another store). Every Store adapter wraps it, so that the API can
// answer 400 whichever store is behind it.
var ErrBadCursor = errors.New("bad cursor")
