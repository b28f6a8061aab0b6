package api

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/videoai/mediatasks/shared/app"
)

// multipartSlack is what a multipart body may carry beyond the file: its
// boundaries, part headers and small other fields.
const multipartSlack = 64 << 10

// watchReader remembers the first read error that is not io.EOF, so that
// the client's faults (a body over the limit, a malformed multipart
// stream) are told from the blob store's.
type watchReader struct {
	r   io.Reader
	err error
}

func (w *watchReader) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if err != nil && err != io.EOF && w.err == nil {
		w.err = err
	}
	return n, err
}

// upload stores a file: multipart/form-data with the file in field "file"
// (streamed, never held in memory whole), or any other body as the file
// itself with its Content-Type. 201 with the upload. Where the blob store
// signs upload URLs (S3), a JSON body {"content_type", "size_bytes"} is
// answered instead with an upload ticket: 201 with a URL that the client
// PUTs the file to.
func (s *server) upload(w http.ResponseWriter, r *http.Request, user string) error {
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	limit := s.app.Limits().UploadMaxBytes
	if r.ContentLength > limit+multipartSlack {
		return app.ErrUploadTooLarge
	}
	ct := r.Header.Get("Content-Type")
	mt, params, mterr := mime.ParseMediaType(ct)
	if ct != "" && mterr != nil {
		return &Problem{Status: http.StatusUnsupportedMediaType, Detail: "the Content-Type cannot be parsed",
			Errors: []FieldError{{Field: "Content-Type", Message: "is not a media type"}}}
	}
	hasher := newRequestHash(r)
	body := &watchReader{r: io.TeeReader(http.MaxBytesReader(w, r.Body, limit+multipartSlack), hasher)}
	sum := func() (string, error) {
		if _, err := io.Copy(io.Discard, body); err != nil { // the rest, if any, is hashed too
			return "", clientBodyError(err)
		}
		return hex.EncodeToString(hasher.Sum(nil)), nil
	}

	// The body is read (and hashed) before storing only when an answer is
	// stored under the key: to tell a replay from a reused key.
	idem := idempotent{user: user, key: key}
	if key != "" {
		if idem, err = s.lookupIdempotency(r, user, key, sum); err != nil || idem.replay(w) {
			return err
		}
	}

	// A JSON body asks for an upload URL, where the blob store can sign
	// one; elsewhere it is a file like any other.
	if mt == "application/json" && s.app.SignsUploads() {
		return s.signUpload(w, r, user, body, sum, idem)
	}

	var up app.Upload
	if mt == "multipart/form-data" {
		up, err = s.storeMultipart(r, user, body, params["boundary"])
	} else {
		up, err = s.app.StoreUpload(r.Context(), user, ct, body)
		if err != nil && body.err != nil && !errors.Is(err, app.ErrUploadTooLarge) {
			err = clientBodyError(body.err)
		}
	}
	if err != nil {
		return err
	}
	if idem.hash, err = sum(); err != nil {
		s.dropUpload(r, user, up.ID)
		return err
	}
	if up.SizeBytes == 0 {
		s.dropUpload(r, user, up.ID)
		return invalid(fieldError("file", "is empty"))
	}
	out, err := json.Marshal(up)
	if err != nil {
		s.dropUpload(r, user, up.ID)
		return fmt.Errorf("encode upload: %w", err)
	}
	replayed, err := idem.remember(s, w, r, idem.record(s, http.StatusCreated, "", out))
	if replayed || err != nil {
		s.dropUpload(r, user, up.ID) // the first request's upload stands
		return err
	}
	writeBody(w, http.StatusCreated, "application/json", out)
	return nil
}

// storeMultipart stores the part named "file", skipping the others.
func (s *server) storeMultipart(r *http.Request, user string, body *watchReader, boundary string) (app.Upload, error) {
	if boundary == "" {
		return app.Upload{}, invalid(fieldError("Content-Type", "multipart/form-data needs a boundary"))
	}
	mr := multipart.NewReader(body, boundary)
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return app.Upload{}, invalid(fieldError("file", "is required: send the file in the multipart field \"file\""))
		}
		if err != nil {
			return app.Upload{}, clientBodyError(err)
		}
		if part.FormName() != "file" {
			if _, err := io.Copy(io.Discard, part); err != nil {
				return app.Upload{}, clientBodyError(err)
			}
			continue
		}
		pr := &watchReader{r: part}
		up, err := s.app.StoreUpload(r.Context(), user, part.Header.Get("Content-Type"), pr)
		if err != nil && pr.err != nil && !errors.Is(err, app.ErrUploadTooLarge) {
			err = clientBodyError(pr.err)
		}
		return up, err
	}
}

