// Package storage names the storage faults every adapter classifies its
// errors into, so that the platform answers them the same whoever stores:
// a full disk or database is a pause (507), a store that cannot be
// reached or written for now is a pause too (503), never a failed task.
package storage

import (
	"errors"
	"syscall"
)

var (
	// ErrFull: the disk or the database is out of space.
	ErrFull = errors.New("storage is full")
	// ErrUnavailable: the store cannot be written for now (an I/O error,
	// a read-only or locked database, throttling).
	ErrUnavailable = errors.New("storage is unavailable")
)

// Full reports an out-of-space fault: ErrFull, or a file system's ENOSPC
// that no adapter classified.
func Full(err error) bool { return errors.Is(err, ErrFull) || errors.Is(err, syscall.ENOSPC) }

// Unavailable reports a store that cannot be written for now:
// ErrUnavailable, or an AWS service's throttling or server fault (any
// error with an ErrorCode, as the AWS SDK's API errors have, so that no
// adapter's SDK is imported here).
func Unavailable(err error) bool {
	if errors.Is(err, ErrUnavailable) {
		return true
	}
	var coded interface{ ErrorCode() string }
	if !errors.As(err, &coded) {
		return false
	}
	switch coded.ErrorCode() {
	case "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
		"LimitExceededException", "InternalServerError", "ServiceUnavailable", "SlowDown", "RequestTimeout":
		return true
	}
	return false
}

// Fault reports whether err is a storage fault (full or unavailable).
func Fault(err error) bool { return Full(err) || Unavailable(err) }
