package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/webhook"
)

// ErrCreationTooLarge: a creation whose conditional writes (its tasks,
// batch, idempotency record and counters) exceed one transaction. With
// one counter item per user, that is a batch of more than 97 tasks.
var ErrCreationTooLarge = errors.New("creation exceeds one DynamoDB transaction")

// MaxCreateTasks is the largest batch that Create takes: 100 actions less
// the batch, the idempotency record and the user's counter item.
const MaxCreateTasks = maxTransactItems - 3

// role says what a conditional write of a creation is, so that a failed
// condition maps to the right error.
type role struct {
	kind string // "idempotency", "batch", "task" or "event"
	id   string
}

// creation is a submit's writes, in the groups that the transaction plan
// needs (see Create).
type creation struct {
	decisive   []types.TransactWriteItem // idempotency record, batch, tasks: each refused if its key is taken
	roles      []role                    // of decisive
	events     []types.TransactWriteItem
	subjects   []role // of events
	stats      []types.TransactWriteItem
	deliveries []types.TransactWriteItem
	pending    []webhook.Delivery
	eventKeys  []map[string]types.AttributeValue
}

// Create stores a submit all or nothing.
//
// The usual submit (one task, or a batch of up to 48 tasks with an event
// each) is one transaction: idempotency record, batch, tasks, events,
// counters and webhook deliveries. A larger batch does not fit in the 100
// actions of one transaction, so its events go first, in transactions of
// their own, and one transaction then commits everything that decides
// (the idempotency record, the batch, every task) with the counters and
// the deliveries. The events are under the new subjects' ids, which
// nothing shows until that commit: if it is refused, they are deleted,
// and if the process stops in between, they stay unseen. Deliveries that
// do not fit in the commit (a batch of n leaves room for 97 - n delivery
// writes) are written right after it. See TABLE.md.
func (s *Store) Create(ctx context.Context, c task.Creation) error {
	what := creationName(c)
	cr, err := s.plan(ctx, c)
	if err != nil {
		return fmt.Errorf("create %s: %w", what, err)
	}
	whole := slices.Concat(cr.decisive, cr.events, cr.stats, cr.deliveries)
	if len(whole) <= maxTransactItems {
		if err := s.transactRetrying(ctx, whole); err != nil {
			return fmt.Errorf("create %s: %w", what, creationError(err, slices.Concat(cr.roles, cr.subjects)))
		}
		s.deliveriesCommitted(ctx, cr.pending)
		return nil
	}
	if err := s.createStaged(ctx, c, cr); err != nil {
		return fmt.Errorf("create %s: %w", what, err)
	}
	s.deliveriesCommitted(ctx, cr.pending)
	return nil
}

func (s *Store) plan(ctx context.Context, c task.Creation) (*creation, error) {
	cr := &creation{}
	now := s.now()
	seen := make(map[string]bool, len(c.Tasks))
	var stats statsChange
	if c.Idempotency != nil {
		cr.decisive = append(cr.decisive, s.idempotencyPut(c.Idempotency, now))
		cr.roles = append(cr.roles, role{"idempotency", c.Idempotency.Key})
	}
	if c.Batch != nil {
		it, err := encodeBatch(c.Batch)
		if err != nil {
			return nil, err
		}
		cr.decisive = append(cr.decisive, putNew(s.table, it))
		cr.roles = append(cr.roles, role{"batch", c.Batch.ID})
	}
	for _, t := range c.Tasks {
		if seen[t.ID] {
			return nil, fmt.Errorf("task %s twice: %w", t.ID, task.ErrDuplicateID)
		}
		seen[t.ID] = true
		it, err := encodeTask(t)
		if err != nil {
			return nil, err
		}
		cr.decisive = append(cr.decisive, putNew(s.table, it))
		cr.roles = append(cr.roles, role{"task", t.ID})
		stats.enter(t)
	}
	seenEvents := make(map[string]bool, len(c.Events))
	for _, e := range c.Events {
		it, err := encodeEvent(e)
		if err != nil {
			return nil, err
		}
		k := e.SubjectID + "\x00" + strconv.FormatInt(e.Seq, 10)
		if seenEvents[k] {
			return nil, fmt.Errorf("event %d of %s twice: %w", e.Seq, e.SubjectID, task.ErrConflict)
		}
		seenEvents[k] = true
		cr.events = append(cr.events, putNew(s.table, it))
		cr.subjects = append(cr.subjects, role{"event", e.SubjectID})
		cr.eventKeys = append(cr.eventKeys, itemKey(eventPK(e.SubjectID), seqKey(e.Seq)))
	}
	shardKey := ""
	if len(c.Tasks) > 0 {
		shardKey = c.Tasks[0].ID
	}
	cr.stats = stats.writes(s.table, shardKey)
	var err error
	cr.deliveries, cr.pending, err = s.deliveryWrites(ctx, c.Events)
	if err != nil {
		return nil, fmt.Errorf("deliveries: %w", err)
	}
	return cr, nil
}

