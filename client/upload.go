package client

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// Upload stores a file the server can use as a task's input (audio to
// transcribe, an image to start a video from): size bytes of r, of
// contentType (audio/*, video/* or image/*). A size below 0 is unknown
// (the body is sent chunked). The call is retried only when r is an
// io.Seeker, since the body must be sent again from its start.
func (c *Client) Upload(ctx context.Context, r io.Reader, contentType string, size int64) (Upload, error) {
	if contentType == "" {
		return Upload{}, errors.New("upload: the content type is required")
	}
	req := request{method: http.MethodPost, path: "/uploads", contentType: contentType}
	if seeker, ok := r.(io.Seeker); ok {
		start, err := seeker.Seek(0, io.SeekCurrent)
		if err != nil {
			return Upload{}, fmt.Errorf("upload: %w", err)
		}
		req.body = func() (io.Reader, error) {
			if _, err := seeker.Seek(start, io.SeekStart); err != nil {
				return nil, err
			}
			return sizedReader{r, size}, nil
		}
	} else {
		once := false
		req.noRetry = true
		req.body = func() (io.Reader, error) {
			if once {
				return nil, errors.New("the body cannot be sent twice")
			}
			once = true
			return sizedReader{r, size}, nil
		}
	}
	var up Upload
	if err := c.call(ctx, req, &up); err != nil {
		return Upload{}, fmt.Errorf("upload: %w", err)
	}
	return up, nil
}

// sizedReader tells send the length of the body it reads.
type sizedReader struct {
	io.Reader
	size int64
}

func (s sizedReader) Size() int64 { return s.size }

// UploadFile uploads the file at path, its type sniffed from its first
// bytes, or read from its extension when the bytes say nothing more
// specific than text or binary.
func (c *Client) UploadFile(ctx context.Context, path string) (Upload, error) {
	f, err := os.Open(path)
	if err != nil {
		return Upload{}, fmt.Errorf("upload file: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return Upload{}, fmt.Errorf("upload file: %w", err)
	}
	head := make([]byte, 512)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return Upload{}, fmt.Errorf("upload file %s: %w", path, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return Upload{}, fmt.Errorf("upload file %s: %w", path, err)
	}
	ct := sniffType(head[:n], filepath.Ext(path))
	up, err := c.Upload(ctx, f, ct, info.Size())
	if err != nil {
		return Upload{}, fmt.Errorf("file %s: %w", path, err)
	}
	return up, nil
}

// sniffType names the media type of a file from its first bytes and its
// extension.
func sniffType(head []byte, ext string) string {
	sniffed := http.DetectContentType(head)
	mt, _, _ := mime.ParseMediaType(sniffed)
	if mt != "application/octet-stream" && !strings.HasPrefix(mt, "text/") {
		return sniffed
	}
	if byExt := mime.TypeByExtension(ext); byExt != "" {
		return byExt
	}
	return sniffed
}

// RequestUploadURL asks the server for a URL to send a file of size bytes
// and contentType to: where its store signs upload URLs (the cloud, whose
// API cannot carry large bodies). Elsewhere (the local server) it is an
// error: use Upload there.
func (c *Client) RequestUploadURL(ctx context.Context, contentType string, size int64) (UploadTicket, error) {
	var t UploadTicket
	if err := c.post(ctx, "/uploads", UploadTicketRequest{ContentType: contentType, SizeBytes: size}, &t); err != nil {
		return UploadTicket{}, fmt.Errorf("request upload url: %w", err)
	}
	if t.Method == "" || t.URL == "" {
		return UploadTicket{}, errors.New("request upload url: the server does not sign upload URLs; use Upload")
	}
	return t, nil
}

// UploadToURL sends the file r holds (t.SizeBytes of it) to the ticket's
// URL, with the ticket's headers and no credentials of the API. It is
// tried once: the store's signature allows another try with the same
// ticket, from the start of the file.
func (c *Client) UploadToURL(ctx context.Context, t UploadTicket, r io.Reader) error {
	req, err := http.NewRequestWithContext(ctx, cmp.Or(t.Method, http.MethodPut), t.URL, r)
	if err != nil {
		return fmt.Errorf("upload to url: %w", err)
	}
	for k, v := range t.Headers {
		if !strings.EqualFold(k, "Content-Length") { // Go sends ContentLength itself
			req.Header.Set(k, v)
		}
	}
	req.ContentLength = t.SizeBytes
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("upload to url: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("upload to url: %w", problemFrom(resp.StatusCode, body))
	}
	return nil
}
