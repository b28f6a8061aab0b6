package app_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/app"
	"github.com/videoai/mediatasks/shared/blob"
	"github.com/videoai/mediatasks/shared/blob/s3blob"
	"github.com/videoai/mediatasks/shared/queue/sqlitequeue"
	"github.com/videoai/mediatasks/shared/sqlitedb"
	"github.com/videoai/mediatasks/shared/store/sqlitestore"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/testkit/awstest"
)

func TestMain(m *testing.M) { os.Exit(awstest.Main(m)) }

// appOn builds an App over SQLite and the given blob store.
func appOn(t *testing.T, blobs blob.Store, limits app.Limits) *app.App {
	t.Helper()
	ctx := context.Background()
	db, err := sqlitedb.Open(filepath.Join(t.TempDir(), "app.db"), sqlitedb.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st, err := sqlitestore.New(ctx, db, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	q, err := sqlitequeue.New(ctx, db, "tasks", sqlitequeue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(app.Deps{Store: sqlitestore.WithQueue{Store: st, Queue: q}, Tasks: q, Blobs: blobs, Limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// A file sent to an upload URL on S3 (fauxqs) is then the user's upload,
// read through the blob store as any other; another user cannot see it.
// fauxqs checks no signature (see s3blob's tests, where a SigV4 check in
// front of it refuses a PUT outside the signed size and type): this test
// covers the way from ticket to upload, not the refusals.
func TestSignedUploadOnS3(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	client := awstest.S3(t)
	bucket := awstest.Name(t)
	if err := s3blob.CreateBucket(ctx, client, bucket); err != nil {
		t.Fatal(err)
	}
	a := appOn(t, s3blob.New(client, bucket, s3blob.Options{}), app.Limits{UploadMaxBytes: 1 << 20})
	if !a.SignsUploads() {
		t.Fatal("an App on S3 signs no uploads")
	}
	before := time.Now()
	ticket, err := a.SignUpload(ctx, "alice", "audio/wav", 9)
	if err != nil {
		t.Fatal(err)
	}
	if ticket.ID == "" || ticket.Method != http.MethodPut || ticket.Headers["Content-Type"] != "audio/wav" || ticket.SizeBytes != 9 {
		t.Fatalf("ticket %+v", ticket)
	}
	if ticket.ExpiresAt.Before(before.Add(app.UploadURLTTL-time.Second)) || ticket.ExpiresAt.After(time.Now().Add(app.UploadURLTTL)) {
		t.Errorf("expires at %s, want about %s after %s", ticket.ExpiresAt, app.UploadURLTTL, before)
	}
	if _, err := a.GetUpload(ctx, "alice", ticket.ID); !errors.Is(err, task.ErrNotFound) {
		t.Fatalf("upload before its PUT: err = %v, want ErrNotFound", err)
	}

	req, err := http.NewRequestWithContext(ctx, ticket.Method, ticket.URL, bytes.NewReader([]byte("RIFF.WAVE")))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range ticket.Headers {
		if k != "Content-Length" {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT: status %d", resp.StatusCode)
	}

	up, err := a.GetUpload(ctx, "alice", ticket.ID)
	if err != nil {
		t.Fatal(err)
	}
	if up.ContentType != "audio/wav" || up.SizeBytes != 9 || up.URL == "" {
		t.Errorf("upload %+v", up)
	}
	if _, err := a.GetUpload(ctx, "bob", ticket.ID); !errors.Is(err, task.ErrNotFound) {
		t.Errorf("another user's upload: err = %v, want ErrNotFound", err)
	}
	if _, err := a.SignUpload(ctx, "alice", "audio/wav", 1<<20+1); !errors.Is(err, app.ErrUploadTooLarge) {
		t.Errorf("sign past the limit: err = %v, want ErrUploadTooLarge", err)
	}
}

// A blob store that signs no URLs (files on one machine) takes uploads
// only through StoreUpload.
func TestSignUploadNeedsASigningStore(t *testing.T) {
	t.Parallel()
	b := setup(t, false)
	if b.app.SignsUploads() {
		t.Fatal("an App on files signs uploads")
	}
	if _, err := b.app.SignUpload(context.Background(), "alice", "audio/wav", 9); !errors.Is(err, app.ErrNoUploadURLs) {
		t.Fatalf("err = %v, want ErrNoUploadURLs", err)
	}
}
