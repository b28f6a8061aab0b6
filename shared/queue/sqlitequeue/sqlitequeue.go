// Package sqlitequeue is the queue.Queue adapter on the shared SQLite
// database: the same semantics as SQS (visibility timeout, receive count,
// per-message delay, receipts that change on every receive, long polling,
// a dead-letter table after too many receives) so that the one machine and
// the cloud behave alike. Several named queues share one table set.
package sqlitequeue

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/videoai/mediatasks/shared/queue"
	"github.com/videoai/mediatasks/shared/sqlitedb"
	"github.com/videoai/mediatasks/shared/task"
)

var _ queue.Queue = (*Queue)(nil)

// maxBatch is SQS's limit on messages per receive, kept so callers written
// against one adapter work against the other.
const maxBatch = 10

// migrations are the "queue" component's schema steps: append only.
//
// The receive index leads with priority because Receive asks for the
// visible messages of one priority at a time: (queue, priority, visible_at)
// is an exact range scan, where (queue, visible_at, priority) would step
// over every visible message of the other priorities first.
// A receipt embeds its message id, so Delete and ChangeVisibility find the
// row by primary key and need no index on receipt.
var migrations = []string{
	`CREATE TABLE queue_messages (
		id            TEXT PRIMARY KEY,
		queue         TEXT NOT NULL,
		priority      TEXT NOT NULL,
		body          BLOB NOT NULL,
		sent_at       INTEGER NOT NULL, -- unix nanoseconds
		visible_at    INTEGER NOT NULL, -- unix nanoseconds
		receipt       TEXT,             -- NULL until first received
		receive_count INTEGER NOT NULL DEFAULT 0
	) WITHOUT ROWID;
	CREATE INDEX queue_messages_receive ON queue_messages (queue, priority, visible_at);
	CREATE TABLE queue_dead_letters (
		id            TEXT PRIMARY KEY,
		queue         TEXT NOT NULL,
		priority      TEXT NOT NULL,
		body          BLOB NOT NULL,
		sent_at       INTEGER NOT NULL,
		receive_count INTEGER NOT NULL,
		died_at       INTEGER NOT NULL
	) WITHOUT ROWID;
	CREATE INDEX queue_dead_letters_queue ON queue_dead_letters (queue, died_at);`,
}

// rotation is the weighted order in which Receive fills its slots: high 6,
// normal 3, low 1 out of 10, spread out so that a run of one-message
// receives also interleaves. Low gets a slot in every ten, so it is never
// starved however deep high is.
var rotation = [10]task.Priority{
	task.PriorityHigh, task.PriorityNormal, task.PriorityHigh, task.PriorityHigh, task.PriorityNormal,
	task.PriorityHigh, task.PriorityLow, task.PriorityHigh, task.PriorityNormal, task.PriorityHigh,
}