// createStaged writes a creation too large for one transaction: events
// first, then the commit, then the deliveries left over (see Create).
func (s *Store) createStaged(ctx context.Context, c task.Creation, cr *creation) error {
	commit := slices.Concat(cr.decisive, cr.stats)
	if len(commit) > maxTransactItems {
		return fmt.Errorf("%d tasks, %d conditional writes: %w", len(c.Tasks), len(commit), ErrCreationTooLarge)
	}
	// A taken key is the common refusal (a retried request): learn it
	// before writing anything. The commit's condition still decides.
	if c.Idempotency != nil {
		_, err := s.GetIdempotency(ctx, c.Idempotency.UserID, c.Idempotency.Key)
		if err == nil {
			return fmt.Errorf("idempotency key %s: %w", c.Idempotency.Key, task.ErrIdempotencyKeyExists)
		}
		if !errors.Is(err, task.ErrNotFound) {
			return err
		}
	}
	written := 0
	for start := 0; start < len(cr.events); start += maxTransactItems {
		end := min(start+maxTransactItems, len(cr.events))
		if err := s.transactRetrying(ctx, cr.events[start:end]); err != nil {
			s.deleteOrphans(ctx, cr.eventKeys[:written])
			return fmt.Errorf("events: %w", creationError(err, cr.subjects[start:end]))
		}
		written = end
	}
	room := maxTransactItems - len(commit)
	inCommit := min(room, len(cr.deliveries))
	if err := s.transactRetrying(ctx, slices.Concat(commit, cr.deliveries[:inCommit])); err != nil {
		// Only a cancelled transaction surely wrote nothing. After any
		// other error (a timeout, a lost answer) it may have committed,
		// and the events are then the new tasks': they stay, unseen if
		// the commit did not land.
		var canceled *types.TransactionCanceledException
		if errors.As(err, &canceled) {
			s.deleteOrphans(ctx, cr.eventKeys)
		}
		return creationError(err, cr.roles)
	}
	// Committed: what is left cannot be refused, only fail to arrive.
	rest := cr.deliveries[inCommit:]
	for start := 0; start < len(rest); start += maxTransactItems {
		end := min(start+maxTransactItems, len(rest))
		if err := s.transactRetrying(context.WithoutCancel(ctx), rest[start:end]); err != nil {
			s.log.ErrorContext(ctx, "webhook deliveries of a committed creation were not stored",
				"count", end-start, "error", err)
		}
	}
	return nil
}

// deleteOrphans deletes the events that a refused creation wrote first.
// Nothing points at them, so a failure here leaves only unseen items.
func (s *Store) deleteOrphans(ctx context.Context, keys []map[string]types.AttributeValue) {
	ctx = context.WithoutCancel(ctx)
	for start := 0; start < len(keys); start += 25 {
		var requests []types.WriteRequest
		for _, k := range keys[start:min(start+25, len(keys))] {
			requests = append(requests, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: k}})
		}
		for attempt := 0; len(requests) > 0; attempt++ {
			out, err := s.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
				RequestItems: map[string][]types.WriteRequest{s.table: requests},
			})
			if err != nil || attempt >= 5 {
				s.log.WarnContext(ctx, "events of a refused creation were left", "count", len(requests), "error", err)
				break
			}
			requests = out.UnprocessedItems[s.table]
			if len(requests) > 0 {
				_ = pause(ctx, attempt)
			}
		}
	}
}

// creationError names why a creation's transaction was refused: a taken
// idempotency key wins over a taken id, as a retried request must learn.
func creationError(err error, roles []role) error {
	reasons, canceled := cancellation(err)
	if !canceled {
		return err
	}
	for i, r := range roles {
		if r.kind == "idempotency" && code(reasons, i) == reasonCondition {
			return fmt.Errorf("idempotency key %s: %w", r.id, task.ErrIdempotencyKeyExists)
		}
	}
	for i, r := range roles {
		if code(reasons, i) == reasonCondition {
			// An event's key is taken only when its subject's id is.
			return fmt.Errorf("%s %s: %w", r.kind, r.id, task.ErrDuplicateID)
		}
	}
	return err
}