// clientBodyError maps a failure to read the request body: over the size
// limit is 413, anything else (malformed, cut short) is 400.
func clientBodyError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return app.ErrUploadTooLarge
	}
	return invalid(fieldError("body", "could not be read: %v", err))
}

func (s *server) dropUpload(r *http.Request, user, id string) {
	if err := s.app.DeleteUpload(r.Context(), user, id); err != nil {
		s.log.WarnContext(r.Context(), "drop an upload that was not kept", "upload_id", id, "err", err)
	}
}

// maxTicketRequest caps the JSON body that asks for an upload URL.
const maxTicketRequest = 64 << 10

// maxContentTypeChars caps a declared content type.
const maxContentTypeChars = 255

// ticketRequest asks for an upload URL.
type ticketRequest struct {
	ContentType string `json:"content_type"`
	SizeBytes   *int64 `json:"size_bytes"`
}

// signUpload answers a JSON body with an upload ticket. The size and the
// content type are bound into the URL's signature, so the file the blob
// store accepts is the one declared here, within the upload limit.
func (s *server) signUpload(w http.ResponseWriter, r *http.Request, user string, body io.Reader, sum func() (string, error), idem idempotent) error {
	data, err := io.ReadAll(io.LimitReader(body, maxTicketRequest+1))
	if err != nil {
		return clientBodyError(err)
	}
	if len(data) > maxTicketRequest {
		return &http.MaxBytesError{Limit: maxTicketRequest}
	}
	var in ticketRequest
	if p := decodeStrict(data, "", &in); p != nil {
		return p
	}
	contentType, errs := checkTicket(in, s.app.Limits().UploadMaxBytes)
	if len(errs) > 0 {
		return invalid(errs...)
	}
	ticket, err := s.app.SignUpload(r.Context(), user, contentType, *in.SizeBytes)
	if err != nil {
		return err
	}
	if idem.hash, err = sum(); err != nil {
		return err
	}
	out, err := json.Marshal(ticket)
	if err != nil {
		return fmt.Errorf("encode upload ticket: %w", err)
	}
	// An unused URL stores nothing: a lost race needs no clean-up.
	if replayed, err := idem.remember(s, w, r, idem.record(s, http.StatusCreated, "", out)); replayed || err != nil {
		return err
	}
	writeBody(w, http.StatusCreated, "application/json", out)
	return nil
}

// checkTicket checks a request for an upload URL and returns its content
// type in canonical form, which is what the client must then send.
// Uploads are task inputs, so only media is taken: audio, video, images
// but SVG (a document that runs scripts), or bytes of no stated type.
func checkTicket(in ticketRequest, maxBytes int64) (string, []FieldError) {
	var errs []FieldError
	switch {
	case in.SizeBytes == nil:
		errs = append(errs, fieldError("size_bytes", "is required: the exact size of the file, in bytes"))
	case *in.SizeBytes < 1:
		errs = append(errs, fieldError("size_bytes", "must be at least 1"))
	case *in.SizeBytes > maxBytes:
		errs = append(errs, fieldError("size_bytes", "must be at most %d (the upload limit)", maxBytes))
	}
	if in.ContentType == "" {
		return "", append(errs, fieldError("content_type", "is required"))
	}
	if len(in.ContentType) > maxContentTypeChars {
		return "", append(errs, fieldError("content_type", "must be at most %d characters", maxContentTypeChars))
	}
	mt, params, err := mime.ParseMediaType(in.ContentType)
	if err != nil {
		return "", append(errs, fieldError("content_type", "is not a media type"))
	}
	family, _, _ := strings.Cut(mt, "/")
	if !(family == "audio" || family == "video" || family == "image" && mt != "image/svg+xml" || mt == "application/octet-stream") {
		return "", append(errs, fieldError("content_type", "must be audio/*, video/*, image/* (but SVG) or application/octet-stream"))
	}
	canonical := mime.FormatMediaType(mt, params)
	if canonical == "" {
		return "", append(errs, fieldError("content_type", "is not a media type"))
	}
	return canonical, errs
}
