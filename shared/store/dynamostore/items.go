package dynamostore

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/videoai/mediatasks/shared/task"
)

// Item keys. Every partition value of this file starts with a prefix that
// is not W: the webhook items own that letter (see TABLE.md).
//
// Items are written as explicit attribute maps rather than through a
// struct marshaller: the layout (which attributes exist, times as Unix
// nanoseconds, JSON documents as text) is the table's contract, written up
// in TABLE.md, and reads back exactly what the domain wrote.
const (
	taskSK    = "TASK"
	batchSK   = "BATCH"
	apiKeySK  = "APIKEY"
	countsSK  = "COUNTS#"
	durationK = "DURATION#"
	spendK    = "SPEND#"
	promptSK  = "PROMPT"
)

func taskPK(id string) string       { return "TASK#" + id }
func batchPK(id string) string      { return "BATCH#" + id }
func eventPK(subject string) string { return "EVENT#" + subject }
func idempotencyPK(user string) string {
	return "IDEM#" + user
}
func statsPK(user string) string     { return "STATS#" + user }
func apiKeyPK(hash string) string    { return "APIKEY#" + hash }
func apiKeyIDPK(id string) string    { return "APIKEYID#" + id }
func userPK(user string) string      { return "USER#" + user }
func queuedShardPK(shard int) string { return "QUEUED#" + strconv.Itoa(shard) }
func promptPK(key string) string     { return "PROMPT#" + key }

// userStatusPK is a user's partition of one status. Statuses hold no '#',
// so the value names one (user, status) pair whatever the user id holds.
func userStatusPK(user string, status task.Status) string {
	return "USER#" + user + "#" + string(status)
}

// apiKeyCountKey is the item that counts the stored API keys.
func apiKeyCountKey() map[string]types.AttributeValue { return itemKey("APIKEYS", "COUNT") }

// queuedShards spreads the sparse index of queued tasks over partitions,
// so that submits and starts at a high rate do not all write one index
// partition (see TABLE.md).
const queuedShards = 8

// statsShards spreads a user's counters over items, so that concurrent
// status changes of one user's tasks seldom touch the same counter item
// (transactions touching one item collide).
const statsShards = 10

func shardOf(id string, shards int) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32() % uint32(shards))
}

// timeKey is a time as a fixed-width decimal of Unix nanoseconds, so that
// sort keys order by time; times before 1970 sort as 1970.
func timeKey(t time.Time) string { return fmt.Sprintf("%019d", max(t.UnixNano(), 0)) }

// positionKey is a task's place in a listing: newest first reads it
// backwards, ties between equal times broken by id.
func positionKey(createdAt time.Time, id string) string { return timeKey(createdAt) + "#" + id }

// seqKey is an event's sort key: its sequence number, fixed width.
func seqKey(seq int64) string { return fmt.Sprintf("%019d", seq) }

func itemKey(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"PK": str(pk), "SK": str(sk)}
}

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func num(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func float(v float64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatFloat(v, 'f', -1, 64)}
}

func nanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

// item is an attribute map under construction; optional values are left
// out when empty, so that they read back as absent.
type item map[string]types.AttributeValue

func (it item) optStr(name, v string) {
	if v != "" {
		it[name] = str(v)
	}
}

func (it item) optTime(name string, t *time.Time) {
	if t != nil {
		it[name] = num(nanos(*t))
	}
}

