package task

import "errors"

var (
	// ErrNotFound: no such task, batch or record for this user. Another
	// user's record is not found either: tenants never see each other.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a conditional write lost to a concurrent change (the
	// stored version is not the one the caller read).
	ErrConflict = errors.New("version conflict")
	// ErrTerminal: the task already has a terminal status, which never changes.
	ErrTerminal = errors.New("task is terminal")
	// ErrInvalidTransition: the domain does not allow this status change.
	ErrInvalidTransition = errors.New("invalid status transition")
	// ErrIdempotencyKeyExists: a record with this idempotency key is
	// already stored for this user.
	ErrIdempotencyKeyExists = errors.New("idempotency key exists")
	// ErrDuplicateID: a task or batch with this id already exists.
	ErrDuplicateID = errors.New("duplicate id")
	// ErrTooLarge: a record is larger than the store holds in one item or
	// one write (DynamoDB: 400 KB an item, 4 MB a transaction).
	ErrTooLarge = errors.New("too large to store")
	// ErrClaimed: another workflow execution has claimed the task (Run).
	ErrClaimed = errors.New("claimed by another execution")
)
