package provider_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/provider"
)

func TestKindOf(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		err  error
		kind provider.Kind
		name string
	}{
		"nil":         {nil, "", ""},
		"unknown":     {errors.New("connection reset"), provider.Transient, "Provider.Transient"},
		"deadline":    {fmt.Errorf("call: %w", context.DeadlineExceeded), provider.Transient, "Provider.Transient"},
		"canceled":    {fmt.Errorf("call: %w", context.Canceled), provider.Canceled, "Provider.Canceled"},
		"throttled":   {fmt.Errorf("x: %w", provider.NewThrottled("429", "slow down", time.Second, nil)), provider.Throttled, "Provider.Throttled"},
		"permanent":   {provider.NewPermanent("401", "bad key", nil), provider.Permanent, "Provider.Permanent"},
		"rejected":    {provider.NewRejected("400", "bad size", nil), provider.Permanent, "Provider.Permanent"},
		"no provider": {fmt.Errorf("choose: %w", provider.ErrNoProvider), provider.Permanent, "Provider.Permanent"},
		// A provider that wraps the caller's cancel is still a cancel.
		"wrapped cancel": {provider.NewTransient("io", "read body", context.Canceled), provider.Canceled, "Provider.Canceled"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := provider.KindOf(tc.err); got != tc.kind {
				t.Errorf("KindOf = %q, want %q", got, tc.kind)
			}
			if got := provider.ErrorName(tc.err); got != tc.name {
				t.Errorf("ErrorName = %q, want %q", got, tc.name)
			}
		})
	}
	e := provider.NewThrottled("rate_limit_exceeded", "too many requests", 2*time.Second, errors.New("429"))
	if got, want := e.Error(), "throttled (rate_limit_exceeded): too many requests; retry after 2s: 429"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestDecodeOptions(t *testing.T) {
	t.Parallel()
	type Common struct {
		Model  string          `json:"model"`
		Nested struct{ N int } `json:"nested"`
	}
	type opts struct {
		Rate  *float64 `json:"rate"`
		Steps int      `json:"steps"`
		Mode  string   `json:"mode"`
		Common
	}
	tests := map[string]struct {
		raw   string
		field string
	}{
		"ok":       {`{"rate": 0.5, "steps": 2}`, ""},
		"empty":    {``, ""},
		"null":     {`null`, ""},
		"unknown":  {`{"rate": 0.5, "colour": 1}`, "colour"},
		"not int":  {`{"steps": 1.5}`, "steps"},
		"not str":  {`{"mode": 3}`, "mode"},
		"ptr":      {`{"rate": "x"}`, "rate"},
		"embedded": {`{"model": 3}`, "model"},
		"nested":   {`{"nested": {"N": "x"}}`, "nested.N"},
		"not obj":  {`[1]`, ""},
		"two":      {`{} {}`, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var o opts
			err := provider.DecodeOptions(json.RawMessage(tc.raw), &o)
			oe, isOpt := errors.AsType[*provider.OptionError](err)
			switch {
			case name == "ok" || name == "empty" || name == "null":
				if err != nil {
					t.Fatalf("%v", err)
				}
			case !isOpt:
				t.Fatalf("%v, want an OptionError", err)
			case oe.Field != tc.field:
				t.Fatalf("field %q (%v), want %q", oe.Field, err, tc.field)
			}
		})
	}
}
