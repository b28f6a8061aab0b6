package storage_test

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/storage"
)

// apiError is an error with a code, as the AWS SDK's API errors are.
type apiError struct{ code string }

func (e apiError) Error() string     { return "api error " + e.code }
func (e apiError) ErrorCode() string { return e.code }

func TestFaults(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		err               error
		full, unavailable bool
	}{
		"full":              {fmt.Errorf("put: %w", storage.ErrFull), true, false},
		"ENOSPC":            {fmt.Errorf("write: %w", syscall.ENOSPC), true, false},
		"unavailable":       {fmt.Errorf("write: %w", storage.ErrUnavailable), false, true},
		"DynamoDB throttle": {fmt.Errorf("put item: %w", apiError{"ProvisionedThroughputExceededException"}), false, true},
		"S3 slow down":      {fmt.Errorf("put object: %w", apiError{"SlowDown"}), false, true},
		"a bad request":     {fmt.Errorf("put item: %w", apiError{"ValidationException"}), false, false},
		"another error":     {errors.New("boom"), false, false},
	} {
		if got := storage.Full(tc.err); got != tc.full {
			t.Errorf("%s: Full = %v", name, got)
		}
		if got := storage.Unavailable(tc.err); got != tc.unavailable {
			t.Errorf("%s: Unavailable = %v", name, got)
		}
		if got := storage.Fault(tc.err); got != (tc.full || tc.unavailable) {
			t.Errorf("%s: Fault = %v", name, got)
		}
	}
}

func TestMonitorFollowsWrites(t *testing.T) {
	t.Parallel()
	var m storage.Monitor
	var changes []string
	m.OnChange = func(fault error, _ time.Duration) {
		if fault != nil {
			changes = append(changes, "down")
		} else {
			changes = append(changes, "up")
		}
	}
	m.Observe(nil)
	m.Observe(errors.New("a conflict")) // not a storage fault
	if m.Down() || m.Err() != nil {
		t.Fatal("down without a storage fault")
	}
	full := fmt.Errorf("commit: %w", storage.ErrFull)
	m.Observe(full)
	m.Observe(fmt.Errorf("again: %w", syscall.ENOSPC))
	if !m.Down() || !errors.Is(m.Err(), storage.ErrFull) || !strings.Contains(m.Err().Error(), "writes failing since") {
		t.Fatalf("after a full disk: down %v, %v", m.Down(), m.Err())
	}
	m.Observe(errors.New("a conflict"))
	if !m.Down() {
		t.Fatal("a conflict brought it up")
	}
	m.Observe(nil)
	m.Observe(nil)
	if m.Down() || m.Err() != nil || m.Downs() != 1 || strings.Join(changes, ",") != "down,up" {
		t.Fatalf("after a write: down %v, downs %d, changes %v", m.Down(), m.Downs(), changes)
	}
}
