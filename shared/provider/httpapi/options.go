// Package httpapi is what every hosted provider adapter shares: the
// options they all take (base_url, api_key_env, model, timeout, price,
// allow_private), calls to a JSON API whose failures are classified by
// the platform's rules (transient, throttled with Retry-After, permanent,
// safety refusal), and reading media: the task's input bytes, and the
// provider's output URLs fetched at once, with a size cap and a content
// type check, through the SSRF guard.
package httpapi

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/videoai/mediatasks/shared/provider"
)

// Options are the settings every HTTP provider takes; an adapter embeds
// them in its own options struct, so that provider.DecodeOptions reads
// both strictly.
type Options struct {
	// BaseURL is the API root as the provider's SDK names it (OpenAI's
	// includes /v1).
	BaseURL string `json:"base_url"`
	// APIKeyEnv names the environment variable that holds the key.
	APIKeyEnv string `json:"api_key_env"`
	// APIKey is the key itself. In the cloud it comes from the provider
	// secret, merged into the options at start; a file should name a
	// variable instead.
	APIKey  string `json:"api_key"`
	Model   string `json:"model"`
	Timeout string `json:"timeout"` // a Go duration, e.g. "90s"
	// AllowPrivate lets output URLs name private and loopback addresses
	// (local development against a fake or a server on the LAN).
	AllowPrivate bool `json:"allow_private"`
	// MaxOutputBytes caps one output file fetched from the provider.
	MaxOutputBytes int64 `json:"max_output_bytes"`
	// Price overrides list prices, by the adapter's price keys.
	Price map[string]float64 `json:"price"`
}

// Defaults are an adapter's values for what its options leave out.
type Defaults struct {
	BaseURL string
	Model   string
	Timeout time.Duration
	// EnvKey is the variable read when api_key_env is not set, e.g.
	// "OPENAI_API_KEY"; empty: none.
	EnvKey string
	// KeyRequired refuses a configuration with no key.
	KeyRequired bool
	// PriceKeys are the keys price may set; nil: any.
	PriceKeys []string
}

// Settings are the options resolved: the key read, the timeout parsed.
type Settings struct {
	BaseURL        string // no trailing slash
	Key            string
	Model          string
	Timeout        time.Duration
	AllowPrivate   bool
	MaxOutputBytes int64
	Price          map[string]float64
}

// DefaultMaxOutputBytes caps an output file unless max_output_bytes says.
const DefaultMaxOutputBytes = 512 << 20

// Resolve checks the options and reads the key (through getenv, os.Getenv
// when nil). Each bad option is a *provider.OptionError naming it.
func (o Options) Resolve(d Defaults, getenv func(string) string) (Settings, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	s := Settings{BaseURL: strings.TrimRight(o.BaseURL, "/"), Model: o.Model, Timeout: d.Timeout,
		AllowPrivate: o.AllowPrivate, MaxOutputBytes: DefaultMaxOutputBytes, Price: o.Price}
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &provider.OptionError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if s.BaseURL == "" {
		s.BaseURL = strings.TrimRight(d.BaseURL, "/")
	}
	if u, err := url.Parse(s.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("base_url", "must be an http or https URL, not %q", s.BaseURL)
	} else if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		bad("base_url", "must carry no credentials, query or fragment")
	}
	if s.Model == "" {
		s.Model = d.Model
	}
	if o.Timeout != "" {
		t, err := time.ParseDuration(o.Timeout)
		if err != nil || t <= 0 || t > time.Hour {
			bad("timeout", "must be a duration between 1ms and 1h, e.g. \"90s\", not %q", o.Timeout)
		}
		s.Timeout = t
	}
	if s.Timeout <= 0 {
		s.Timeout = time.Minute
	}
	if o.MaxOutputBytes < 0 {
		bad("max_output_bytes", "must be 0 (the default, %d) or more", DefaultMaxOutputBytes)
	} else if o.MaxOutputBytes > 0 {
		s.MaxOutputBytes = o.MaxOutputBytes
	}
	for k, v := range o.Price {
		if d.PriceKeys != nil && !slices.Contains(d.PriceKeys, k) {
			bad("price."+k, "is not a price of this provider (known: %s)", strings.Join(d.PriceKeys, ", "))
		} else if !(v >= 0 && v < 1e6) {
			bad("price."+k, "must be a price in USD, 0 or more")
		}
	}
	switch {
	case o.APIKey != "":
		s.Key = o.APIKey
	case o.APIKeyEnv != "":
		if s.Key = getenv(o.APIKeyEnv); s.Key == "" && d.KeyRequired {
			bad("api_key_env", "the environment variable %s is empty or not set", o.APIKeyEnv)
		}
	case d.EnvKey != "":
		if s.Key = getenv(d.EnvKey); s.Key == "" && d.KeyRequired {
			bad("api_key_env", "is not set, and neither is the environment variable %s", d.EnvKey)
		}
	case d.KeyRequired:
		bad("api_key_env", "is required: the environment variable that holds the provider's key")
	}
	if strings.ContainsAny(s.Key, "\r\n") {
		bad("api_key_env", "the key holds a line break")
	}
	return s, errors.Join(errs...)
}

// PriceOf is the configured price of key, or list.
func (s Settings) PriceOf(key string, list float64) float64 {
	if p, ok := s.Price[key]; ok {
		return p
	}
	return list
}
