// Package s3blob is the blob.Store adapter on an S3 bucket: objects are S3
// objects under their keys, signed URLs are SigV4 presigned GETs, and
// clients upload large files straight to the bucket through presigned PUTs
// (UploadURL), which API Gateway's payload limit rules out for the API.
//
// An object's SHA-256 is S3's own full-object checksum (x-amz-checksum-sha256,
// base64), sent with every Put: S3 checks the bytes it receives against it
// and returns it on HEAD and GET with checksum mode enabled, so no metadata
// of ours can disagree with the content. Put therefore needs the digest
// before the request starts: it reads the body first, holding up to
// Options.MemoryBytes in memory and spooling anything larger to a temporary
// file, then sends one PutObject of known length. A multipart upload (the
// transfer manager) would avoid the spool but cannot carry a full-object
// SHA-256: S3 keeps full-object checksums of multipart objects only for the
// CRC algorithms, and object metadata must be fixed before the first byte
// is sent.
package s3blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/videoai/mediatasks/shared/blob"
)

var _ blob.Store = (*Store)(nil)

const (
	// defaultContentType is what S3 answers for an object stored without one.
	defaultContentType = "application/octet-stream"
	// maxSinglePut is the most one PutObject may carry.
	maxSinglePut = 5 << 30
	// maxPresignSeconds is SigV4's longest presigned URL lifetime (7 days).
	maxPresignSeconds  = 7 * 24 * 60 * 60
	defaultMemoryBytes = 8 << 20
)

// Options configure a Store.
type Options struct {
	// MemoryBytes is the largest body Put holds in memory while hashing it
	// (default 8 MiB); larger bodies wait in a file under SpoolDir.
	MemoryBytes int64
	// SpoolDir is where large bodies wait (default os.TempDir(); in Lambda,
	// /tmp, whose size the function's ephemeral storage sets).
	SpoolDir string
	// ServerSideEncryption is requested on every Put and bound into every
	// upload URL (default AES256, SSE-S3). Use aws:kms with KMSKeyID for a
	// customer managed key.
	ServerSideEncryption types.ServerSideEncryption
	// KMSKeyID is the key for aws:kms ("" is the account's aws/s3 key).
	KMSKeyID string
}

// Store keeps objects in one bucket.
type Store struct {
	client  *s3.Client
	presign *s3.PresignClient
	bucket  string
	opts    Options
}

// New returns a Store on bucket. The client is built once, at start-up.
func New(client *s3.Client, bucket string, opts Options) *Store {
	if opts.MemoryBytes <= 0 {
		opts.MemoryBytes = defaultMemoryBytes
	}
	if opts.SpoolDir == "" {
		opts.SpoolDir = os.TempDir()
	}
	if opts.ServerSideEncryption == "" {
		opts.ServerSideEncryption = types.ServerSideEncryptionAes256
	}
	return &Store{client: client, presign: s3.NewPresignClient(client), bucket: bucket, opts: opts}
}

// CreateBucket makes bucket in the client's region; a bucket the caller
// already owns is not an error. For tests and local tooling: in the cloud
// the bucket belongs to the infrastructure stack.
func CreateBucket(ctx context.Context, client *s3.Client, bucket string) error {
	in := &s3.CreateBucketInput{Bucket: aws.String(bucket)}
	// us-east-1 is the one region S3 refuses to be named in.
	if region := client.Options().Region; region != "" && region != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(region)}
	}
	_, err := client.CreateBucket(ctx, in)
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	return nil
}

// ValidKey reports whether key is one every blob adapter accepts
// (blob.ValidKey).
func ValidKey(key string) bool { return blob.ValidKey(key) }

// Put stores r under key, replacing any object there. Nothing reaches S3
// until the whole body has been read within maxBytes, so a refused Put
// leaves the previous object, if any, untouched. With no limit (0) the
// limit is S3's for one PutObject, 5 GiB.
func (s *Store) Put(ctx context.Context, key, contentType string, r io.Reader, maxBytes int64) (blob.Object, error) {
	if !ValidKey(key) {
		return blob.Object{}, fmt.Errorf("put %q: %w", key, blob.ErrInvalidKey)
	}
	if maxBytes < 0 {
		return blob.Object{}, fmt.Errorf("put %s: negative size limit %d", key, maxBytes)
	}
	if maxBytes == 0 || maxBytes > maxSinglePut {
		maxBytes = maxSinglePut
	}
	if contentType == "" {
		contentType = defaultContentType
	}
	body, err := s.spool(ctx, r, maxBytes)
	if err != nil {
		return blob.Object{}, fmt.Errorf("put %s: %w", key, err)
	}
	defer body.close()
	in := &s3.PutObjectInput{
		Bucket:         aws.String(s.bucket),
		Key:            aws.String(key),
		Body:           body.reader,
		ContentLength:  aws.Int64(body.size),
		ContentType:    aws.String(contentType),
		ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(body.sum)),
	}
	s.encrypt(&in.ServerSideEncryption, &in.SSEKMSKeyId)
	if _, err := s.client.PutObject(ctx, in); err != nil {
		return blob.Object{}, fmt.Errorf("put %s: %w", key, err)
	}
	// PutObject does not answer with the object's time; S3 stamps it when
	// the upload completes, within the round trip just made.
	return blob.Object{
		Key:         key,
		ContentType: contentType,
		Size:        body.size,
		SHA256:      hex.EncodeToString(body.sum),
		ModTime:     time.Now().UTC().Truncate(time.Second),
	}, nil
}

