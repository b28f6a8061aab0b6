package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/webhook"
)

var _ webhook.Store = (*Store)(nil)

// webhooksComponent names the webhook tables' schema in the shared database.
const webhooksComponent = "webhooks"

// webhookMigrations are append-only: a released step is never edited.
var webhookMigrations = []string{
	`CREATE TABLE webhook_deliveries (
		id              TEXT PRIMARY KEY,
		event_id        TEXT NOT NULL UNIQUE,
		user_id         TEXT NOT NULL,
		subject_id      TEXT NOT NULL,
		event_type      TEXT NOT NULL,
		event_seq       INTEGER NOT NULL,
		event_data      TEXT NOT NULL,
		url             TEXT NOT NULL,
		status          TEXT NOT NULL,
		attempt_count   INTEGER NOT NULL,
		next_attempt_at INTEGER NOT NULL,
		lease           TEXT NOT NULL,
		last_attempt    TEXT,
		created_at      INTEGER NOT NULL,
		updated_at      INTEGER NOT NULL
	)`,
	`CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at)`,
	`CREATE INDEX webhook_deliveries_by_subject ON webhook_deliveries (subject_id, created_at)`,
	`CREATE INDEX webhook_deliveries_by_user ON webhook_deliveries (user_id, created_at DESC, id DESC)`,
	`CREATE INDEX webhook_deliveries_by_user_status ON webhook_deliveries (user_id, status, created_at DESC, id DESC)`,
	`CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (created_at) WHERE status = 'pending'`,
	`CREATE TABLE webhook_attempts (
		delivery_id TEXT NOT NULL,
		n           INTEGER NOT NULL,
		at          INTEGER NOT NULL,
		status_code INTEGER NOT NULL,
		latency_ns  INTEGER NOT NULL,
		response    TEXT NOT NULL,
		error       TEXT NOT NULL,
		outcome     TEXT NOT NULL,
		PRIMARY KEY (delivery_id, n)
	) WITHOUT ROWID`,
	`CREATE TABLE webhook_disabled_endpoints (
		user_id     TEXT NOT NULL,
		url         TEXT NOT NULL,
		disabled_at INTEGER NOT NULL,
		PRIMARY KEY (user_id, url)
	) WITHOUT ROWID`,
	`CREATE TABLE webhook_secrets (
		id         INTEGER PRIMARY KEY,
		user_id    TEXT NOT NULL,
		secret     TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		expires_at INTEGER
	)`,
	`CREATE INDEX webhook_secrets_by_user ON webhook_secrets (user_id, created_at DESC, id DESC)`,
	// Deliveries per status, for /metrics, kept by triggers as task_counts is.
	`CREATE TABLE webhook_delivery_counts (status TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID`,
	`INSERT INTO webhook_delivery_counts (status, n)
		VALUES ('pending', 0), ('delivered', 0), ('exhausted', 0), ('skipped', 0), ('blocked', 0)`,
	`CREATE TRIGGER webhook_delivery_counts_insert AFTER INSERT ON webhook_deliveries BEGIN
		UPDATE webhook_delivery_counts SET n = n + 1 WHERE status = NEW.status;
	END`,
	`CREATE TRIGGER webhook_delivery_counts_update AFTER UPDATE OF status ON webhook_deliveries
		WHEN OLD.status <> NEW.status BEGIN
		UPDATE webhook_delivery_counts SET n = n - 1 WHERE status = OLD.status;
		UPDATE webhook_delivery_counts SET n = n + 1 WHERE status = NEW.status;
	END`,
	`CREATE TRIGGER webhook_delivery_counts_delete AFTER DELETE ON webhook_deliveries BEGIN
		UPDATE webhook_delivery_counts SET n = n - 1 WHERE status = OLD.status;
	END`,
}

const deliveryColumns = `id, event_id, user_id, subject_id, event_type, event_seq, event_data, url,
	status, attempt_count, next_attempt_at, lease, last_attempt, created_at, updated_at`

