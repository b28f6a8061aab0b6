package httpapi

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/webhook"
)

// Fetcher downloads the files a provider answers with, and the media of
// a task given by a user's URL, through the SSRF guard: no redirect is
// followed blindly, no proxy is used, and unless AllowPrivate no
// loopback, private or link-local address is connected to.
type Fetcher struct {
	HTTP         *http.Client
	MaxBytes     int64
	AllowPrivate bool // as the client was built
}

// NewFetcher returns the fetcher of s.
func NewFetcher(s Settings) *Fetcher {
	return &Fetcher{HTTP: GuardedClient(max(s.Timeout, 2*time.Minute), s.AllowPrivate), MaxBytes: s.MaxOutputBytes, AllowPrivate: s.AllowPrivate}
}

// GuardedClient is the webhook sender's guarded client, following up to
// five redirects (providers' output URLs redirect to their CDNs), each
// one's address checked again at connect.
func GuardedClient(timeout time.Duration, allowPrivate bool) *http.Client {
	c := webhook.NewClient(timeout, allowPrivate)
	if t, ok := c.Transport.(*http.Transport); ok && allowPrivate {
		// Private addresses are allowed for local development, but the
		// link-local range (the cloud's instance metadata) never is.
		d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: refuseLinkLocal}
		t.DialContext = d.DialContext
	}
	guard := webhook.Guard{AllowPrivate: allowPrivate}
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("more than 5 redirects")
		}
		return guard.CheckURL(req.URL.String())
	}
	return c
}

func refuseLinkLocal(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || ap.Addr().Unmap().IsLinkLocalUnicast() || ap.Addr().Unmap().IsLinkLocalMulticast() {
		return &webhook.BlockedError{Addr: ap.Addr(), Reason: "link-local"}
	}
	return nil
}

// Get downloads url. accept lists the content type prefixes taken (e.g.
// "image/"); a body of another type, one over the size cap, an address
// the guard refuses, or a URL that has expired (403, 404, 410) is a
// permanent error: polling again will not bring the file back.
func (f *Fetcher) Get(ctx context.Context, rawURL string, accept ...string) ([]byte, string, error) {
	if err := (webhook.Guard{AllowPrivate: f.AllowPrivate}).CheckURL(rawURL); err != nil {
		return nil, "", provider.NewPermanent("output_url_refused", "the provider's file URL is refused: "+err.Error(), err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, "", provider.NewPermanent("bad_output_url", "the provider's file URL is invalid", err)
	}
	resp, err := f.HTTP.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, "", fmt.Errorf("download: %w", context.Cause(ctx))
		}
		if errors.Is(err, webhook.ErrBlocked) {
			return nil, "", provider.NewPermanent("output_url_refused", "the provider's file URL names an address the server does not call", err)
		}
		return nil, "", provider.NewTransient("download", "download the provider's file from "+redact(rawURL), err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusForbidden, resp.StatusCode == http.StatusNotFound, resp.StatusCode == http.StatusGone:
		return nil, "", provider.NewPermanent("output_expired", fmt.Sprintf("the provider's file URL answered %d: it has expired or is gone", resp.StatusCode), nil)
	case resp.StatusCode >= 500, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout:
		return nil, "", provider.NewTransient("download", fmt.Sprintf("the provider's file URL answered %d", resp.StatusCode), nil)
	case resp.StatusCode != http.StatusOK:
		return nil, "", provider.NewPermanent("download", fmt.Sprintf("the provider's file URL answered %d", resp.StatusCode), nil)
	}
	limit := f.MaxBytes
	if limit <= 0 {
		limit = DefaultMaxOutputBytes
	}
	if resp.ContentLength > limit {
		return nil, "", provider.NewPermanent("output_too_large", fmt.Sprintf("the provider's file is %d bytes, over the cap of %d", resp.ContentLength, limit), nil)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, "", provider.NewTransient("download", "read the provider's file", err)
	}
	if int64(len(data)) > limit {
		return nil, "", provider.NewPermanent("output_too_large", fmt.Sprintf("the provider's file is over the cap of %d bytes", limit), nil)
	}
	ct := mediaType(resp.Header.Get("Content-Type"))
	if ct == "" || ct == "application/octet-stream" || ct == "binary/octet-stream" {
		ct = mediaType(http.DetectContentType(data))
	}
	if len(accept) > 0 && !hasPrefix(ct, accept) {
		return nil, "", provider.NewPermanent("bad_output_type", fmt.Sprintf("the provider's file is %s, not %s", ct, strings.Join(accept, " or ")), nil)
	}
	return data, ct, nil
}

