package llm

import (
	"net/http"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	tests := map[string]struct {
		header string
		want   time.Duration
		ok     bool
	}{
		"absent":           {},
		"seconds":          {header: "4", want: 4 * time.Second, ok: true},
		"spaced":           {header: " 4 ", want: 4 * time.Second, ok: true},
		"capped seconds":   {header: "86400", want: MaxRetryAfter, ok: true},
		"huge seconds":     {header: "99999999999999999", want: MaxRetryAfter, ok: true},
		"zero":             {header: "0"},
		"negative":         {header: "-3"},
		"date":             {header: now.Add(12 * time.Second).Format(http.TimeFormat), want: 12 * time.Second, ok: true},
		"capped date":      {header: now.Add(time.Hour).Format(http.TimeFormat), want: MaxRetryAfter, ok: true},
		"date in the past": {header: now.Add(-time.Minute).Format(http.TimeFormat)},
		"unreadable":       {header: "soon"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			if tc.header != "" {
				h.Set("Retry-After", tc.header)
			}
			got, ok := retryAfter(h, now)
			if got != tc.want || ok != tc.ok {
				t.Errorf("retryAfter(%q) = %s, %t; want %s, %t", tc.header, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// Full jitter: retry n waits in [0, min(8 s, 500 ms·2^(n-1))], and the
// waits spread over that range.
func TestBackoff(t *testing.T) {
	t.Parallel()
	ceilings := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second, 8 * time.Second}
	for i, ceiling := range append(ceilings, backoffCap) {
		n := i + 1
		if i == len(ceilings) {
			n = 1000
		}
		var lo, hi bool
		for range 200 {
			d := backoff(n)
			if d < 0 || d > ceiling {
				t.Fatalf("backoff(%d) = %s, want within [0, %s]", n, d, ceiling)
			}
			lo = lo || d < ceiling/4
			hi = hi || d > ceiling*3/4
		}
		if !lo || !hi {
			t.Errorf("backoff(%d): 200 waits not spread over [0, %s]", n, ceiling)
		}
	}
}

func TestUnfence(t *testing.T) {
	t.Parallel()
	tests := map[string]struct{ in, want string }{
		"bare":                     {in: `{"prompt": "x"}`, want: `{"prompt": "x"}`},
		"json fence":               {in: "```json\n{\"prompt\": \"x\"}\n```", want: `{"prompt": "x"}`},
		"JSON fence":               {in: "```JSON\n{\"prompt\": \"x\"}\n```", want: `{"prompt": "x"}`},
		"no info string":           {in: "```\n{\"prompt\": \"x\"}\n```", want: `{"prompt": "x"}`},
		"one line":                 {in: "```{\"prompt\": \"x\"}```", want: `{"prompt": "x"}`},
		"fence only":               {in: "``````", want: ""},
		"text with a fence inside": {in: "see ```x```", want: "see ```x```"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := unfence(tc.in); got != tc.want {
				t.Errorf("unfence(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