// A new delivery is ignored when one exists for its event: storing an
// event's delivery twice stores it once.
const insertDeliverySQL = `INSERT OR IGNORE INTO webhook_deliveries (` + deliveryColumns + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, '', NULL, ?, ?)`

const insertAttemptSQL = `INSERT INTO webhook_attempts
	(delivery_id, n, at, status_code, latency_ns, response, error, outcome)
	VALUES (?, (SELECT coalesce(max(n), 0) + 1 FROM webhook_attempts WHERE delivery_id = ?), ?, ?, ?, ?, ?, ?)`

// webhookState is the store's part for webhooks: statements of the
// outbox, prepared once, and who to tell about new deliveries.
type webhookState struct {
	insertDelivery *sql.Stmt
	endpointOff    *sql.Stmt
}

// initWebhooks applies the webhook tables' migrations and prepares the
// outbox's statements; New calls it.
func (s *Store) initWebhooks(ctx context.Context) error {
	if err := s.db.Migrate(ctx, webhooksComponent, webhookMigrations); err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	var err error
	if s.webhooks.insertDelivery, err = s.db.PrepareWrite(ctx, insertDeliverySQL); err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	if s.webhooks.endpointOff, err = s.db.PrepareWrite(ctx,
		`SELECT EXISTS (SELECT 1 FROM webhook_disabled_endpoints WHERE user_id = ? AND url = ?)`); err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	return nil
}

// deliveriesCommitted tells the store's hook (Options.OnDeliveries) of
// the pending deliveries a committed write created or made due.
func (s *Store) deliveriesCommitted(ctx context.Context, pending []webhook.Delivery) {
	if len(pending) > 0 && s.onDeliveries != nil {
		s.onDeliveries(ctx, pending)
	}
}

// insertEventsAndDeliveries appends events and, in the same transaction,
// their webhook deliveries: the outbox that makes a stored event a
// delivered one. It returns the pending deliveries it created.
func (s *Store) insertEventsAndDeliveries(tx *sql.Tx, events []task.Event) ([]webhook.Delivery, error) {
	if err := insertEvents(tx, s.insertEvent, events); err != nil {
		return nil, err
	}
	return s.createDeliveriesTx(tx, events)
}

// createDeliveriesTx stores the deliveries webhook.Plan gives events,
// reading what it needs in the same transaction; a skipped one gets its
// attempt. It returns the pending deliveries it created.
func (s *Store) createDeliveriesTx(tx *sql.Tx, events []task.Event) ([]webhook.Delivery, error) {
	known, err := s.outboxTx(tx, events)
	if err != nil {
		return nil, err
	}
	var created []webhook.Delivery
	for _, d := range webhook.Plan(events, known, s.now()).Deliveries {
		res, err := tx.Stmt(s.webhooks.insertDelivery).Exec(d.ID, d.EventID, d.UserID, d.SubjectID, string(d.EventType),
			d.Event.Seq, string(d.Event.Data), d.URL, string(d.Status), nanos(d.NextAttemptAt), nanos(d.CreatedAt), nanos(d.UpdatedAt))
		if err != nil {
			return nil, fmt.Errorf("insert delivery of event %s: %w", d.EventID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, fmt.Errorf("insert delivery of event %s: %w", d.EventID, err)
		} else if n == 0 {
			continue // already stored
		}
		if d.Status == webhook.StatusPending {
			created = append(created, d)
		}
		if d.LastAttempt != nil {
			if err := recordAttemptTx(tx, d.ID, d.AttemptCount, d.Status, d.NextAttemptAt, "", *d.LastAttempt); err != nil {
				return nil, fmt.Errorf("skip delivery of event %s: %w", d.EventID, err)
			}
		}
	}
	return created, nil
}

// outboxTx reads the disabled endpoints and last progress deliveries
// that webhook.Plan needs for events.
func (s *Store) outboxTx(tx *sql.Tx, events []task.Event) (webhook.Outbox, error) {
	endpoints, subjects := webhook.PlanNeeds(events)
	known := webhook.Outbox{Disabled: map[webhook.Endpoint]bool{}, LastProgress: map[string]time.Time{}}
	for _, ep := range endpoints {
		var off bool
		if err := tx.Stmt(s.webhooks.endpointOff).QueryRow(ep.UserID, ep.URL).Scan(&off); err != nil {
			return known, fmt.Errorf("read webhook endpoint: %w", err)
		}
		known.Disabled[ep] = off
	}
	for _, subject := range subjects {
		var last sql.NullInt64
		err := tx.QueryRow(`SELECT max(created_at) FROM webhook_deliveries
			WHERE subject_id = ? AND event_type = ?`, subject, string(task.EventTaskProgress)).Scan(&last)
		if err != nil {
			return known, fmt.Errorf("last progress delivery of %s: %w", subject, err)
		}
		if last.Valid {
			known.LastProgress[subject] = fromNanos(last.Int64)
		}
	}
	return known, nil
}

// attemptRow is an attempt as stored in a delivery's last_attempt.
type attemptRow struct {
	At         int64  `json:"at"`
	StatusCode int    `json:"status_code,omitempty"`
	LatencyNS  int64  `json:"latency_ns,omitempty"`
	Response   string `json:"response,omitempty"`
	Error      string `json:"error,omitempty"`
	Outcome    string `json:"outcome"`
}

func (r attemptRow) attempt() webhook.Attempt {
	return webhook.Attempt{At: fromNanos(r.At), StatusCode: r.StatusCode, Latency: time.Duration(r.LatencyNS),
		Response: r.Response, Error: r.Error, Outcome: webhook.Outcome(r.Outcome)}
}

// recordAttemptTx appends a and sets the delivery's status, count, next
// attempt time and lease.
func recordAttemptTx(tx *sql.Tx, id string, count int, status webhook.Status, next time.Time, lease string, a webhook.Attempt) error {
	if err := appendAttemptTx(tx, id, a); err != nil {
		return err
	}
	last, err := jsonText(attemptRow{At: nanos(a.At), StatusCode: a.StatusCode, LatencyNS: int64(a.Latency),
		Response: a.Response, Error: a.Error, Outcome: string(a.Outcome)})
	if err != nil {
		return fmt.Errorf("encode attempt: %w", err)
	}
	_, err = tx.Exec(`UPDATE webhook_deliveries SET status = ?, attempt_count = ?, next_attempt_at = ?,
		lease = ?, last_attempt = ?, updated_at = ? WHERE id = ?`,
		string(status), count, nanos(next), lease, last, nanos(a.At), id)
	if err != nil {
		return fmt.Errorf("update delivery: %w", err)
	}
	return nil
}

func appendAttemptTx(tx *sql.Tx, id string, a webhook.Attempt) error {
	_, err := tx.Exec(insertAttemptSQL, id, id, nanos(a.At), a.StatusCode, int64(a.Latency), a.Response, a.Error, string(a.Outcome))
	if err != nil {
		return fmt.Errorf("insert attempt: %w", err)
	}
	return nil
}

func scanDelivery(row scanner) (webhook.Delivery, error) {
	var (
		d                          webhook.Delivery
		typ, status, data          string
		seq                        int64
		next, createdAt, updatedAt int64
		last                       sql.NullString
	)
	err := row.Scan(&d.ID, &d.EventID, &d.UserID, &d.SubjectID, &typ, &seq, &data, &d.URL,
		&status, &d.AttemptCount, &next, &d.Lease, &last, &createdAt, &updatedAt)
	if err != nil {
		return d, err
	}
	d.EventType, d.Status = task.EventType(typ), webhook.Status(status)
	d.NextAttemptAt, d.CreatedAt, d.UpdatedAt = fromNanos(next), fromNanos(createdAt), fromNanos(updatedAt)
	d.Event = task.Event{ID: d.EventID, SubjectID: d.SubjectID, UserID: d.UserID, Seq: seq, Type: d.EventType,
		CreatedAt: d.CreatedAt, Data: json.RawMessage(data), WebhookURL: d.URL}
	if last.Valid {
		var r attemptRow
		if err := json.Unmarshal([]byte(last.String), &r); err != nil {
			return d, fmt.Errorf("decode last attempt of %s: %w", d.ID, err)
		}
		a := r.attempt()
		d.LastAttempt = &a
	}
	return d, nil
}

// ClaimDue leases up to limit pending deliveries due at now, oldest due
// first, until now+lease.
func (s *Store) ClaimDue(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]webhook.Delivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	// An idle poll is a read: it takes neither the writer nor an fsync.
	var due int
	err := s.db.Read.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM webhook_deliveries
		WHERE status = 'pending' AND next_attempt_at <= ? LIMIT 1)`, nanos(now)).Scan(&due)
	if err != nil {
		return nil, fmt.Errorf("claim due deliveries: %w", err)
	}
	if due == 0 {
		return nil, nil
	}
	token, err := webhook.NewLease()
	if err != nil {
		return nil, fmt.Errorf("claim due deliveries: %w", err)
	}
	var claimed []webhook.Delivery
	err = s.db.Write(ctx, func(tx *sql.Tx) error {
		claimed = claimed[:0]
		rows, err := tx.Query(`UPDATE webhook_deliveries SET lease = ?, next_attempt_at = ?
			WHERE id IN (SELECT id FROM webhook_deliveries
				WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?)
			RETURNING `+deliveryColumns, token, nanos(now.Add(lease)), nanos(now), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			d, err := scanDelivery(rows)
			if err != nil {
				return err
			}
			claimed = append(claimed, d)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("claim due deliveries: %w", err)
	}
	return claimed, nil
}

// ClaimDelivery leases the delivery id until now+lease when it is pending
// and due at now; otherwise it returns the delivery as stored, unclaimed.
func (s *Store) ClaimDelivery(ctx context.Context, id string, now time.Time, lease time.Duration) (webhook.Delivery, bool, error) {
	token, err := webhook.NewLease()
	if err != nil {
		return webhook.Delivery{}, false, fmt.Errorf("claim delivery %s: %w", id, err)
	}
	var d webhook.Delivery
	claimed := false
	err = s.db.Write(ctx, func(tx *sql.Tx) error {
		d, err = scanDelivery(tx.QueryRow(`UPDATE webhook_deliveries SET lease = ?, next_attempt_at = ?
			WHERE id = ? AND status = 'pending' AND next_attempt_at <= ?
			RETURNING `+deliveryColumns, token, nanos(now.Add(lease)), id, nanos(now)))
		if err == nil {
			claimed = true
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		claimed = false
		d, err = scanDelivery(tx.QueryRow(`SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return webhook.ErrNotFound
		}
		return err
	})
	if err != nil {
		return webhook.Delivery{}, false, fmt.Errorf("claim delivery %s: %w", id, err)
	}
	return d, claimed, nil
}

// DueDeliveries returns up to limit pending deliveries due before the
// given time, oldest due first, without claiming them.
func (s *Store) DueDeliveries(ctx context.Context, before time.Time, limit int) ([]webhook.Delivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries
		WHERE status = 'pending' AND next_attempt_at < ? ORDER BY next_attempt_at, id LIMIT ?`, nanos(before), limit)
	if err != nil {
		return nil, fmt.Errorf("due deliveries: %w", err)
	}
	defer rows.Close()
	var due []webhook.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("due deliveries: %w", err)
		}
		due = append(due, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("due deliveries: %w", err)
	}
	return due, nil
}

// RecordAttempt appends a to d's attempts and stores d's new state,
// unless d's lease has lapsed (then only the attempt is kept: it did
// happen).
func (s *Store) RecordAttempt(ctx context.Context, d webhook.Delivery, a webhook.Attempt) error {
	lost := false
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		lost = false
		var lease string
		err := tx.QueryRow(`SELECT lease FROM webhook_deliveries WHERE id = ?`, d.ID).Scan(&lease)
		if errors.Is(err, sql.ErrNoRows) {
			return webhook.ErrNotFound
		}
		if err != nil {
			return err
		}
		if lease != d.Lease {
			lost = true
			return appendAttemptTx(tx, d.ID, a)
		}
		return recordAttemptTx(tx, d.ID, d.AttemptCount, d.Status, d.NextAttemptAt, "", a)
	})
	if err != nil {
		return fmt.Errorf("record attempt of delivery %s: %w", d.ID, err)
	}
	if lost {
		return fmt.Errorf("record attempt of delivery %s: %w", d.ID, webhook.ErrLeaseLost)
	}
	return nil
}

// GetDelivery returns the user's delivery with its attempts, oldest first.
func (s *Store) GetDelivery(ctx context.Context, userID, id string) (webhook.Delivery, error) {
	query := `SELECT ` + deliveryColumns + ` FROM webhook_deliveries WHERE id = ?`
	args := []any{id}
	if userID != "" {
		query += ` AND user_id = ?`
		args = append(args, userID)
	}
	d, err := scanDelivery(s.db.Read.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("get delivery %s: %w", id, webhook.ErrNotFound)
	}
	if err != nil {
		return d, fmt.Errorf("get delivery %s: %w", id, err)
	}
	rows, err := s.db.Read.QueryContext(ctx, `SELECT at, status_code, latency_ns, response, error, outcome
		FROM webhook_attempts WHERE delivery_id = ? ORDER BY n`, id)
	if err != nil {
		return d, fmt.Errorf("get delivery %s attempts: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var r attemptRow
		if err := rows.Scan(&r.At, &r.StatusCode, &r.LatencyNS, &r.Response, &r.Error, &r.Outcome); err != nil {
			return d, fmt.Errorf("get delivery %s attempts: %w", id, err)
		}
		d.Attempts = append(d.Attempts, r.attempt())
	}
	if err := rows.Err(); err != nil {
		return d, fmt.Errorf("get delivery %s attempts: %w", id, err)
	}
	return d, nil
}

// ListDeliveries returns the user's deliveries newest first (ties by id,
// descending), after the cursor's position.
func (s *Store) ListDeliveries(ctx context.Context, userID string, f webhook.Filter) (webhook.Page, error) {
	query, args, limit, err := s.newestFirst(`SELECT `+deliveryColumns+` FROM webhook_deliveries`, "deliveries", userID,
		[]filter{{"status", string(f.Status)}, {"subject_id", f.SubjectID}}, f.Cursor, f.Limit)
	if err != nil {
		return webhook.Page{}, fmt.Errorf("list deliveries: cursor %q: %w", f.Cursor, webhook.ErrBadCursor)
	}
	rows, err := s.db.Read.QueryContext(ctx, query, args...)
	if err != nil {
		return webhook.Page{}, fmt.Errorf("list deliveries: %w", err)
	}
	defer rows.Close()
	var deliveries []webhook.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return webhook.Page{}, fmt.Errorf("list deliveries: %w", err)
		}
		deliveries = append(deliveries, d)
	}
	if err := rows.Err(); err != nil {
		return webhook.Page{}, fmt.Errorf("list deliveries: %w", err)
	}
	var page webhook.Page
	page.Deliveries, page.NextCursor = pageOf(s, "deliveries", userID, deliveries, limit, func(d webhook.Delivery) (time.Time, string) { return d.CreatedAt, d.ID })
	return page, nil
}

// RetryDelivery makes the user's delivery pending and due at now, and
// re-enables its endpoint.
func (s *Store) RetryDelivery(ctx context.Context, userID, id string, now time.Time) (webhook.Delivery, error) {
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		query := `UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ?, lease = '', updated_at = ?
			WHERE id = ?`
		args := []any{nanos(now), nanos(now), id}
		if userID != "" {
			query += ` AND user_id = ?`
			args = append(args, userID)
		}
		query += ` RETURNING user_id, url`
		var owner, url string
		err := tx.QueryRow(query, args...).Scan(&owner, &url)
		if errors.Is(err, sql.ErrNoRows) {
			return webhook.ErrNotFound
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(`DELETE FROM webhook_disabled_endpoints WHERE user_id = ? AND url = ?`, owner, url)
		return err
	})
	if err != nil {
		return webhook.Delivery{}, fmt.Errorf("retry delivery %s: %w", id, err)
	}
	d, err := s.GetDelivery(ctx, userID, id)
	if err != nil {
		return d, fmt.Errorf("retry: %w", err)
	}
	s.deliveriesCommitted(ctx, []webhook.Delivery{d})
	return d, nil
}

