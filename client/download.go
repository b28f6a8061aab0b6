package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

type preferWaitContext struct{}

// WithPreferWait makes the submit called with ctx ask the server to hold
// its answer until the task ends or d passes (Prefer: wait, whole seconds,
// at most 60; the server may cap it lower). The answer is the task as it
// then is: ended, or still queued or running.
func WithPreferWait(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, preferWaitContext{}, min(max(d, 0), 60*time.Second))
}

// Download writes the output file at fileURL (a task's Output.Files[i].URL:
// signed, absolute or relative to the server) to w and returns the bytes
// written. A signed URL carries its own authority, so no API key is sent:
// a storage service such as S3 refuses a request that has both.
func (c *Client) Download(ctx context.Context, fileURL string, w io.Writer) (int64, error) {
	u, err := url.Parse(fileURL)
	if err != nil {
		return 0, fmt.Errorf("download: file url: %w", err)
	}
	if !u.IsAbs() {
		base, err := url.Parse(c.baseURL)
		if err != nil {
			return 0, fmt.Errorf("download: %w", err)
		}
		u = base.ResolveReference(u)
	}
	for attempt := 0; ; attempt++ {
		n, retry, err := c.downloadOnce(ctx, u.String(), w)
		// A retry would append to what was written: only a try that wrote
		// nothing is made again.
		if err == nil || !retry || n > 0 || attempt >= c.retries {
			return n, err
		}
		if err := sleep(ctx, c.wait(attempt, 0)); err != nil {
			return 0, err
		}
	}
}

func (c *Client) downloadOnce(ctx context.Context, u string, w io.Writer) (n int64, retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, false, fmt.Errorf("download: %w", err)
	}
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, ctx.Err() == nil, fmt.Errorf("download: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		retry = resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
		return 0, retry, fmt.Errorf("download: %w", problemFrom(resp.StatusCode, body))
	}
	n, err = io.Copy(w, resp.Body)
	if err != nil {
		return n, false, fmt.Errorf("download: after %d bytes: %w", n, err)
	}
	return n, false, nil
}

// DownloadFile writes the output file at fileURL to path, through a
// temporary file beside it, so that path is either whole or absent.
func (c *Client) DownloadFile(ctx context.Context, fileURL, path string) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.part")
	if err != nil {
		return 0, fmt.Errorf("download: %w", err)
	}
	// CreateTemp makes the file for its owner only; an output is as
	// readable as any file the user writes.
	n, err := int64(0), tmp.Chmod(0o644)
	if err == nil {
		n, err = c.Download(ctx, fileURL, tmp)
	}
	if cerr := tmp.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("download: %w", cerr)
	}
	if err == nil {
		if err = os.Rename(tmp.Name(), path); err != nil {
			err = fmt.Errorf("download: %w", err)
		}
	}
	if err != nil {
		return 0, errors.Join(err, os.Remove(tmp.Name()))
	}
	return n, nil
}
