package httpapi

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestKeyCache(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	fetches, fail := 0, false
	c := &KeyCache[int]{
		Fetch: func(context.Context) (int, error) {
			if fail {
				return 0, errors.New("provider down")
			}
			fetches++
			return fetches, nil
		},
		TTL: time.Hour,
		Now: func() time.Time { return now },
	}
	step := func(what string, got int, fetched bool, err error, want int, wantFetched bool) {
		t.Helper()
		if err != nil || got != want || fetched != wantFetched {
			t.Errorf("%s: key %d, fetched %v, %v; want key %d, fetched %v", what, got, fetched, err, want, wantFetched)
		}
	}
	k, err := c.Get(t.Context())
	step("first get", k, fetches == 1, err, 1, true)
	k, err = c.Get(t.Context())
	step("second get", k, fetches == 2, err, 1, false)

	k, fetched, err := c.Refresh(t.Context())
	step("refresh at once", k, fetched, err, 1, false)
	now = now.Add(DefaultMinRefresh)
	k, fetched, err = c.Refresh(t.Context())
	step("refresh a minute on", k, fetched, err, 2, true)

	now = now.Add(time.Hour)
	k, err = c.Get(t.Context())
	step("get past the TTL", k, fetches == 3, err, 3, true)

	now = now.Add(time.Hour)
	fail = true
	if _, err := c.Get(t.Context()); err == nil {
		t.Error("a failed fetch past the TTL answered no error")
	}
	fail = false
	k, err = c.Get(t.Context())
	step("get after a failed fetch", k, fetches == 4, err, 4, true)
}
