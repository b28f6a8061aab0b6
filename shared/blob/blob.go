// Package blob defines the blob store port: uploaded inputs and task
// outputs, read back through expiring signed URLs. The database and files
// under the data folder on one machine, S3 in the cloud; every adapter
// passes the conformance suite in shared/blob/blobtest.
package blob

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"
)

var (
	// ErrNotFound: no object with that key.
	ErrNotFound = errors.New("blob not found")
	// ErrTooLarge: the content exceeded the size allowed for this Put.
	ErrTooLarge = errors.New("blob too large")
	// ErrInvalidKey: keys are relative paths of [A-Za-z0-9._-] segments.
	ErrInvalidKey = errors.New("invalid blob key")
)

// Store keeps objects by key.
type Store interface {
	// Put stores r under key, refusing (ErrTooLarge, nothing stored) past
	// maxBytes (0: no limit). An existing object is replaced.
	Put(ctx context.Context, key, contentType string, r io.Reader, maxBytes int64) (Object, error)
	// Get opens an object; the caller closes it.
	Get(ctx context.Context, key string) (io.ReadCloser, Object, error)
	// Stat describes an object without reading it.
	Stat(ctx context.Context, key string) (Object, error)
	// Delete removes an object; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// SignedURL returns a URL that serves the object to anyone holding it
	// until ttl has passed, and not after.
	SignedURL(ctx context.Context, key string, ttl time.Duration) (string, error)
	// Ping checks that the store answers.
	Ping(ctx context.Context) error
}

// Object describes a stored object.
type Object struct {
	Key         string
	ContentType string
	Size        int64
	SHA256      string // hex
	ModTime     time.Time
}

// MaxKeyLen is the longest key every adapter accepts.
const MaxKeyLen = 512

// ValidKey reports whether key is a relative path of [A-Za-z0-9._-]
// segments joined by '/', with no empty, "." or ".." segment, at most
// MaxKeyLen bytes: the keys every adapter accepts.
func ValidKey(key string) bool {
	if key == "" || len(key) > MaxKeyLen {
		return false
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
		for _, c := range []byte(seg) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
				return false
			}
		}
	}
	return true
}

// ContextReader reads r until ctx ends: a long copy stops when the caller
// gives up.
func ContextReader(ctx context.Context, r io.Reader) io.Reader { return ctxReader{ctx: ctx, r: r} }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
