package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/videoai/mediatasks/shared/queue"
	"github.com/videoai/mediatasks/shared/task"
)

// TxSender writes queue messages inside a caller's write transaction, and
// wakes its receivers once that has committed (sqlitequeue.Queue does).
type TxSender interface {
	SendTx(tx *sql.Tx, msgs ...queue.Message) error
	Notify()
}

// WithQueue is the store with the task queue beside it in the same
// database: new tasks and their queue messages commit in one transaction,
// so no crash can leave a task without its message.
type WithQueue struct {
	*Store
	Queue TxSender
}

// CreateWithMessages stores c and sends msgs, all or nothing.
func (s WithQueue) CreateWithMessages(ctx context.Context, c task.Creation, msgs []queue.Message) error {
	err := s.create(ctx, c, func(tx *sql.Tx) error { return s.Queue.SendTx(tx, msgs...) })
	if err != nil {
		return fmt.Errorf("create with %d messages: %w", len(msgs), err)
	}
	s.Queue.Notify()
	return nil
}
