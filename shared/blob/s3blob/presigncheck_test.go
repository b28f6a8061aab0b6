package s3blob_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// presignCheck stands in front of fauxqs and checks presigned URLs as S3
// does, because fauxqs serves every request whether it is signed or not
// (TestEmulatorIgnoresSignatures shows it). A request that carries no
// Authorization header must carry a SigV4 query signature, made with the
// test credentials, over its method, path, every query parameter and every
// header named in X-Amz-SignedHeaders, and be within X-Amz-Date plus
// X-Amz-Expires; otherwise it gets 403 here. Requests signed in their
// headers (the SDK's own calls) pass unchecked.
//
// The check is written from the SigV4 specification rather than with the
// SDK's signer, so that it is not the code under test checking itself.
// https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
type presignCheck struct {
	proxy  *httputil.ReverseProxy
	creds  aws.Credentials
	region string
}

func newPresignCheck(target string, creds aws.Credentials, region string) (*presignCheck, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	return &presignCheck{proxy: httputil.NewSingleHostReverseProxy(u), creds: creds, region: region}, nil
}

func (c *presignCheck) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") == "" {
		if err := c.verify(r, time.Now()); err != nil {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, "<Error><Code>AccessDenied</Code><Message>%s</Message></Error>", err)
			return
		}
	}
	c.proxy.ServeHTTP(w, r)
}

const amzDateFormat = "20060102T150405Z"

func (c *presignCheck) verify(r *http.Request, now time.Time) error {
	query := r.URL.Query()
	one := func(name string) (string, error) {
		v := query[name]
		if len(v) != 1 || v[0] == "" {
			return "", fmt.Errorf("%s: want exactly one value", name)
		}
		return v[0], nil
	}
	fields := map[string]string{}
	for _, name := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"} {
		v, err := one(name)
		if err != nil {
			return err
		}
		fields[name] = v
	}
	if fields["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256" {
		return errors.New("unknown algorithm")
	}
	signedAt, err := time.Parse(amzDateFormat, fields["X-Amz-Date"])
	if err != nil {
		return errors.New("malformed X-Amz-Date")
	}
	expires, err := strconv.Atoi(fields["X-Amz-Expires"])
	if err != nil || expires < 1 || expires > 7*24*3600 || strconv.Itoa(expires) != fields["X-Amz-Expires"] {
		return errors.New("malformed X-Amz-Expires")
	}
	if now.After(signedAt.Add(time.Duration(expires) * time.Second)) {
		return errors.New("request has expired")
	}
	day := signedAt.Format("20060102")
	scope := day + "/" + c.region + "/s3/aws4_request"
	if fields["X-Amz-Credential"] != c.creds.AccessKeyID+"/"+scope {
		return errors.New("unknown credential or scope")
	}
	signedHeaders := strings.Split(fields["X-Amz-SignedHeaders"], ";")
	if !slices.IsSorted(signedHeaders) || !slices.Contains(signedHeaders, "host") {
		return errors.New("signed headers must be sorted and include host")
	}

	var canonical strings.Builder
	canonical.WriteString(r.Method + "\n")
	canonical.WriteString(r.URL.EscapedPath() + "\n")
	var params []string
	for name, values := range query {
		if name == "X-Amz-Signature" {
			continue
		}
		for _, v := range values {
			params = append(params, uriEncode(name)+"="+uriEncode(v))
		}
	}
	slices.Sort(params)
	canonical.WriteString(strings.Join(params, "&") + "\n")
	for _, name := range signedHeaders {
		if name != strings.ToLower(name) {
			return errors.New("signed header names must be lower case")
		}
		var value string
		switch name {
		case "host":
			value = r.Host
		case "content-length":
			if r.Header.Get("Content-Length") == "" && r.ContentLength <= 0 {
				return errors.New("signed content-length not sent")
			}
			value = strconv.FormatInt(r.ContentLength, 10)
		default:
			values := r.Header.Values(name)
			if len(values) == 0 {
				return fmt.Errorf("signed header %s not sent", name)
			}
			for i, v := range values {
				values[i] = strings.Join(strings.Fields(v), " ")
			}
			value = strings.Join(values, ",")
		}
		canonical.WriteString(name + ":" + value + "\n")
	}
	canonical.WriteString("\n" + fields["X-Amz-SignedHeaders"] + "\n")
	canonical.WriteString("UNSIGNED-PAYLOAD")

	digest := sha256.Sum256([]byte(canonical.String()))
	toSign := "AWS4-HMAC-SHA256\n" + fields["X-Amz-Date"] + "\n" + scope + "\n" + hex.EncodeToString(digest[:])
	key := []byte("AWS4" + c.creds.SecretAccessKey)
	for _, part := range []string{day, c.region, "s3", "aws4_request"} {
		key = hmacSHA256(key, part)
	}
	want := hex.EncodeToString(hmacSHA256(key, toSign))
	if !hmac.Equal([]byte(want), []byte(fields["X-Amz-Signature"])) {
		return errors.New("signature does not match")
	}
	return nil
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// uriEncode is SigV4's encoding: every byte but A-Z a-z 0-9 - _ . ~ as
// %XX, upper case.
func uriEncode(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
