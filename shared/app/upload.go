package app

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/videoai/mediatasks/shared/blob"
	"github.com/videoai/mediatasks/shared/task"
)

// Upload is a file a client stored to use as a task's input.
type Upload struct {
	ID          string `json:"upload_id"`
	URL         string `json:"url"`
	ContentType string `json:"content_type"`
	SizeBytes   int64  `json:"size_bytes"`
	// SHA256 is empty for a file the client sent straight to the blob
	// store (an UploadTicket) without a checksum.
	SHA256    string    `json:"sha256,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// Key is the upload's place in the blob store, for the steps that
	// hand its bytes to a provider.
	Key string `json:"-"`
}

// uploadKey places a user's uploads under a prefix of their own; the user
// id is encoded because ids from JWTs may hold any character.
func uploadKey(userID, uploadID string) string {
	return "uploads/" + base64.RawURLEncoding.EncodeToString([]byte(userID)) + "/" + uploadID
}

// OutputPrefix is the folder of a task's outputs in the blob store, under
// a prefix of its owner's.
func OutputPrefix(t *task.Task) string {
	return "outputs/" + base64.RawURLEncoding.EncodeToString([]byte(t.UserID)) + "/" + t.ID + "/"
}

// OutputKey is where a task's n-th output file is stored.
func OutputKey(t *task.Task, n int, ext string) string {
	return fmt.Sprintf("%s%d%s", OutputPrefix(t), n, ext)
}

// sniffBytes is how much of an upload its type is told from
// (http.DetectContentType reads at most 512 bytes).
const sniffBytes = 512

// ErrUploadType: an upload that is no media the platform can use.
var ErrUploadType = errors.New("not a media file")

// UploadTypeError says why an upload is refused: what it was declared as,
// and what its bytes are.
type UploadTypeError struct{ Declared, Sniffed string }

func (e *UploadTypeError) Error() string {
	if e.Sniffed == "" {
		return fmt.Sprintf("an upload must be audio, video or an image (not SVG), or bytes of no stated type, not %s", e.Declared)
	}
	return fmt.Sprintf("the file is declared %s but its bytes are %s: an upload must be audio, video or an image", e.Declared, e.Sniffed)
}

func (e *UploadTypeError) Unwrap() error { return ErrUploadType }

// checkUploadType refuses an upload that is not media, by its declared
// type (audio, video, an image but SVG, which runs scripts, or bytes of
// no stated type) and by its first bytes: a page, a document or an
// archive declared as media is refused too. Bytes the sniffer does not
// know (application/octet-stream) pass: most audio codecs are among them.
func checkUploadType(declared string, head []byte) error {
	mt, _, err := mime.ParseMediaType(declared)
	family, _, _ := strings.Cut(mt, "/")
	if err != nil || !(family == "audio" || family == "video" || family == "image" && mt != "image/svg+xml" || mt == "application/octet-stream") {
		return &UploadTypeError{Declared: declared}
	}
	if len(head) == 0 {
		return nil // empty: refused as such by the caller
	}
	sniffed, _, _ := mime.ParseMediaType(http.DetectContentType(head))
	sfamily, _, _ := strings.Cut(sniffed, "/")
	switch {
	case sniffed == "application/octet-stream", sfamily == "audio", sfamily == "video", sfamily == "image":
		return nil
	case sniffed == "application/ogg":
		return nil // Ogg audio or video
	}
	return &UploadTypeError{Declared: declared, Sniffed: sniffed}
}

// ErrUploadTooLarge: the upload is over Limits.UploadMaxBytes.
var ErrUploadTooLarge = errors.New("upload too large")

// StoreUpload keeps an upload of the user's, refusing it past the limit.
func (a *App) StoreUpload(ctx context.Context, userID, contentType string, r io.Reader) (Upload, error) {
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	head := bufio.NewReaderSize(r, sniffBytes)
	start, err := head.Peek(sniffBytes)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return Upload{}, fmt.Errorf("store upload: %w", err)
	}
	if err := checkUploadType(contentType, start); err != nil {
		return Upload{}, err
	}
	id := NewID()
	obj, err := a.blobs.Put(ctx, uploadKey(userID, id), contentType, head, a.limits.UploadMaxBytes)
	if errors.Is(err, blob.ErrTooLarge) {
		return Upload{}, fmt.Errorf("store upload: %w", ErrUploadTooLarge)
	}
	if err != nil {
		return Upload{}, fmt.Errorf("store upload: %w", err)
	}
	return a.presentUpload(ctx, id, obj)
}

// GetUpload returns the user's upload; another user's is task.ErrNotFound.
func (a *App) GetUpload(ctx context.Context, userID, uploadID string) (Upload, error) {
	if uploadID == "" || strings.ContainsAny(uploadID, "/.") {
		return Upload{}, fmt.Errorf("get upload %q: %w", uploadID, task.ErrNotFound)
	}
	obj, err := a.blobs.Stat(ctx, uploadKey(userID, uploadID))
	if errors.Is(err, blob.ErrNotFound) || errors.Is(err, blob.ErrInvalidKey) {
		return Upload{}, fmt.Errorf("get upload %s: %w", uploadID, task.ErrNotFound)
	}
	if err != nil {
		return Upload{}, fmt.Errorf("get upload %s: %w", uploadID, err)
	}
	return a.presentUpload(ctx, uploadID, obj)
}

// DeleteUpload removes the user's upload (a replayed idempotent upload
// drops its duplicate this way).
func (a *App) DeleteUpload(ctx context.Context, userID, uploadID string) error {
	if err := a.blobs.Delete(ctx, uploadKey(userID, uploadID)); err != nil {
		return fmt.Errorf("delete upload %s: %w", uploadID, err)
	}
	return nil
}

func (a *App) presentUpload(ctx context.Context, id string, obj blob.Object) (Upload, error) {
	url, err := a.blobs.SignedURL(ctx, obj.Key, a.limits.SignedURLTTL)
	if err != nil {
		return Upload{}, fmt.Errorf("sign upload url: %w", err)
	}
	return Upload{ID: id, URL: url, ContentType: obj.ContentType, SizeBytes: obj.Size, SHA256: obj.SHA256, CreatedAt: obj.ModTime.UTC(), Key: obj.Key}, nil
}

// UploadSigner is a blob store that lets clients send a file straight to
// it (S3: a presigned PUT), for uploads larger than the API can carry (API
// Gateway takes at most 10 MB). UploadURL signs a PUT of key that stores
// exactly size bytes of contentType, usable for ttl; headers are the ones
// the client must send with it, as signed.
type UploadSigner interface {
	UploadURL(ctx context.Context, key, contentType string, size int64, ttl time.Duration) (url string, headers map[string]string, err error)
}

// UploadURLTTL is how long a client has to start sending a file to its
// upload URL. The store checks it when the PUT begins, so a slow upload
// that began in time completes.
const UploadURLTTL = 15 * time.Minute

// UploadTicket tells a client where and how to send a file: one PUT of
// the file to URL with Headers, before ExpiresAt. The file is then the
// upload ID, as a file stored through StoreUpload is.
type UploadTicket struct {
	ID          string            `json:"upload_id"`
	Method      string            `json:"method"`
	URL         string            `json:"url"`
	Headers     map[string]string `json:"headers"`
	ContentType string            `json:"content_type"`
	SizeBytes   int64             `json:"size_bytes"`
	ExpiresAt   time.Time         `json:"expires_at"`
}

// ErrNoUploadURLs: the blob store takes files only through StoreUpload.
var ErrNoUploadURLs = errors.New("the blob store signs no upload URLs")

// SignsUploads reports whether clients may send files straight to the
// blob store (SignUpload).
func (a *App) SignsUploads() bool {
	_, ok := a.blobs.(UploadSigner)
	return ok
}

// SignUpload hands out an upload URL for a file of the user's of exactly
// size bytes of contentType, at most Limits.UploadMaxBytes.
func (a *App) SignUpload(ctx context.Context, userID, contentType string, size int64) (UploadTicket, error) {
	signer, ok := a.blobs.(UploadSigner)
	if !ok {
		return UploadTicket{}, fmt.Errorf("sign upload: %w", ErrNoUploadURLs)
	}
	if size > a.limits.UploadMaxBytes {
		return UploadTicket{}, fmt.Errorf("sign upload of %d bytes: %w", size, ErrUploadTooLarge)
	}
	if size <= 0 || contentType == "" {
		return UploadTicket{}, fmt.Errorf("sign upload: size %d and content type %q are required", size, contentType)
	}
	id := NewID()
	expires := a.now().UTC().Add(UploadURLTTL).Truncate(time.Second)
	url, headers, err := signer.UploadURL(ctx, uploadKey(userID, id), contentType, size, UploadURLTTL)
	if err != nil {
		return UploadTicket{}, fmt.Errorf("sign upload: %w", err)
	}
	return UploadTicket{ID: id, Method: http.MethodPut, URL: url, Headers: headers, ContentType: contentType, SizeBytes: size, ExpiresAt: expires}, nil
}