// DisableEndpoint records that the user's url answered 410 Gone.
func (s *Store) DisableEndpoint(ctx context.Context, userID, url string, at time.Time) error {
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT OR IGNORE INTO webhook_disabled_endpoints (user_id, url, disabled_at) VALUES (?, ?, ?)`,
			userID, url, nanos(at))
		return err
	})
	if err != nil {
		return fmt.Errorf("disable webhook endpoint: %w", err)
	}
	return nil
}

// EndpointDisabled reports whether the user's url is disabled.
func (s *Store) EndpointDisabled(ctx context.Context, userID, url string) (bool, error) {
	var off bool
	err := s.db.Read.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM webhook_disabled_endpoints WHERE user_id = ? AND url = ?)`, userID, url).Scan(&off)
	if err != nil {
		return false, fmt.Errorf("read webhook endpoint: %w", err)
	}
	return off, nil
}

const activeSecretsSQL = `SELECT secret FROM webhook_secrets
	WHERE user_id = ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY created_at DESC, id DESC`

func activeSecrets(ctx context.Context, q interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}, userID string, now time.Time) ([]string, error) {
	rows, err := q.QueryContext(ctx, activeSecretsSQL, userID, nanos(now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var secrets []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		secrets = append(secrets, s)
	}
	return secrets, rows.Err()
}

// WebhookSecrets returns the user's active signing secrets, newest
// first, creating the first one if the user has none.
func (s *Store) WebhookSecrets(ctx context.Context, userID string, now time.Time) ([]string, error) {
	secrets, err := activeSecrets(ctx, s.db.Read, userID, now)
	if err != nil {
		return nil, fmt.Errorf("webhook secrets: %w", err)
	}
	if len(secrets) > 0 {
		return secrets, nil
	}
	fresh, err := webhook.NewSecret()
	if err != nil {
		return nil, err
	}
	// In the writer, so that two first calls at once make one secret.
	err = s.db.Write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`INSERT INTO webhook_secrets (user_id, secret, created_at)
			SELECT ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM webhook_secrets
				WHERE user_id = ? AND (expires_at IS NULL OR expires_at > ?))`,
			userID, fresh, nanos(now), userID, nanos(now)); err != nil {
			return err
		}
		secrets, err = activeSecrets(ctx, tx, userID, now)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("webhook secrets: %w", err)
	}
	return secrets, nil
}