func creationName(c task.Creation) string {
	switch {
	case c.Batch != nil:
		return "batch " + c.Batch.ID
	case len(c.Tasks) == 1:
		return "task " + c.Tasks[0].ID
	default:
		return strconv.Itoa(len(c.Tasks)) + " tasks"
	}
}

// GetTask reads the task, strongly consistent: the workflow reads a task
// and then writes it conditionally on what it read.
func (s *Store) GetTask(ctx context.Context, userID, id string) (*task.Task, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            itemKey(taskPK(id), taskSK),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("get task %s: %w", id, err)
	}
	if len(out.Item) == 0 {
		return nil, fmt.Errorf("get task %s: %w", id, task.ErrNotFound)
	}
	t, err := decodeTask(out.Item)
	if err != nil {
		return nil, err
	}
	if userID != "" && t.UserID != userID {
		return nil, fmt.Errorf("get task %s: %w", id, task.ErrNotFound)
	}
	return t, nil
}

// runWatchPK is a shard of the items that watch the tasks running on a
// bounded execution (task.Run's Deadline): the sweep's list of runs that
// may be lost (OverdueRuns).
func runWatchPK(shard int) string { return "RUNS#" + strconv.Itoa(shard) }

func runWatchKey(t *task.Task) map[string]types.AttributeValue {
	return itemKey(runWatchPK(shardOf(t.ID, queuedShards)), positionKey(*t.Run.Deadline, t.ID))
}

func watched(t *task.Task) bool { return t.Status == task.StatusRunning && t.Run.Deadline != nil }

// runWatchWrites are the writes of the task's run watch in its change from
// prev to next: put as it starts running on a bounded execution, deleted
// as it stops running (a run's deadline never changes). The watch is a
// small item of its own rather than index keys on the task: the indexes
// project whole task items, and each write of a running task would copy
// it into one more (24 write units an Express image task, on DynamoDB
// Local); the watch, two transactional writes of a 0.1 KB item, costs 4.
func runWatchWrites(table string, prev, next *task.Task) []types.TransactWriteItem {
	switch {
	case watched(next) && !watched(prev):
		it := runWatchKey(next)
		it["task_id"] = str(next.ID)
		return []types.TransactWriteItem{{Put: &types.Put{TableName: aws.String(table), Item: it}}}
	case watched(prev) && !watched(next):
		return []types.TransactWriteItem{{Delete: &types.Delete{TableName: aws.String(table), Key: runWatchKey(prev)}}}
	}
	return nil
}