// Options tune a Queue.
type Options struct {
	// MaxReceives is how many times a message may be received; the receive
	// attempt after that moves it to the dead-letter table (default 5).
	MaxReceives int
	// DefaultVisibility is used when ReceiveOptions.Visibility is zero
	// (default 30s, SQS's default).
	DefaultVisibility time.Duration
	// PollInterval is how often a long-polling Receive looks at the table
	// for messages sent by other processes (default 50ms). Sends through
	// this Queue wake its waiters at once.
	PollInterval time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Queue is one named logical queue.
type Queue struct {
	db   *sqlitedb.DB
	name string
	opts Options

	insert *sql.Stmt // prepared once on the writer: sends are a hot path

	mu   sync.Mutex
	next int           // position in rotation
	sent chan struct{} // closed and replaced on every Send
}

// New returns the queue called name, creating the tables if needed.
func New(ctx context.Context, db *sqlitedb.DB, name string, opts Options) (*Queue, error) {
	if name == "" {
		return nil, errors.New("sqlite queue: empty name")
	}
	if opts.MaxReceives <= 0 {
		opts.MaxReceives = 5
	}
	if opts.DefaultVisibility <= 0 {
		opts.DefaultVisibility = 30 * time.Second
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 50 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := db.Migrate(ctx, "queue", migrations); err != nil {
		return nil, fmt.Errorf("sqlite queue %s: %w", name, err)
	}
	insert, err := db.PrepareWrite(ctx, `INSERT INTO queue_messages (id, queue, priority, body, sent_at, visible_at)
		VALUES (?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return nil, fmt.Errorf("sqlite queue %s: %w", name, err)
	}
	return &Queue{db: db, name: name, opts: opts, insert: insert, sent: make(chan struct{})}, nil
}

// Send enqueues msgs in one transaction: all or none.
func (q *Queue) Send(ctx context.Context, msgs ...queue.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	if err := q.db.Write(ctx, func(tx *sql.Tx) error { return q.SendTx(tx, msgs...) }); err != nil {
		return fmt.Errorf("send %d messages to queue %s: %w", len(msgs), q.name, err)
	}
	q.Notify()
	return nil
}

// SendTx writes messages inside the caller's write transaction, so that
// they commit (or not) with the caller's other writes: the task store
// commits new tasks and their messages together this way. The caller
// calls Notify once the transaction has committed.
func (q *Queue) SendTx(tx *sql.Tx, msgs ...queue.Message) error {
	now := q.opts.Now()
	insert := tx.Stmt(q.insert)
	for i, m := range msgs {
		p := m.Priority
		if p == "" {
			p = task.PriorityNormal
		}
		if !p.Valid() {
			return fmt.Errorf("send to queue %s: message %d: unknown priority %q", q.name, i, p)
		}
		if m.Delay < 0 {
			return fmt.Errorf("send to queue %s: message %d: negative delay %s", q.name, i, m.Delay)
		}
		body := m.Body
		if body == nil {
			body = []byte{} // the column is NOT NULL; nil and empty are the same message
		}
		if _, err := insert.Exec(randomHex(16), q.name, string(p), body, now.UnixNano(), now.Add(m.Delay).UnixNano()); err != nil {
			return fmt.Errorf("send to queue %s: message %d: %w", q.name, i, err)
		}
	}
	return nil
}

// Notify wakes the receivers waiting on this Queue: messages were sent.
func (q *Queue) Notify() { q.broadcast() }

// broadcast wakes every Receive waiting on this Queue.
func (q *Queue) broadcast() {
	q.mu.Lock()
	close(q.sent)
	q.sent = make(chan struct{})
	q.mu.Unlock()
}

// Receive takes up to opts.Max visible messages, long polling up to
// opts.Wait for the first.
func (q *Queue) Receive(ctx context.Context, opts queue.ReceiveOptions) ([]queue.Delivery, error) {
	if opts.Max == 0 {
		opts.Max = 1
	}
	if opts.Max < 0 || opts.Max > maxBatch {
		return nil, fmt.Errorf("receive from queue %s: max %d is not between 1 and %d", q.name, opts.Max, maxBatch)
	}
	if opts.Visibility < 0 || opts.Wait < 0 {
		return nil, fmt.Errorf("receive from queue %s: negative visibility or wait", q.name)
	}
	if opts.Visibility == 0 {
		opts.Visibility = q.opts.DefaultVisibility
	}
	// Waiting uses the real clock even when Now is injected: it bounds how
	// long the caller is held, not what the messages' times say.
	deadline := time.Now().Add(opts.Wait)
	var ticker *time.Ticker
	for {
		// Take the channel before looking, so a Send that commits after
		// the look still wakes us.
		q.mu.Lock()
		sent := q.sent
		q.mu.Unlock()
		got, err := q.receiveOnce(ctx, opts)
		if err != nil || len(got) > 0 {
			return got, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, nil
		}
		if ticker == nil {
			ticker = time.NewTicker(q.opts.PollInterval)
			defer ticker.Stop()
		}
		timer := time.NewTimer(left)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, fmt.Errorf("receive from queue %s: %w", q.name, ctx.Err())
		case <-sent:
		case <-ticker.C:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// plan says how many of max slots each priority gets, following the
// rotation from where the last delivery left it.
func (q *Queue) plan(max int) map[task.Priority]int {
	q.mu.Lock()
	defer q.mu.Unlock()
	want := make(map[task.Priority]int, len(task.Priorities))
	for i := range max {
		want[rotation[(q.next+i)%len(rotation)]]++
	}
	return want
}

// advance moves the rotation on by the slots used, so that empty polls
// do not skip anyone's turn.
func (q *Queue) advance(n int) {
	q.mu.Lock()
	q.next = (q.next + n) % len(rotation)
	q.mu.Unlock()
}

type candidate struct {
	id       string
	priority task.Priority
	body     []byte
	sentAt   int64
	count    int
}

// receiveOnce selects and hides messages in one write transaction, so two
// receivers (in this process or another) never take the same message.
func (q *Queue) receiveOnce(ctx context.Context, opts queue.ReceiveOptions) ([]queue.Delivery, error) {
	now := q.opts.Now()
	// An idle queue is polled often: look with a read first, so that empty
	// polls never take the single writer from the submits.
	var ready bool
	if err := q.db.Read.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM queue_messages
		WHERE queue = ? AND visible_at <= ?)`, q.name, now.UnixNano()).Scan(&ready); err != nil {
		return nil, fmt.Errorf("receive from queue %s: %w", q.name, err)
	}
	if !ready {
		return nil, nil
	}
	want := q.plan(opts.Max)
	hiddenUntil := now.Add(opts.Visibility).UnixNano()
	var got []queue.Delivery
	// A receive lost to a power failure is a message received again: no
	// sync of its own (see sqlitedb.WriteRelaxed).
	err := q.db.WriteRelaxed(ctx, func(tx *sql.Tx) error {
		got = got[:0]
		// First each priority's share of the slots, then whatever is left
		// from any priority, most urgent first, so no slot goes unused
		// while messages wait.
		for _, p := range task.Priorities {
			if err := q.take(tx, p, want[p], now.UnixNano(), hiddenUntil, &got); err != nil {
				return err
			}
		}
		for _, p := range task.Priorities {
			if err := q.take(tx, p, opts.Max-len(got), now.UnixNano(), hiddenUntil, &got); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("receive from queue %s: %w", q.name, err)
	}
	q.advance(len(got))
	return got, nil
}

// take hides up to n visible messages of priority p and appends them to
// got, moving any that were already received MaxReceives times to the
// dead-letter table on the way.
func (q *Queue) take(tx *sql.Tx, p task.Priority, n int, now, hiddenUntil int64, got *[]queue.Delivery) error {
	for n > 0 {
		cands, err := q.candidates(tx, p, n, now)
		if err != nil || len(cands) == 0 {
			return err
		}
		for _, c := range cands {
			if c.count >= q.opts.MaxReceives {
				if err := q.kill(tx, c.id, now); err != nil {
					return err
				}
				continue
			}
			token := randomHex(16)
			if _, err := tx.Exec(`UPDATE queue_messages
				SET receipt = ?, receive_count = receive_count + 1, visible_at = ?
				WHERE id = ?`, token, hiddenUntil, c.id); err != nil {
				return fmt.Errorf("hide message %s: %w", c.id, err)
			}
			*got = append(*got, queue.Delivery{
				ID:           c.id,
				Priority:     c.priority,
				Body:         c.body,
				Receipt:      c.id + token,
				ReceiveCount: c.count + 1,
				SentAt:       time.Unix(0, c.sentAt),
			})
			n--
		}
	}
	return nil
}

// candidates reads before writing: the rows are closed before the
// updates run on the same transaction.
func (q *Queue) candidates(tx *sql.Tx, p task.Priority, n int, now int64) ([]candidate, error) {
	rows, err := tx.Query(`SELECT id, body, sent_at, receive_count FROM queue_messages
		WHERE queue = ? AND priority = ? AND visible_at <= ?
		ORDER BY visible_at LIMIT ?`, q.name, string(p), now, n)
	if err != nil {
		return nil, fmt.Errorf("select %s messages: %w", p, err)
	}
	defer rows.Close()
	var cands []candidate
	for rows.Next() {
		c := candidate{priority: p}
		if err := rows.Scan(&c.id, &c.body, &c.sentAt, &c.count); err != nil {
			return nil, fmt.Errorf("select %s messages: %w", p, err)
		}
		cands = append(cands, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("select %s messages: %w", p, err)
	}
	return cands, nil
}

func (q *Queue) kill(tx *sql.Tx, id string, now int64) error {
	if _, err := tx.Exec(`INSERT INTO queue_dead_letters (id, queue, priority, body, sent_at, receive_count, died_at)
		SELECT id, queue, priority, body, sent_at, receive_count, ? FROM queue_messages WHERE id = ?`, now, id); err != nil {
		return fmt.Errorf("dead-letter message %s: %w", id, err)
	}
	if _, err := tx.Exec(`DELETE FROM queue_messages WHERE id = ?`, id); err != nil {
		return fmt.Errorf("dead-letter message %s: %w", id, err)
	}
	return nil
}

// Delete removes the message received under receipt.
func (q *Queue) Delete(ctx context.Context, receipt string) error {
	id, token, ok := splitReceipt(receipt)
	if !ok {
		return fmt.Errorf("delete from queue %s: %w", q.name, queue.ErrReceiptInvalid)
	}
	var n int64
	// A delete lost to a power failure is a message delivered again, which
	// at-least-once delivery allows: no sync of its own.
	err := q.db.WriteRelaxed(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`DELETE FROM queue_messages WHERE id = ? AND queue = ? AND receipt = ?`, id, q.name, token)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("delete message %s from queue %s: %w", id, q.name, err)
	}
	if n == 0 {
		return fmt.Errorf("delete message %s from queue %s: %w", id, q.name, queue.ErrReceiptInvalid)
	}
	return nil
}

// ChangeVisibility hides the message received under receipt for d from
// now. The receipt stays valid, as in SQS. A message whose visibility has
// already run out is no longer in flight, so its receipt is refused too
// (SQS answers MessageNotInflight), even though nobody has taken it since.
func (q *Queue) ChangeVisibility(ctx context.Context, receipt string, d time.Duration) error {
	id, token, ok := splitReceipt(receipt)
	if !ok {
		return fmt.Errorf("change visibility in queue %s: %w", q.name, queue.ErrReceiptInvalid)
	}
	if d < 0 {
		return fmt.Errorf("change visibility of message %s in queue %s: negative duration %s", id, q.name, d)
	}
	now := q.opts.Now()
	var n int64
	err := q.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE queue_messages SET visible_at = ?
			WHERE id = ? AND queue = ? AND receipt = ? AND visible_at > ?`,
			now.Add(d).UnixNano(), id, q.name, token, now.UnixNano())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("change visibility of message %s in queue %s: %w", id, q.name, err)
	}
	if n == 0 {
		return fmt.Errorf("change visibility of message %s in queue %s: %w", id, q.name, queue.ErrReceiptInvalid)
	}
	return nil
}

// Stats counts the queue's messages. Delayed messages count as in flight,
// as the port says.
func (q *Queue) Stats(ctx context.Context) (queue.Stats, error) {
	now := q.opts.Now()
	st := queue.Stats{
		Visible:  make(map[task.Priority]int, len(task.Priorities)),
		InFlight: make(map[task.Priority]int, len(task.Priorities)),
	}
	for _, p := range task.Priorities {
		st.Visible[p], st.InFlight[p] = 0, 0
	}
	rows, err := q.db.Read.QueryContext(ctx, `SELECT priority,
			COALESCE(SUM(visible_at <= ?1), 0),
			COALESCE(SUM(visible_at > ?1), 0),
			MIN(CASE WHEN visible_at <= ?1 THEN sent_at END)
		FROM queue_messages WHERE queue = ?2 GROUP BY priority`, now.UnixNano(), q.name)
	if err != nil {
		return queue.Stats{}, fmt.Errorf("stats of queue %s: %w", q.name, err)
	}
	defer rows.Close()
	var oldest int64
	for rows.Next() {
		var (
			p                 string
			visible, inFlight int
			first             sql.NullInt64
		)
		if err := rows.Scan(&p, &visible, &inFlight, &first); err != nil {
			return queue.Stats{}, fmt.Errorf("stats of queue %s: %w", q.name, err)
		}
		st.Visible[task.Priority(p)] = visible
		st.InFlight[task.Priority(p)] = inFlight
		if first.Valid && (oldest == 0 || first.Int64 < oldest) {
			oldest = first.Int64
		}
	}
	if err := rows.Err(); err != nil {
		return queue.Stats{}, fmt.Errorf("stats of queue %s: %w", q.name, err)
	}
	if oldest != 0 {
		st.OldestVisibleAge = max(now.Sub(time.Unix(0, oldest)), 0)
	}
	if err := q.db.Read.QueryRowContext(ctx, `SELECT count(*) FROM queue_dead_letters WHERE queue = ?`, q.name).Scan(&st.Dead); err != nil {
		return queue.Stats{}, fmt.Errorf("stats of queue %s: dead letters: %w", q.name, err)
	}
	return st, nil
}

// DeadLetters returns up to max dead messages, the earliest dead first.
// They carry no receipt: they cannot be deleted through the queue.
func (q *Queue) DeadLetters(ctx context.Context, max int) ([]queue.Delivery, error) {
	if max <= 0 {
		return nil, nil
	}
	rows, err := q.db.Read.QueryContext(ctx, `SELECT id, priority, body, sent_at, receive_count
		FROM queue_dead_letters WHERE queue = ? ORDER BY died_at, id LIMIT ?`, q.name, max)
	if err != nil {
		return nil, fmt.Errorf("dead letters of queue %s: %w", q.name, err)
	}
	defer rows.Close()
	var out []queue.Delivery
	for rows.Next() {
		var (
			d      queue.Delivery
			p      string
			sentAt int64
		)
		if err := rows.Scan(&d.ID, &p, &d.Body, &sentAt, &d.ReceiveCount); err != nil {
			return nil, fmt.Errorf("dead letters of queue %s: %w", q.name, err)
		}
		d.Priority = task.Priority(p)
		d.SentAt = time.Unix(0, sentAt)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("dead letters of queue %s: %w", q.name, err)
	}
	return out, nil
}

// A receipt is the message id (32 hex) followed by the receive's token
// (32 hex): random, new on every receive, and enough to find the row.
const idLen = 32

func splitReceipt(r string) (id, token string, ok bool) {
	if len(r) != 2*idLen {
		return "", "", false
	}
	if _, err := hex.DecodeString(r); err != nil {
		return "", "", false
	}
	return r[:idLen], r[idLen:], true
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics rather than return an error)
	return hex.EncodeToString(b)
}

// ReleaseInFlight makes the messages received but not yet deleted visible
// now, with a fresh receipt (the old ones stop working). Only for a queue
// that one process consumes (the local server, at start-up): what the last
// run was handling when it stopped is taken up at once instead of after
// its visibility timeout. Delayed messages that were never received keep
// their delay.
func (q *Queue) ReleaseInFlight(ctx context.Context) (int, error) {
	now := q.opts.Now().UnixNano()
	var n int64
	err := q.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE queue_messages SET visible_at = ?, receipt = NULL
			WHERE queue = ? AND receive_count > 0 AND visible_at > ?`, now, q.name, now)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("release in-flight messages of queue %s: %w", q.name, err)
	}
	if n > 0 {
		q.broadcast()
	}
	return int(n), nil
}
