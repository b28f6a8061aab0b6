// Package auth authenticates API callers: API keys (stored only as hashes)
// and, when a secret is configured, HS256 JWTs whose subject is the user.
package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrUnauthenticated: missing, malformed, unknown or expired credentials.
var ErrUnauthenticated = errors.New("unauthenticated")

// ErrKeyNotFound: no API key with that hash.
var ErrKeyNotFound = errors.New("api key not found")

// KeyPrefix starts every API key, so that leaked keys are easy to spot.
const KeyPrefix = "mt_"

// APIKey is a stored key: its hash, never the key itself.
type APIKey struct {
	ID        string
	UserID    string
	Hash      string
	CreatedAt time.Time
}

// KeyStore is the port for stored API keys.
type KeyStore interface {
	CreateAPIKey(ctx context.Context, k APIKey) error
	APIKeyByHash(ctx context.Context, hash string) (*APIKey, error) // ErrKeyNotFound
	CountAPIKeys(ctx context.Context) (int, error)
}

// NewKey makes a random API key for user and the record to store for it.
func NewKey(userID string, now time.Time) (key string, rec APIKey, err error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", APIKey{}, fmt.Errorf("new api key: %w", err)
	}
	key = KeyPrefix + hex.EncodeToString(raw[:])
	return key, APIKey{ID: hex.EncodeToString(raw[:6]), UserID: userID, Hash: HashKey(key), CreatedAt: now}, nil
}

// HashKey hashes an API key for storage and lookup. Keys carry 256 random
// bits, so a fast hash is enough: there is nothing to brute-force.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// Authenticator resolves a bearer credential to a user id.
type Authenticator struct {
	Keys      KeyStore
	JWTSecret []byte // empty: JWTs are not accepted
	Now       func() time.Time
	// KeyCacheTTL is how long the user of an API key is remembered,
	// saving a store read per request; a deleted key keeps working that
	// long. Zero: no cache. JWTs are never cached: checking one costs
	// less than the read the cache saves.
	KeyCacheTTL time.Duration

	mu    sync.Mutex
	cache map[string]cachedKey // by key hash: a fixed size per entry
}

type cachedKey struct {
	user    string
	expires time.Time
}

// keyCacheSize bounds the cache; when full it starts again empty.
const keyCacheSize = 10_000

// Authenticate returns the user of an Authorization header value.
func (a *Authenticator) Authenticate(ctx context.Context, header string) (string, error) {
	scheme, cred, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || cred == "" {
		return "", ErrUnauthenticated
	}
	cred = strings.TrimSpace(cred)
	if strings.HasPrefix(cred, KeyPrefix) {
		return a.keyUser(ctx, HashKey(cred))
	}
	if len(a.JWTSecret) == 0 {
		return "", ErrUnauthenticated
	}
	return a.verifyJWT(cred)
}

func (a *Authenticator) keyUser(ctx context.Context, hash string) (string, error) {
	now := a.now()
	a.mu.Lock()
	c, ok := a.cache[hash]
	a.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.user, nil
	}
	k, err := a.Keys.APIKeyByHash(ctx, hash)
	if errors.Is(err, ErrKeyNotFound) {
		return "", ErrUnauthenticated
	}
	if err != nil {
		return "", fmt.Errorf("look up api key: %w", err)
	}
	if a.KeyCacheTTL > 0 {
		a.mu.Lock()
		if a.cache == nil || len(a.cache) >= keyCacheSize {
			a.cache = make(map[string]cachedKey)
		}
		a.cache[hash] = cachedKey{user: k.UserID, expires: now.Add(a.KeyCacheTTL)}
		a.mu.Unlock()
	}
	return k.UserID, nil
}

func (a *Authenticator) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Authenticator) verifyJWT(token string) (string, error) {
	opts := []jwt.ParserOption{jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired()}
	if a.Now != nil {
		opts = append(opts, jwt.WithTimeFunc(a.Now))
	}
	claims := jwt.RegisteredClaims{}
	parsed, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return a.JWTSecret, nil }, opts...)
	if err != nil || !ValidUserName(claims.Subject) || !numericTimes(parsed) {
		return "", ErrUnauthenticated
	}
	return claims.Subject, nil
}

// numericTimes reports whether the token's exp, nbf and iat, where given,
// are JSON numbers, as RFC 7519 says: the parser also reads a number in a
// string, which no issuer of ours sends.
func numericTimes(t *jwt.Token) bool {
	parts := strings.Split(t.Raw, ".")
	if len(parts) != 3 {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var claims map[string]json.RawMessage
	if json.Unmarshal(payload, &claims) != nil {
		return false
	}
	for _, name := range []string{"exp", "nbf", "iat"} {
		v, ok := claims[name]
		if !ok {
			continue
		}
		var n json.Number
		dec := json.NewDecoder(bytes.NewReader(v))
		dec.UseNumber()
		if tok, err := dec.Token(); err != nil {
			return false
		} else if n, ok = tok.(json.Number); !ok || n == "" {
			return false
		}
	}
	return true
}

// userName is what a user name may be, from a key's --user or a token's
// subject: it names the tenant in every record and storage key, so it is
// kept plain.
var userName = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)

// ValidUserName reports whether name may name a user.
func ValidUserName(name string) bool { return userName.MatchString(name) }
