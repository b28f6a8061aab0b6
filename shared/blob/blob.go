// Package blob defines the blob store port: uploaded inputs and task
// outputs, read back through expiring signed URLs. Files under the data
// folder on one machine, S3 in the cloud; every adapter passes the
// conformance suite in shared/blob/blobtest.
package blob

import (
	"context"
	"errors"
	"io"
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