// optJSON stores v as JSON text unless it is nil.
func (it item) optJSON(name string, v any, isNil bool) error {
	if isNil {
		return nil
	}
	b, err := task.EncodeJSON(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	it[name] = str(string(b))
	return nil
}

// decoder reads attributes of one item, keeping the first error.
type decoder struct {
	item map[string]types.AttributeValue
	err  error
}

func (d *decoder) has(name string) bool {
	_, ok := d.item[name]
	return ok
}

func (d *decoder) str(name string) string {
	switch v := d.item[name].(type) {
	case nil:
		return ""
	case *types.AttributeValueMemberS:
		return v.Value
	default:
		d.fail(fmt.Errorf("attribute %s is %T, want a string", name, v))
		return ""
	}
}

func (d *decoder) number(name string) string {
	switch v := d.item[name].(type) {
	case nil:
		return ""
	case *types.AttributeValueMemberN:
		return v.Value
	default:
		d.fail(fmt.Errorf("attribute %s is %T, want a number", name, v))
		return ""
	}
}

func (d *decoder) int(name string) int64 {
	text := d.number(name)
	if text == "" {
		return 0
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		d.fail(fmt.Errorf("attribute %s: %w", name, err))
	}
	return n
}

func (d *decoder) float(name string) float64 {
	text := d.number(name)
	if text == "" {
		return 0
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		d.fail(fmt.Errorf("attribute %s: %w", name, err))
	}
	return f
}

func (d *decoder) time(name string) time.Time { return fromNanos(d.int(name)) }

func (d *decoder) timePtr(name string) *time.Time {
	if !d.has(name) {
		return nil
	}
	t := d.time(name)
	return &t
}

// json decodes the JSON text of an attribute into dst; an absent
// attribute leaves dst alone.
func (d *decoder) json(name string, dst any) {
	text := d.str(name)
	if text == "" {
		return
	}
	if err := json.Unmarshal([]byte(text), dst); err != nil {
		d.fail(fmt.Errorf("attribute %s: %w", name, err))
	}
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// encodeTask is the task's item, with its index keys: GSI1 lists the
// user's tasks, GSI2 the user's tasks of one status, GSI3 (sparse) the
// queued tasks of every user by the time of their last change.
func encodeTask(t *task.Task) (map[string]types.AttributeValue, error) {
	position := positionKey(t.CreatedAt, t.ID)
	it := item{
		"PK": str(taskPK(t.ID)), "SK": str(taskSK),
		"GSI1PK": str(userPK(t.UserID)), "GSI1SK": str(position),
		"GSI2PK": str(userStatusPK(t.UserID, t.Status)), "GSI2SK": str(position),
		"id":         str(t.ID),
		"user_id":    str(t.UserID),
		"task_type":  str(string(t.Type)),
		"status":     str(string(t.Status)),
		"progress":   float(t.Progress),
		"priority":   str(string(t.Priority)),
		"attempts":   num(int64(t.Attempts)),
		"created_at": num(nanos(t.CreatedAt)),
		"updated_at": num(nanos(t.UpdatedAt)),
		"version":    num(t.Version),
	}
	if t.Status == task.StatusQueued {
		it["GSI3PK"] = str(queuedShardPK(shardOf(t.ID, queuedShards)))
		it["GSI3SK"] = str(positionKey(t.UpdatedAt, t.ID))
	}
	it.optStr("provider", t.Provider)
	it.optStr("batch_id", t.BatchID)
	it.optStr("webhook_url", t.WebhookURL)
	it.optTime("started_at", t.StartedAt)
	it.optTime("completed_at", t.CompletedAt)
	it.optStr("run_key", t.Run.Key)
	it.optTime("run_deadline", t.Run.Deadline)
	docs := make(map[string]json.RawMessage, 8)
	if len(t.Input) > 0 {
		docs["input"] = t.Input
	}
	for _, doc := range []struct {
		name  string
		value any
		isNil bool
	}{
		{"output", t.Output, t.Output == nil},
		{"error", t.Error, t.Error == nil},
		{"metadata", t.Metadata, t.Metadata == nil},
		{"webhook_events", t.WebhookEvents, t.WebhookEvents == nil},
		{"attempt_history", t.AttemptHistory, t.AttemptHistory == nil},
		{"optimized_prompt", t.OptimizedPrompt, t.OptimizedPrompt == nil},
		{"cost", t.Cost, t.Cost == nil},
	} {
		if doc.isNil {
			continue
		}
		b, err := task.EncodeJSON(doc.value)
		if err != nil {
			return nil, fmt.Errorf("task %s: encode %s: %w", t.ID, doc.name, err)
		}
		docs[doc.name] = b
	}
	if len(docs) > 0 {
		b, err := task.EncodeJSON(docs)
		if err != nil {
			return nil, fmt.Errorf("task %s: encode documents: %w", t.ID, err)
		}
		it[taskDocsAttribute] = &types.AttributeValueMemberB{Value: deflate(b)}
	}
	return it, nil
}

// taskDocsAttribute holds a task's documents (input, output, error,
// metadata, webhook events, attempt history, optimized prompt, cost) as
// one deflated JSON object, each document under its name and absent when
// nil: one attribute of about half their size (compact.go). Nothing
// filters or conditions on them, so nothing needs them as attributes.
const taskDocsAttribute = "docs"

func decodeTask(it map[string]types.AttributeValue) (*task.Task, error) {
	d := decoder{item: it}
	t := &task.Task{
		ID:          d.str("id"),
		UserID:      d.str("user_id"),
		Type:        task.Type(d.str("task_type")),
		Status:      task.Status(d.str("status")),
		Progress:    d.float("progress"),
		Priority:    task.Priority(d.str("priority")),
		Provider:    d.str("provider"),
		Attempts:    int(d.int("attempts")),
		BatchID:     d.str("batch_id"),
		WebhookURL:  d.str("webhook_url"),
		CreatedAt:   d.time("created_at"),
		UpdatedAt:   d.time("updated_at"),
		StartedAt:   d.timePtr("started_at"),
		CompletedAt: d.timePtr("completed_at"),
		Version:     d.int("version"),
		Run:         task.Run{Key: d.str("run_key"), Deadline: d.timePtr("run_deadline")},
	}
	if z, ok := it[taskDocsAttribute].(*types.AttributeValueMemberB); ok {
		var docs map[string]json.RawMessage
		b, err := inflate(z.Value)
		if err == nil {
			err = json.Unmarshal(b, &docs)
		}
		if err != nil {
			return nil, fmt.Errorf("decode task %s: documents: %w", t.ID, err)
		}
		if len(docs["input"]) > 0 {
			t.Input = docs["input"]
		}
		for name, dst := range map[string]any{
			"output": &t.Output, "error": &t.Error, "metadata": &t.Metadata, "webhook_events": &t.WebhookEvents,
			"attempt_history": &t.AttemptHistory, "optimized_prompt": &t.OptimizedPrompt, "cost": &t.Cost,
		} {
			if doc, ok := docs[name]; ok {
				if err := json.Unmarshal(doc, dst); err != nil {
					return nil, fmt.Errorf("decode task %s: %s: %w", t.ID, name, err)
				}
			}
		}
	}
	if d.err != nil {
		return nil, fmt.Errorf("decode task %s: %w", t.ID, d.err)
	}
	return t, nil
}

// countAttr names a batch's counter of one status.
func countAttr(s task.Status) string { return "count_" + string(s) }

// encodeBatch is the batch's item. Its counters are top-level numbers so
// that a task's status change moves them atomically (see UpdateTask);
// pending counts the tasks not yet terminal, which tells the change that
// ends the batch without reading it.
func encodeBatch(b *task.Batch) (map[string]types.AttributeValue, error) {
	it := item{
		"PK": str(batchPK(b.ID)), "SK": str(batchSK),
		"id":         str(b.ID),
		"user_id":    str(b.UserID),
		"status":     str(string(b.Status)),
		"pending":    num(int64(pendingOf(b))),
		"created_at": num(nanos(b.CreatedAt)),
		"updated_at": num(nanos(b.UpdatedAt)),
		"version":    num(b.Version),
	}
	for _, s := range task.Statuses {
		it[countAttr(s)] = num(int64(b.Counts[s]))
	}
	if b.TaskIDs != nil {
		ids := make([]types.AttributeValue, len(b.TaskIDs))
		for i, id := range b.TaskIDs {
			ids[i] = str(id)
		}
		it["task_ids"] = &types.AttributeValueMemberL{Value: ids}
	}
	it.optStr("webhook_url", b.WebhookURL)
	it.optTime("completed_at", b.CompletedAt)
	if err := it.optJSON("webhook_events", b.WebhookEvents, b.WebhookEvents == nil); err != nil {
		return nil, fmt.Errorf("batch %s: %w", b.ID, err)
	}
	return it, nil
}

// pendingOf counts the batch's tasks that are not terminal.
func pendingOf(b *task.Batch) int {
	return len(b.TaskIDs) - b.Counts[task.StatusCompleted] - b.Counts[task.StatusFailed] - b.Counts[task.StatusCanceled]
}

func decodeBatch(it map[string]types.AttributeValue) (*task.Batch, error) {
	d := decoder{item: it}
	b := &task.Batch{
		ID:          d.str("id"),
		UserID:      d.str("user_id"),
		Status:      task.BatchStatus(d.str("status")),
		Counts:      make(map[task.Status]int, len(task.Statuses)),
		WebhookURL:  d.str("webhook_url"),
		CreatedAt:   d.time("created_at"),
		UpdatedAt:   d.time("updated_at"),
		CompletedAt: d.timePtr("completed_at"),
		Version:     d.int("version"),
	}
	for _, s := range task.Statuses {
		b.Counts[s] = int(d.int(countAttr(s)))
	}
	switch ids := it["task_ids"].(type) {
	case nil:
	case *types.AttributeValueMemberL:
		b.TaskIDs = make([]string, 0, len(ids.Value))
		for _, v := range ids.Value {
			s, ok := v.(*types.AttributeValueMemberS)
			if !ok {
				d.fail(fmt.Errorf("task_ids holds a %T", v))
				break
			}
			b.TaskIDs = append(b.TaskIDs, s.Value)
		}
	default:
		d.fail(fmt.Errorf("task_ids is %T, want a list", ids))
	}
	d.json("webhook_events", &b.WebhookEvents)
	if d.err != nil {
		return nil, fmt.Errorf("decode batch %s: %w", b.ID, d.err)
	}
	return b, nil
}

func encodeEvent(e task.Event) (map[string]types.AttributeValue, error) {
	if e.Seq < 0 {
		return nil, fmt.Errorf("event %s: negative seq %d", e.ID, e.Seq)
	}
	return item{
		"PK": str(eventPK(e.SubjectID)), "SK": str(seqKey(e.Seq)),
		"id":         str(e.ID),
		"subject_id": str(e.SubjectID),
		"user_id":    str(e.UserID),
		"seq":        num(e.Seq),
		"event_type": str(string(e.Type)),
		"created_at": num(nanos(e.CreatedAt)),
		"data":       &types.AttributeValueMemberB{Value: deflate(e.Data)},
		TTLAttribute: num(ttlSeconds(e.CreatedAt.Add(EventRetention))),
	}, nil
}

// EventRetention is how long an event is kept: DynamoDB's TTL deletes it
// some time after. A task's events serve its stream and its history; a
// month after, the task's record says all that is left to say, and a
// user's events would otherwise grow without end.
const EventRetention = 30 * 24 * time.Hour

func decodeEvent(it map[string]types.AttributeValue) (task.Event, error) {
	d := decoder{item: it}
	e := task.Event{
		ID:        d.str("id"),
		SubjectID: d.str("subject_id"),
		UserID:    d.str("user_id"),
		Seq:       d.int("seq"),
		Type:      task.EventType(d.str("event_type")),
		CreatedAt: d.time("created_at"),
	}
	if z, ok := it["data"].(*types.AttributeValueMemberB); ok {
		data, err := inflate(z.Value)
		if err != nil {
			return task.Event{}, fmt.Errorf("decode event %s: data: %w", e.ID, err)
		}
		if len(data) > 0 {
			e.Data = json.RawMessage(data)
		}
	}
	if d.err != nil {
		return task.Event{}, fmt.Errorf("decode event %s: %w", e.ID, d.err)
	}
	return e, nil
}