// Media reads a task's input media: a file the platform holds through its
// Open, a user's URL through the guard. The cap keeps a provider's own
// limit (e.g. OpenAI's 25 MB); over it is a permanent fault of the request.
func (f *Fetcher) Media(ctx context.Context, m *provider.Media, maxBytes int64) ([]byte, string, error) {
	if m == nil {
		return nil, "", provider.NewRejected("no_media", "the task names no input media", nil)
	}
	if m.Open == nil {
		data, ct, err := f.Get(ctx, m.URL)
		if err != nil {
			return nil, "", err
		}
		if maxBytes > 0 && int64(len(data)) > maxBytes {
			return nil, "", provider.NewRejected("media_too_large", fmt.Sprintf("the input media is %d bytes; this provider takes at most %d", len(data), maxBytes), nil)
		}
		if m.ContentType != "" {
			ct = m.ContentType
		}
		return data, ct, nil
	}
	rc, err := m.Open(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("open the input media: %w", err)
	}
	defer rc.Close()
	limit := maxBytes
	if limit <= 0 {
		limit = DefaultMaxOutputBytes
	}
	data, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, "", fmt.Errorf("read the input media: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, "", provider.NewRejected("media_too_large", fmt.Sprintf("the input media is over %d bytes, the most this provider takes", limit), nil)
	}
	ct := m.ContentType
	if ct == "" {
		ct = mediaType(http.DetectContentType(data))
	}
	return data, ct, nil
}

// Still is a video task's first frame as providers that take an image by
// URL or as a data URI want it: the user's https URL, or a held image
// whose URL is public, as they are; otherwise the bytes (a user's http
// URL fetched through the guard, a held file read through Open) as a data
// URI of at most maxBytes bytes of image. imageURL is the input's
// image_url; m the still the platform holds (image_upload_id,
// image_task_id); "" when there is neither. A still that cannot be used is
// a fault of the request (bad_image).
func (f *Fetcher) Still(ctx context.Context, imageURL string, m *provider.Media, maxBytes int64) (string, error) {
	switch {
	case imageURL != "" && strings.HasPrefix(imageURL, "https://"):
		return imageURL, nil
	case imageURL != "":
		m = &provider.Media{URL: imageURL, Public: true}
	case m == nil:
		return "", nil
	case m.Public && strings.HasPrefix(m.URL, "https://"):
		return m.URL, nil
	}
	data, ct, err := f.Media(ctx, m, maxBytes)
	if pe, ok := errors.AsType[*provider.Error](err); ok && pe.Kind == provider.Permanent {
		// The fetcher's codes speak of outputs; this is the task's input.
		return "", provider.NewRejected("bad_image", "the still cannot be used: "+pe.Message, err)
	}
	if err != nil {
		return "", fmt.Errorf("read the still: %w", err)
	}
	if !strings.HasPrefix(ct, "image/") {
		return "", provider.NewRejected("bad_image", fmt.Sprintf("the still is %s, not an image", ct), nil)
	}
	return DataURI(ct, data), nil
}

// ResolveStill puts the still the platform holds for a video task (its
// image_upload_id or image_task_id, handed over as m) in the input's
// ImageURL, as Still makes it, for adapters that send image_url on: a
// public https URL as it is, else a data URI of at most maxBytes when the
// provider takes one (dataURI), else a fault of the request, so that the
// task fails over to a provider that can read it. Other inputs are left
// as they are.
func (f *Fetcher) ResolveStill(ctx context.Context, in task.Input, m *provider.Media, maxBytes int64, dataURI bool) error {
	v, ok := in.(*task.VideoInput)
	if !ok || v.ImageURL != "" || !v.HasStill() {
		return nil
	}
	if m == nil {
		return provider.NewRejected("no_still", "the task's still was not handed over", nil)
	}
	if !dataURI && !(m.Public && strings.HasPrefix(m.URL, "https://")) {
		return provider.NewRejected("still_not_public", "this provider reads a still by a public URL only, and the platform's file is not public", nil)
	}
	still, err := f.Still(ctx, "", m, maxBytes)
	if err != nil {
		return err
	}
	v.ImageURL = still
	return nil
}

// DataURI is data as a data: URI of content type ct.
func DataURI(ct string, data []byte) string {
	return "data:" + ct + ";base64," + base64.StdEncoding.EncodeToString(data)
}

// ExtOf is the file extension for a content type (".png" for
// "image/png"), or ".bin".
func ExtOf(ct string) string {
	switch mediaType(ct) {
	case "image/png":
		return ".png"
	case "image/jpeg":
		return ".jpg"
	case "image/webp":
		return ".webp"
	case "image/gif":
		return ".gif"
	case "video/mp4":
		return ".mp4"
	case "video/webm":
		return ".webm"
	case "video/quicktime":
		return ".mov"
	case "audio/mpeg":
		return ".mp3"
	case "audio/wav", "audio/x-wav", "audio/wave":
		return ".wav"
	case "application/json":
		return ".json"
	}
	if exts, _ := mime.ExtensionsByType(ct); len(exts) > 0 {
		return exts[0]
	}
	return ".bin"
}

func mediaType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(ct))
	}
	return mt
}

func hasPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
