package assemblyai

import (
	"fmt"
	"time"

	"github.com/videoai/mediatasks/shared/provider"
)

// pollInterval reads the poll_after option: a Go duration from 10ms (a
// test against the fake) to 10m; empty gives def.
func pollInterval(raw string, def time.Duration) (time.Duration, error) {
	if raw == "" {
		return def, nil
	}
	d, err := time.ParseDuration(raw)
	if err != nil || d < 10*time.Millisecond || d > 10*time.Minute {
		return def, &provider.OptionError{Field: "poll_after", Message: fmt.Sprintf("must be a duration from 10ms to 10m, e.g. \"5s\", not %q", raw)}
	}
	return d, nil
}