func (s *Store) encrypt(sse *types.ServerSideEncryption, kmsKey **string) {
	*sse = s.opts.ServerSideEncryption
	if s.opts.ServerSideEncryption == types.ServerSideEncryptionAwsKms && s.opts.KMSKeyID != "" {
		*kmsKey = aws.String(s.opts.KMSKeyID)
	}
}

// spooled is a body read in full: in memory or in a temporary file.
type spooled struct {
	reader io.ReadSeeker
	size   int64
	sum    []byte
	close  func()
}

// spool reads r to its end, refusing it past maxBytes, and returns it
// rewound with its size and SHA-256.
func (s *Store) spool(ctx context.Context, r io.Reader, maxBytes int64) (spooled, error) {
	hash := sha256.New()
	// One byte past the limit is enough to know the body is over it.
	src := io.TeeReader(io.LimitReader(blob.ContextReader(ctx, r), maxBytes+1), hash)
	var mem bytes.Buffer
	n, err := io.Copy(&mem, io.LimitReader(src, s.opts.MemoryBytes+1))
	if err != nil {
		return spooled{}, fmt.Errorf("read body: %w", err)
	}
	if n > maxBytes {
		return spooled{}, blob.ErrTooLarge
	}
	if n <= s.opts.MemoryBytes {
		return spooled{reader: bytes.NewReader(mem.Bytes()), size: n, sum: hash.Sum(nil), close: func() {}}, nil
	}
	f, err := os.CreateTemp(s.opts.SpoolDir, "s3blob-*")
	if err != nil {
		return spooled{}, fmt.Errorf("spool body: %w", err)
	}
	drop := func() {
		f.Close()
		os.Remove(f.Name())
	}
	if _, err := f.Write(mem.Bytes()); err != nil {
		drop()
		return spooled{}, fmt.Errorf("spool body: %w", err)
	}
	rest, err := io.Copy(f, src)
	if err != nil {
		drop()
		return spooled{}, fmt.Errorf("spool body: %w", err)
	}
	size := n + rest
	if size > maxBytes {
		drop()
		return spooled{}, blob.ErrTooLarge
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		drop()
		return spooled{}, fmt.Errorf("spool body: %w", err)
	}
	return spooled{reader: f, size: size, sum: hash.Sum(nil), close: drop}, nil
}

// Get opens an object. With checksum mode on, the SDK also checks the
// bytes read against the object's SHA-256 and fails the read at its end if
// they differ.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, blob.Object, error) {
	if !ValidKey(key) {
		return nil, blob.Object{}, fmt.Errorf("get %q: %w", key, blob.ErrInvalidKey)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket:       aws.String(s.bucket),
		Key:          aws.String(key),
		ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		return nil, blob.Object{}, fmt.Errorf("get %s: %w", key, notFound(err))
	}
	return out.Body, object(key, out.ContentType, out.ContentLength, out.ChecksumSHA256, out.LastModified), nil
}

// Stat describes an object without reading it.
func (s *Store) Stat(ctx context.Context, key string) (blob.Object, error) {
	if !ValidKey(key) {
		return blob.Object{}, fmt.Errorf("stat %q: %w", key, blob.ErrInvalidKey)
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket:       aws.String(s.bucket),
		Key:          aws.String(key),
		ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		return blob.Object{}, fmt.Errorf("stat %s: %w", key, notFound(err))
	}
	return object(key, out.ContentType, out.ContentLength, out.ChecksumSHA256, out.LastModified), nil
}