// UpdateTask writes next over prev in one transaction with its events,
// the user's counters and, when the status changes in a batch, the
// batch's counters.
//
// The task's put is conditional on the stored version being prev's and
// the stored status not terminal; when refused, the stored item (returned
// with the cancellation) tells ErrNotFound, ErrTerminal and ErrConflict
// apart. The batch's counters move by atomic increments, without a read,
// conditional on the change not being the batch's last; the last change
// (its condition refused, the stored batch returned) moves the batch from
// that stored state, conditional on its version, and appends
// batch.completed. Collisions with concurrent transactions on the batch
// or a counter are retried here, so that the tasks of one batch never
// fail each other.
func (s *Store) UpdateTask(ctx context.Context, prev, next *task.Task, events ...task.Event) error {
	if err := task.CheckUpdate(prev, next); err != nil {
		return err
	}
	// Owner, type, batch and creation time never change after submit.
	stored := *next
	stored.UserID, stored.Type, stored.BatchID, stored.CreatedAt = prev.UserID, prev.Type, prev.BatchID, prev.CreatedAt
	it, err := encodeTask(&stored)
	if err != nil {
		return fmt.Errorf("update task %s: %w", prev.ID, err)
	}
	taskPut := put(s.table, it, "#v = :prev AND NOT (#st IN (:completed, :failed, :canceled))",
		map[string]string{"#v": "version", "#st": "status"},
		map[string]types.AttributeValue{
			":prev":      num(prev.Version),
			":completed": str(string(task.StatusCompleted)),
			":failed":    str(string(task.StatusFailed)),
			":canceled":  str(string(task.StatusCanceled)),
		})
	eventPuts := make([]types.TransactWriteItem, len(events))
	for i, e := range events {
		eit, err := encodeEvent(e)
		if err != nil {
			return fmt.Errorf("update task %s: %w", prev.ID, err)
		}
		eventPuts[i] = putNew(s.table, eit)
	}
	deliveries, pending, err := s.deliveryWrites(ctx, events)
	if err != nil {
		return fmt.Errorf("update task %s: deliveries: %w", prev.ID, err)
	}
	var stats statsChange
	stats.move(prev, &stored)
	statsWrites := stats.writes(s.table, prev.ID)
	runWrites := runWatchWrites(s.table, prev, &stored)

	now := s.now()
	moves := prev.BatchID != "" && prev.Status != next.Status
	var batchWrites []types.TransactWriteItem
	if moves {
		batchWrites = []types.TransactWriteItem{s.batchIncrement(prev.BatchID, prev.Status, next.Status, now)}
	}
	batchAt := 1 + len(eventPuts)
	for attempt := 0; ; attempt++ {
		err := s.transact(ctx, slices.Concat([]types.TransactWriteItem{taskPut}, eventPuts, batchWrites, statsWrites, deliveries, runWrites))
		if err == nil {
			s.deliveriesCommitted(ctx, pending)
			return nil
		}
		reasons, canceled := cancellation(err)
		if !canceled {
			return fmt.Errorf("update task %s: %w", prev.ID, err)
		}
		if code(reasons, 0) == reasonCondition {
			return fmt.Errorf("update task %s: %w", prev.ID, whyNotUpdated(reasons[0].Item))
		}
		for i := range eventPuts {
			if code(reasons, 1+i) == reasonCondition {
				return fmt.Errorf("update task %s: event %s: %w", prev.ID, events[i].ID, task.ErrConflict)
			}
		}
		switch {
		case moves && code(reasons, batchAt) == reasonCondition:
			// The batch may end with this change, or moved on since
			// the stored state this attempt relied on: move it from its
			// state as returned.
			old, err := s.batchAsStored(ctx, prev.BatchID, reasons[batchAt].Item)
			if err != nil {
				return fmt.Errorf("update task %s: %w", prev.ID, err)
			}
			var completed *task.Event
			batchWrites, completed, err = s.batchMove(old, prev.Status, next.Status, now)
			if err != nil {
				return fmt.Errorf("update task %s: %w", prev.ID, err)
			}
			// The deliveries of the task's events and the batch's are one
			// outbox write: two would each move a delivery counter, and a
			// transaction takes one action per item.
			all := events
			if completed != nil {
				all = append(slices.Clone(events), *completed)
			}
			if deliveries, pending, err = s.deliveryWrites(ctx, all); err != nil {
				return fmt.Errorf("update task %s: deliveries: %w", prev.ID, err)
			}
		case !retryable(reasons):
			return fmt.Errorf("update task %s: %w", prev.ID, err)
		}
		s.log.DebugContext(ctx, "task update retried", "task", prev.ID, "attempt", attempt+1, "reasons", reasonCodes(reasons))
		if attempt+1 >= maxTransactAttempts {
			return fmt.Errorf("update task %s: %w", prev.ID, errors.Join(errContended, err))
		}
		if attempt > 0 || code(reasons, batchAt) != reasonCondition {
			if err := pause(ctx, attempt); err != nil {
				return fmt.Errorf("update task %s: %w", prev.ID, err)
			}
		}
	}
}

// whyNotUpdated tells apart the reasons a task's conditional put was
// refused, from the stored item. A terminal task wins over a moved
// version: retrying cannot help.
func whyNotUpdated(old map[string]types.AttributeValue) error {
	if len(old) == 0 {
		return task.ErrNotFound
	}
	d := decoder{item: old}
	status, version := task.Status(d.str("status")), d.int("version")
	if status.Terminal() {
		return fmt.Errorf("stored status %s: %w", status, task.ErrTerminal)
	}
	return fmt.Errorf("stored version %d: %w", version, task.ErrConflict)
}

// ListEvents queries the subject's event partition after afterSeq,
// oldest first. A limit of 0 or less means 100; more than 1000 means 1000.
func (s *Store) ListEvents(ctx context.Context, subjectID string, afterSeq int64, limit int) ([]task.Event, error) {
	limit = task.EventLimit(limit)
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(eventPK(subjectID))},
		ConsistentRead:            aws.Bool(true),
	}
	if afterSeq >= 0 {
		in.KeyConditionExpression = aws.String("PK = :pk AND SK > :after")
		in.ExpressionAttributeValues[":after"] = str(seqKey(afterSeq))
	}
	var events []task.Event
	for {
		in.Limit = aws.Int32(int32(limit - len(events)))
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list events of %s: %w", subjectID, err)
		}
		for _, it := range out.Items {
			e, err := decodeEvent(it)
			if err != nil {
				return nil, fmt.Errorf("list events of %s: %w", subjectID, err)
			}
			events = append(events, e)
		}
		if len(events) >= limit || len(out.LastEvaluatedKey) == 0 {
			return events, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}