// RotateWebhookSecret makes a new secret for the user; the ones active
// until now stay active for webhook.RotationGrace.
func (s *Store) RotateWebhookSecret(ctx context.Context, userID string, now time.Time) (string, error) {
	fresh, err := webhook.NewSecret()
	if err != nil {
		return "", err
	}
	until := nanos(now.Add(webhook.RotationGrace))
	err = s.db.Write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`DELETE FROM webhook_secrets WHERE user_id = ? AND expires_at <= ?`, userID, nanos(now)); err != nil {
			return err
		}
		if _, err := tx.Exec(`UPDATE webhook_secrets SET expires_at = ?
			WHERE user_id = ? AND (expires_at IS NULL OR expires_at > ?)`, until, userID, until); err != nil {
			return err
		}
		_, err := tx.Exec(`INSERT INTO webhook_secrets (user_id, secret, created_at) VALUES (?, ?, ?)`, userID, fresh, nanos(now))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("rotate webhook secret: %w", err)
	}
	return fresh, nil
}

// OldestPendingDelivery returns the creation time of the oldest pending
// delivery.
func (s *Store) OldestPendingDelivery(ctx context.Context) (time.Time, bool, error) {
	var oldest sql.NullInt64
	err := s.db.Read.QueryRowContext(ctx,
		`SELECT min(created_at) FROM webhook_deliveries WHERE status = 'pending'`).Scan(&oldest)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("oldest pending delivery: %w", err)
	}
	if !oldest.Valid {
		return time.Time{}, false, nil
	}
	return fromNanos(oldest.Int64), true, nil
}

// CountDeliveries counts every user's deliveries by status.
func (s *Store) CountDeliveries(ctx context.Context) (map[webhook.Status]int, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT status, n FROM webhook_delivery_counts`)
	if err != nil {
		return nil, fmt.Errorf("count deliveries: %w", err)
	}
	defer rows.Close()
	counts := make(map[webhook.Status]int, len(webhook.Statuses))
	for rows.Next() {
		var status string
		var n int
		if err := rows.Scan(&status, &n); err != nil {
			return nil, fmt.Errorf("count deliveries: %w", err)
		}
		counts[webhook.Status(status)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count deliveries: %w", err)
	}
	return counts, nil
}

// ReleaseDeliveryLeases makes the deliveries claimed by an earlier run of
// this process due now. Only for a store that one process delivers from
// (the local server, at start-up): attempts cut short by a crash are then
// retried at once instead of after their lease, with the same webhook-id.
func (s *Store) ReleaseDeliveryLeases(ctx context.Context, now time.Time) (int, error) {
	var n int64
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE webhook_deliveries SET lease = '', next_attempt_at = ?
			WHERE status = 'pending' AND lease <> ''`, nanos(now))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("release delivery leases: %w", err)
	}
	return int(n), nil
}
