package app

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/videoai/mediatasks/shared/blob"
	"github.com/videoai/mediatasks/shared/task"
)

// Upload is a file a client stored to use as a task's input.
type Upload struct {
	ID          string    `json:"upload_id"`
	URL         string    `json:"url"`
	ContentType string    `json:"content_type"`
	SizeBytes   int64     `json:"size_bytes"`
	SHA256      string    `json:"sha256"`
	CreatedAt   time.Time `json:"created_at"`
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

// ErrUploadTooLarge: the upload is over Limits.UploadMaxBytes.
var ErrUploadTooLarge = errors.New("upload too large")

// StoreUpload keeps an upload of the user's, refusing it past the limit.
func (a *App) StoreUpload(ctx context.Context, userID, contentType string, r io.Reader) (Upload, error) {
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	id := NewID()
	obj, err := a.blobs.Put(ctx, uploadKey(userID, id), contentType, r, a.limits.UploadMaxBytes)
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
	return Upload{ID: id, URL: url, ContentType: obj.ContentType, SizeBytes: obj.Size, SHA256: obj.SHA256, CreatedAt: obj.ModTime.UTC()}, nil
}
