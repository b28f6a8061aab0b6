//go:build !unix

package sqlitestore_test

import (
	"testing"
	"time"
)

// processCPU is not measured here: the cpu-µs/op figure reads 0.
func processCPU(*testing.B) time.Duration { return 0 }