// object describes an object from S3's answer. The SHA-256 is empty when
// S3 holds none as a full-object checksum: an object a client uploaded
// through an upload URL without x-amz-checksum-sha256, or a multipart one
// (whose checksum is "<base64>-<parts>").
func object(key string, contentType *string, size *int64, checksum *string, modTime *time.Time) blob.Object {
	o := blob.Object{Key: key, ContentType: aws.ToString(contentType), Size: aws.ToInt64(size)}
	if o.ContentType == "" {
		o.ContentType = defaultContentType
	}
	if sum, err := base64.StdEncoding.DecodeString(aws.ToString(checksum)); err == nil && len(sum) == sha256.Size {
		o.SHA256 = hex.EncodeToString(sum)
	}
	if modTime != nil {
		o.ModTime = modTime.UTC()
	}
	return o
}

// Delete removes an object; S3 answers a delete of a missing key with
// success, as the port asks.
func (s *Store) Delete(ctx context.Context, key string) error {
	if !ValidKey(key) {
		return fmt.Errorf("delete %q: %w", key, blob.ErrInvalidKey)
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)}); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// SignedURL returns a presigned GET of the object. The URL's lifetime
// counts from its X-Amz-Date, which is cut to the second, so it is given a
// second more than ttl (rounded up): it lives at least ttl and less than
// two seconds more. A URL signed with temporary credentials (a Lambda
// role's) stops working when they expire, whichever comes first.
func (s *Store) SignedURL(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if !ValidKey(key) {
		return "", fmt.Errorf("sign %q: %w", key, blob.ErrInvalidKey)
	}
	expires, err := presignLifetime(ttl)
	if err != nil {
		return "", fmt.Errorf("sign %s: %w", key, err)
	}
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)},
		s3.WithPresignExpires(expires))
	if err != nil {
		return "", fmt.Errorf("sign %s: %w", key, err)
	}
	return req.URL, nil
}

// UploadURL returns a presigned PUT of key that stores exactly size bytes
// of contentType, with the store's server-side encryption: the content
// type, the length and the encryption header are signed, so S3 refuses a
// PUT that sends other values or leaves one out. headers are the ones the
// client must send (a browser sets Content-Length itself).
func (s *Store) UploadURL(ctx context.Context, key, contentType string, size int64, ttl time.Duration) (string, map[string]string, error) {
	if !ValidKey(key) {
		return "", nil, fmt.Errorf("sign upload %q: %w", key, blob.ErrInvalidKey)
	}
	if size <= 0 || size > maxSinglePut {
		return "", nil, fmt.Errorf("sign upload %s: size %d is not within 1 byte to 5 GiB", key, size)
	}
	if contentType == "" {
		return "", nil, fmt.Errorf("sign upload %s: no content type", key)
	}
	expires, err := presignLifetime(ttl)
	if err != nil {
		return "", nil, fmt.Errorf("sign upload %s: %w", key, err)
	}
	in := &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(key),
		ContentType:   aws.String(contentType),
		ContentLength: aws.Int64(size),
	}
	s.encrypt(&in.ServerSideEncryption, &in.SSEKMSKeyId)
	req, err := s.presign.PresignPutObject(ctx, in, s3.WithPresignExpires(expires))
	if err != nil {
		return "", nil, fmt.Errorf("sign upload %s: %w", key, err)
	}
	headers := make(map[string]string, len(req.SignedHeader))
	for name, values := range req.SignedHeader {
		if name == "Host" || len(values) == 0 {
			continue // the URL carries the host
		}
		headers[name] = strings.Join(values, ",")
	}
	return req.URL, headers, nil
}

// presignLifetime is the X-Amz-Expires for a URL that must live ttl.
func presignLifetime(ttl time.Duration) (time.Duration, error) {
	if ttl <= 0 {
		return 0, fmt.Errorf("ttl %s is not positive", ttl)
	}
	secs := int64((ttl + time.Second - 1) / time.Second)
	if secs > maxPresignSeconds {
		return 0, fmt.Errorf("ttl %s is over the 7 days a presigned URL may live", ttl)
	}
	return time.Duration(min(secs+1, maxPresignSeconds)) * time.Second, nil
}

// Ping checks that the bucket is there and reachable with these
// credentials.
func (s *Store) Ping(ctx context.Context) error {
	if _, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.bucket)}); err != nil {
		return fmt.Errorf("ping bucket %s: %w", s.bucket, err)
	}
	return nil
}

// notFound adds blob.ErrNotFound to a missing key's error: GET answers
// NoSuchKey, HEAD (which has no body to name the error) a bare 404. A
// missing bucket (NoSuchBucket) stays a failure of its own.
func notFound(err error) error {
	var noKey *types.NoSuchKey
	var none *types.NotFound
	var api smithy.APIError
	if errors.As(err, &noKey) || errors.As(err, &none) ||
		errors.As(err, &api) && (api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NotFound" || api.ErrorCode() == http.StatusText(http.StatusNotFound)) {
		return fmt.Errorf("%w: %w", blob.ErrNotFound, err)
	}
	return err
}
