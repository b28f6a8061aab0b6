package auth_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/videoai/mediatasks/shared/auth"
	"github.com/videoai/mediatasks/shared/testkit/clocktest"
)

// keys is an in-memory KeyStore that counts lookups.
type keys struct {
	byHash  map[string]auth.APIKey
	lookups atomic.Int64
}

func (k *keys) CreateAPIKey(_ context.Context, rec auth.APIKey) error {
	k.byHash[rec.Hash] = rec
	return nil
}

func (k *keys) APIKeyByHash(_ context.Context, hash string) (*auth.APIKey, error) {
	k.lookups.Add(1)
	rec, ok := k.byHash[hash]
	if !ok {
		return nil, auth.ErrKeyNotFound
	}
	return &rec, nil
}

func (k *keys) CountAPIKeys(context.Context) (int, error) { return len(k.byHash), nil }

func TestAPIKeysAndTheirCache(t *testing.T) {
	t.Parallel()
	clk := clocktest.NewFake(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	store := &keys{byHash: map[string]auth.APIKey{}}
	key, rec, err := auth.NewKey("alice", clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if rec.Hash == key || rec.Hash != auth.HashKey(key) {
		t.Fatal("the record must hold the key's hash, not the key")
	}
	store.CreateAPIKey(context.Background(), rec)
	a := &auth.Authenticator{Keys: store, Now: clk.Now, KeyCacheTTL: 30 * time.Second}
	ctx := context.Background()
	for _, header := range []string{"Bearer " + key, "bearer " + key, "Bearer   " + key} {
		user, err := a.Authenticate(ctx, header)
		if err != nil || user != "alice" {
			t.Fatalf("%q: %q, %v", header, user, err)
		}
	}
	if n := store.lookups.Load(); n != 1 {
		t.Fatalf("%d store lookups for one key within the cache's life, want 1", n)
	}
	clk.Add(31 * time.Second)
	if _, err := a.Authenticate(ctx, "Bearer "+key); err != nil {
		t.Fatal(err)
	}
	if n := store.lookups.Load(); n != 2 {
		t.Fatalf("%d lookups after the entry expired, want 2", n)
	}
	for name, header := range map[string]string{
		"unknown key": "Bearer " + auth.KeyPrefix + "0000",
		"no scheme":   key,
		"basic":       "Basic " + key,
		"empty":       "Bearer ",
		"jwt off":     "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x",
	} {
		if _, err := a.Authenticate(ctx, header); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("%s: err = %v, want ErrUnauthenticated", name, err)
		}
	}
}

func TestJWT(t *testing.T) {
	t.Parallel()
	clk := clocktest.NewFake(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	secret := []byte("a secret of thirty-two bytes....")
	a := &auth.Authenticator{Keys: &keys{byHash: map[string]auth.APIKey{}}, JWTSecret: secret, Now: clk.Now}
	sign := func(method jwt.SigningMethod, key any, claims jwt.RegisteredClaims) string {
		s, err := jwt.NewWithClaims(method, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + s
	}
	signMap := func(claims map[string]any) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(claims)).SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + s
	}
	future := jwt.NewNumericDate(clk.Now().Add(time.Hour))
	past := jwt.NewNumericDate(clk.Now().Add(-time.Second))
	if user, err := a.Authenticate(context.Background(), sign(jwt.SigningMethodHS256, secret, jwt.RegisteredClaims{Subject: "bob", ExpiresAt: future})); err != nil || user != "bob" {
		t.Fatalf("valid token: %q, %v", user, err)
	}
	if user, err := a.Authenticate(context.Background(), signMap(map[string]any{"sub": "bob@example.com", "exp": future.Unix(), "iat": clk.Now().Unix(), "nbf": clk.Now().Unix()})); err != nil || user != "bob@example.com" {
		t.Fatalf("valid token with iat and nbf: %q, %v", user, err)
	}
	for name, header := range map[string]string{
		"alg none":          sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.RegisteredClaims{Subject: "bob", ExpiresAt: future}),
		"HS512":             sign(jwt.SigningMethodHS512, secret, jwt.RegisteredClaims{Subject: "bob", ExpiresAt: future}),
		"expired":           sign(jwt.SigningMethodHS256, secret, jwt.RegisteredClaims{Subject: "bob", ExpiresAt: past}),
		"no expiry":         sign(jwt.SigningMethodHS256, secret, jwt.RegisteredClaims{Subject: "bob"}),
		"no subject":        sign(jwt.SigningMethodHS256, secret, jwt.RegisteredClaims{ExpiresAt: future}),
		"long subject":      sign(jwt.SigningMethodHS256, secret, jwt.RegisteredClaims{Subject: strings.Repeat("b", 65), ExpiresAt: future}),
		"a path as subject": sign(jwt.SigningMethodHS256, secret, jwt.RegisteredClaims{Subject: "a/../b", ExpiresAt: future}),
		"a NUL in subject":  sign(jwt.SigningMethodHS256, secret, jwt.RegisteredClaims{Subject: "bob\x00", ExpiresAt: future}),
		"exp in a string":   signMap(map[string]any{"sub": "bob", "exp": strconv.FormatInt(future.Unix(), 10)}),
		"iat in a string":   signMap(map[string]any{"sub": "bob", "exp": future.Unix(), "iat": "1700000000"}),
		"nbf an object":     signMap(map[string]any{"sub": "bob", "exp": future.Unix(), "nbf": map[string]any{}}),
		"wrong key":         sign(jwt.SigningMethodHS256, []byte("another secret of thirty-two b.."), jwt.RegisteredClaims{Subject: "bob", ExpiresAt: future}),
	} {
		if _, err := a.Authenticate(context.Background(), header); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("%s: err = %v, want ErrUnauthenticated", name, err)
		}
	}
}
