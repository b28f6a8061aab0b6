package pocketsphinx

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Duration is an option's length of time: a string Go's time package
// reads ("30m", "90s") or a number of seconds.
type Duration struct {
	D   time.Duration
	Set bool
}

// UnmarshalJSON reads "30m" or 1800.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is not a duration such as \"30m\" or \"90s\"", s)
		}
		d.D, d.Set = v, true
		return nil
	}
	secs, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("%s is not a duration such as \"30m\" or a number of seconds", b)
	}
	d.D, d.Set = time.Duration(secs*float64(time.Second)), true
	return nil
}
