package fsblob

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/videoai/mediatasks/shared/blob"
)

// Signer makes and checks the expiring signed URLs of this package, and
// serves them. It is exported so that other stores on this machine (the
// SQLite one, the tiered one over both) hand out and serve the very same
// URLs: one scheme, one check, whichever store holds the object.
type Signer struct {
	opts Options
}

// NewSigner takes the signing fields of opts (BaseURL, Secret, Prefix,
// Now) and applies their defaults.
func NewSigner(opts Options) (*Signer, error) {
	if len(opts.Secret) < 32 {
		return nil, fmt.Errorf("the signing secret has %d bytes, want at least 32", len(opts.Secret))
	}
	if opts.Prefix == "" {
		opts.Prefix = "/files/"
	}
	if !strings.HasPrefix(opts.Prefix, "/") || !strings.HasSuffix(opts.Prefix, "/") {
		return nil, fmt.Errorf("prefix %q must start and end with /", opts.Prefix)
	}
	opts.BaseURL = strings.TrimSuffix(opts.BaseURL, "/")
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Signer{opts: opts}, nil
}

// URL returns BaseURL + Prefix + key + "?expires=<unix>&sig=<sig>"; the
// caller has checked the key. The expiry is rounded up to the second, so
// a URL lives at least ttl (and less than a second more).
func (s *Signer) URL(key string, ttl time.Duration) (string, error) {
	if ttl <= 0 {
		return "", fmt.Errorf("sign %s: ttl %s is not positive", key, ttl)
	}
	end := s.opts.Now().Add(ttl)
	expires := end.Unix()
	if end.After(time.Unix(expires, 0)) {
		expires++
	}
	exp := strconv.FormatInt(expires, 10)
	return s.opts.BaseURL + s.opts.Prefix + key + "?expires=" + exp + "&sig=" + s.sign(key, exp), nil
}

// sign is base64url(HMAC-SHA256(secret, key "\n" expires)). The newline,
// which no key holds, keeps key "a1" with expiry 23 apart from key "a" with
// expiry 123.
func (s *Signer) sign(key, expires string) string {
	m := hmac.New(sha256.New, s.opts.Secret)
	m.Write([]byte(key))
	m.Write([]byte{'\n'})
	m.Write([]byte(expires))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// verify checks a URL's signature and expiry.
func (s *Signer) verify(key, expires, sig string) error {
	// Comparing the encoded forms refuses every other spelling of the
	// same bytes as well.
	if !hmac.Equal([]byte(sig), []byte(s.sign(key, expires))) {
		return errors.New("signature does not match")
	}
	exp, err := strconv.ParseInt(expires, 10, 64)
	if err != nil {
		return errors.New("malformed expiry")
	}
	if s.opts.Now().After(time.Unix(exp, 0)) {
		return errors.New("URL expired")
	}
	return nil
}

// Handler serves GET and HEAD of signed URLs, ranges included, for keys
// validKey accepts, reading each object with get (a store's Get). The
// readers get returns must seek, as files and in-memory content do: ranges
// and HEAD need it.
func (s *Signer) Handler(validKey func(string) bool,
	get func(ctx context.Context, key string) (io.ReadCloser, blob.Object, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			problem(w, http.StatusMethodNotAllowed, "only GET and HEAD")
			return
		}
		key, ok := strings.CutPrefix(r.URL.Path, s.opts.Prefix)
		if !ok || !validKey(key) {
			problem(w, http.StatusNotFound, "no such file")
			return
		}
		q := r.URL.Query()
		if err := s.verify(key, q.Get("expires"), q.Get("sig")); err != nil {
			problem(w, http.StatusForbidden, err.Error())
			return
		}
		rc, obj, err := get(r.Context(), key)
		if errors.Is(err, blob.ErrNotFound) {
			problem(w, http.StatusNotFound, "no such file")
			return
		}
		if err != nil {
			problem(w, http.StatusInternalServerError, "cannot read the file")
			return
		}
		defer rc.Close()
		content, ok := rc.(io.ReadSeeker)
		if !ok {
			problem(w, http.StatusInternalServerError, "cannot read the file")
			return
		}
		h := w.Header()
		h.Set("Content-Type", obj.ContentType)
		h.Set("ETag", `"`+obj.SHA256+`"`)
		// Objects are user content served from the API's own origin: never
		// sniff them into something runnable, and sandbox any HTML.
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "sandbox")
		http.ServeContent(w, r, "", obj.ModTime, content)
	})
}

// problem writes an RFC 9457 problem document.
func problem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{
		"type":   "about:blank",
		"title":  http.StatusText(status),
		"status": status,
		"detail": detail,
	})
}
