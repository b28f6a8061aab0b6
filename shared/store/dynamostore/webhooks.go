package dynamostore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/webhook"
)

var _ webhook.Store = (*Store)(nil)

// Webhook items. Every partition key starts with W, which no task item
// uses. TABLE.md ("Webhook items") describes each item, index and request.
const (
	// deliverySK is the sort key of a delivery item under deliveryPK; its
	// attempts (A#n) sort before it, its event data (E) after.
	deliverySK = "D"
	// webhookProgressSK is the sort key of a subject's progress marker
	// (the time of its last task.progress delivery) under
	// webhookSubjectPK.
	webhookProgressSK = "PROGRESS"
	// deliveryLinkPrefix starts the sort keys of a subject's delivery links.
	deliveryLinkPrefix = "DLV#"
	webhookCounterSK   = "COUNT"

	// deliveryDueShards spreads the due index over partitions: every
	// pending delivery's create, claim and attempt writes its GSI3 entry,
	// and one partition takes about 1,000 write units a second.
	deliveryDueShards = 8
	// deliveryCounterShards spreads the per-status counters: a counter
	// item can be in one transaction at a time, and every delivery write
	// moves one.
	deliveryCounterShards = 16

	// progressMarkerTTL is how long a progress marker is kept after a
	// subject's last progress delivery: it only matters for a second.
	progressMarkerTTL = time.Hour
)

func deliveryPK(id string) string              { return "WDLV#" + id }
func deliveryAttemptSK(n int) string           { return fmt.Sprintf("A#%010d", n) }
func webhookSubjectPK(subjectID string) string { return "WSUBJ#" + subjectID }
func userDeliveriesPK(userID string) string    { return "WUSER#" + userID }

// userStatusDeliveriesPK puts the status first: statuses have no '#', so
// no user id can make two partitions meet.
func userStatusDeliveriesPK(userID string, st webhook.Status) string {
	return "WUSERSTATUS#" + string(st) + "#" + userID
}

func webhookEndpointPK(userID string) string { return "WEP#" + userID }

// webhookEndpointSK names a URL by its hash: URLs can be longer than a
// sort key.
func webhookEndpointSK(url string) string {
	sum := sha256.Sum256([]byte(url))
	return "URL#" + hex.EncodeToString(sum[:])
}

func webhookSecretPK(userID string) string { return "WSECRET#" + userID }
func webhookSecretSK(seq int) string       { return fmt.Sprintf("SECRET#%010d", seq) }
func webhookCounterPK(shard int) string    { return fmt.Sprintf("WCOUNT#%02d", shard) }
func deliveryDuePK(shard int) string       { return fmt.Sprintf("WDUE#%d", shard) }

// deliveryTimeKey is t as a sortable string (nanoseconds, zero-padded).
func deliveryTimeKey(t time.Time) string { return timeKey(t) }

// deliveryListKey orders listings by creation time, then id.
func deliveryListKey(createdAt time.Time, id string) string {
	return deliveryTimeKey(createdAt) + "#" + id
}

// deliveryDueKey orders the due index by due time, then id.
func deliveryDueKey(next time.Time, id string) string { return deliveryTimeKey(next) + "#" + id }

func webhookShard(id string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32() % uint32(n))
}

func webhookTime(n int64) time.Time { return time.Unix(0, n).UTC() }

func webhookKey(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"PK": &types.AttributeValueMemberS{Value: pk},
		"SK": &types.AttributeValueMemberS{Value: sk},
	}
}

// webhookAttemptRecord is an attempt as stored: in its own item, and as a
// delivery's last_attempt.
type webhookAttemptRecord struct {
	At         int64  `dynamodbav:"at"`
	StatusCode int    `dynamodbav:"status_code"`
	LatencyNS  int64  `dynamodbav:"latency_ns"`
	Response   string `dynamodbav:"response"`
	Error      string `dynamodbav:"error"`
	Outcome    string `dynamodbav:"outcome"`
}

func attemptRecordOf(a webhook.Attempt) webhookAttemptRecord {
	return webhookAttemptRecord{At: a.At.UnixNano(), StatusCode: a.StatusCode, LatencyNS: int64(a.Latency),
		Response: a.Response, Error: a.Error, Outcome: string(a.Outcome)}
}

func (r webhookAttemptRecord) attempt() webhook.Attempt {
	return webhook.Attempt{At: webhookTime(r.At), StatusCode: r.StatusCode, Latency: time.Duration(r.LatencyNS),
		Response: r.Response, Error: r.Error, Outcome: webhook.Outcome(r.Outcome)}
}

// webhookAttemptItem is one attempt of a delivery, under the delivery's
// partition, numbered from 1 in the order recorded.
type webhookAttemptItem struct {
	PK      string               `dynamodbav:"PK"`
	SK      string               `dynamodbav:"SK"`
	Attempt webhookAttemptRecord `dynamodbav:"attempt"`
}

// deliveryItem is a delivery. GSI1 lists a user's deliveries, GSI2 a
// user's deliveries of one status, both newest first; GSI3 (the due
// index) holds it only while it is pending, by due time. Its event's data
// is in a deliveryEventItem beside it: every claim and attempt rewrites
// the delivery in all three indexes (all attributes are projected), and
// the data, often a few KB, would multiply the write units of each.
type deliveryItem struct {
	PK     string `dynamodbav:"PK"`
	SK     string `dynamodbav:"SK"`
	GSI1PK string `dynamodbav:"GSI1PK"`
	GSI1SK string `dynamodbav:"GSI1SK"`
	GSI2PK string `dynamodbav:"GSI2PK"`
	GSI2SK string `dynamodbav:"GSI2SK"`
	GSI3PK string `dynamodbav:"GSI3PK,omitempty"`
	GSI3SK string `dynamodbav:"GSI3SK,omitempty"`

	ID            string                `dynamodbav:"id"`
	EventID       string                `dynamodbav:"event_id"`
	UserID        string                `dynamodbav:"user_id"`
	SubjectID     string                `dynamodbav:"subject_id"`
	EventType     string                `dynamodbav:"event_type"`
	EventSeq      int64                 `dynamodbav:"event_seq"`
	URL           string                `dynamodbav:"url"`
	Status        string                `dynamodbav:"status"`
	AttemptCount  int                   `dynamodbav:"attempt_count"`
	NextAttemptAt int64                 `dynamodbav:"next_attempt_at"`
	Lease         string                `dynamodbav:"lease"`
	LastAttempt   *webhookAttemptRecord `dynamodbav:"last_attempt,omitempty"`
	// Attempts is how many attempt items the delivery has: the next one
	// is numbered Attempts+1. It differs from AttemptCount, which the
	// deliverer sets (a replay keeps the count; a lost lease adds an item).
	Attempts  int   `dynamodbav:"attempts"`
	CreatedAt int64 `dynamodbav:"created_at"`
	UpdatedAt int64 `dynamodbav:"updated_at"`
}

func newDeliveryItem(d webhook.Delivery) deliveryItem {
	it := deliveryItem{
		PK: deliveryPK(d.ID), SK: deliverySK,
		GSI1PK: userDeliveriesPK(d.UserID), GSI1SK: deliveryListKey(d.CreatedAt, d.ID),
		GSI2PK: userStatusDeliveriesPK(d.UserID, d.Status), GSI2SK: deliveryListKey(d.CreatedAt, d.ID),
		ID: d.ID, EventID: d.EventID, UserID: d.UserID, SubjectID: d.SubjectID, EventType: string(d.EventType),
		EventSeq: d.Event.Seq, URL: d.URL, Status: string(d.Status),
		AttemptCount: d.AttemptCount, NextAttemptAt: d.NextAttemptAt.UnixNano(), Lease: d.Lease,
		CreatedAt: d.CreatedAt.UnixNano(), UpdatedAt: d.UpdatedAt.UnixNano(),
	}
	if d.LastAttempt != nil {
		r := attemptRecordOf(*d.LastAttempt)
		it.LastAttempt = &r
	}
	if d.Status == webhook.StatusPending {
		it.GSI3PK, it.GSI3SK = deliveryDuePK(webhookShard(d.ID, deliveryDueShards)), deliveryDueKey(d.NextAttemptAt, d.ID)
	}
	return it
}

func (it deliveryItem) delivery() webhook.Delivery {
	d := webhook.Delivery{
		ID: it.ID, EventID: it.EventID, UserID: it.UserID, SubjectID: it.SubjectID,
		EventType: task.EventType(it.EventType), URL: it.URL, Status: webhook.Status(it.Status),
		AttemptCount: it.AttemptCount, NextAttemptAt: webhookTime(it.NextAttemptAt),
		CreatedAt: webhookTime(it.CreatedAt), UpdatedAt: webhookTime(it.UpdatedAt), Lease: it.Lease,
	}
	d.Event = task.Event{ID: d.EventID, SubjectID: d.SubjectID, UserID: d.UserID, Seq: it.EventSeq, Type: d.EventType,
		CreatedAt: d.CreatedAt, WebhookURL: d.URL}
	if it.LastAttempt != nil {
		a := it.LastAttempt.attempt()
		d.LastAttempt = &a
	}
	return d
}

// deliveryEventSK is the sort key of a delivery's event data, under
// deliveryPK.
const deliveryEventSK = "E"

// deliveryEventItem holds the data of a delivery's event; it never
// changes.
type deliveryEventItem struct {
	PK string `dynamodbav:"PK"`
	SK string `dynamodbav:"SK"`
	// Data is the event's JSON, deflated (compact.go).
	Data []byte `dynamodbav:"event_data"`
}

// eventData is the event's JSON the item holds.
func (it deliveryEventItem) eventData() ([]byte, error) {
	data, err := inflate(it.Data)
	if err != nil {
		return nil, fmt.Errorf("event data of %s: %w", it.PK, err)
	}
	return data, nil
}

// withEventData fills in the event data of deliveries read without it
// (one strongly consistent BatchGetItem).
func (s *Store) withEventData(ctx context.Context, ds []webhook.Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	keys := make([]map[string]types.AttributeValue, 0, len(ds))
	seen := make(map[string]bool, len(ds))
	for _, d := range ds {
		if !seen[d.ID] {
			seen[d.ID] = true
			keys = append(keys, webhookKey(deliveryPK(d.ID), deliveryEventSK))
		}
	}
	items, err := s.batchGetWebhookItems(ctx, keys)
	if err != nil {
		return fmt.Errorf("read event data: %w", err)
	}
	data := make(map[string][]byte, len(items))
	for _, av := range items {
		var it deliveryEventItem
		err := attributevalue.UnmarshalMap(av, &it)
		if err != nil {
			return fmt.Errorf("decode event data: %w", err)
		}
		if data[it.PK], err = it.eventData(); err != nil {
			return err
		}
	}
	for i := range ds {
		ds[i].Event.Data = data[deliveryPK(ds[i].ID)]
	}
	return nil
}

func decodeDelivery(av map[string]types.AttributeValue) (webhook.Delivery, error) {
	var it deliveryItem
	if err := attributevalue.UnmarshalMap(av, &it); err != nil {
		return webhook.Delivery{}, fmt.Errorf("decode delivery: %w", err)
	}
	return it.delivery(), nil
}

// deliveryLinkItem ties a delivery to its subject (task or batch), for the
// listing of one subject's deliveries; it never changes.
type deliveryLinkItem struct {
	PK         string `dynamodbav:"PK"`
	SK         string `dynamodbav:"SK"`
	DeliveryID string `dynamodbav:"delivery_id"`
	UserID     string `dynamodbav:"user_id"`
}

// progressMarkerItem holds the creation time of a subject's last
// task.progress delivery.
type progressMarkerItem struct {
	PK        string `dynamodbav:"PK"`
	SK        string `dynamodbav:"SK"`
	At        int64  `dynamodbav:"at"`
	ExpiresAt int64  `dynamodbav:"expires_at"`
}

// disabledEndpointItem marks a user's URL disabled.
type disabledEndpointItem struct {
	PK         string `dynamodbav:"PK"`
	SK         string `dynamodbav:"SK"`
	URL        string `dynamodbav:"url"`
	DisabledAt int64  `dynamodbav:"disabled_at"`
}

// deliveriesCommitted tells the store's hook (Options.OnDeliveries) about
// pending deliveries that a committed write created or made due.
func (s *Store) deliveriesCommitted(ctx context.Context, pending []webhook.Delivery) {
	if len(pending) == 0 {
		return
	}
	if s.onDeliveries != nil {
		s.onDeliveries(ctx, pending)
	}
}

// deliveryWrites returns the writes that store the deliveries
// webhook.Plan gives events, to go in the same transaction as the events
// themselves (the outbox): the task store calls it from Create and
// UpdateTask, and after the transaction commits calls
// s.deliveriesCommitted with the pending deliveries it returned. A
// skipped delivery is stored with its attempt item; each subject with a
// progress delivery gets its marker.
//
// Transactions cannot read, so the disabled endpoints and the progress
// markers are read (one BatchGetItem, strongly consistent) before the
// transaction. A condition on the marker instead would cancel the task's
// own write whenever a progress event is throttled. The read is safe: two
// writes of one task's events race only when both change the task, and
// the task item's version condition lets one of them commit. An endpoint
// disabled between the read and the commit costs one attempt, which meets
// the 410 again.
//
// Each delivery item is put on condition that it does not exist (its id
// derives from its event's): an event's delivery is stored once, and
// counters never count it twice.
func (s *Store) deliveryWrites(ctx context.Context, events []task.Event) ([]types.TransactWriteItem, []webhook.Delivery, error) {
	endpoints, subjects := webhook.PlanNeeds(events)
	if len(endpoints) == 0 {
		return nil, nil, nil
	}
	known, err := s.readOutbox(ctx, endpoints, subjects)
	if err != nil {
		return nil, nil, err
	}
	plan := webhook.Plan(events, known, s.now())
	var (
		writes  []types.TransactWriteItem
		pending []webhook.Delivery
		counts  = map[int]map[webhook.Status]int{}
	)
	for _, d := range plan.Deliveries {
		it := newDeliveryItem(d)
		if d.LastAttempt != nil {
			it.Attempts = 1
		}
		put, err := putNewWebhookItem(s.table, it)
		if err != nil {
			return nil, nil, fmt.Errorf("delivery of event %s: %w", d.EventID, err)
		}
		link, err := putWebhookItem(s.table, deliveryLinkItem{PK: webhookSubjectPK(d.SubjectID), SK: deliveryLinkPrefix + deliveryListKey(d.CreatedAt, d.ID),
			DeliveryID: d.ID, UserID: d.UserID})
		if err != nil {
			return nil, nil, fmt.Errorf("delivery of event %s: %w", d.EventID, err)
		}
		data, err := putWebhookItem(s.table, deliveryEventItem{PK: deliveryPK(d.ID), SK: deliveryEventSK, Data: deflate(d.Event.Data)})
		if err != nil {
			return nil, nil, fmt.Errorf("delivery of event %s: %w", d.EventID, err)
		}
		writes = append(writes, put, data, link)
		if d.LastAttempt != nil {
			att, err := putWebhookItem(s.table, webhookAttemptItem{PK: deliveryPK(d.ID), SK: deliveryAttemptSK(1), Attempt: attemptRecordOf(*d.LastAttempt)})
			if err != nil {
				return nil, nil, fmt.Errorf("delivery of event %s: %w", d.EventID, err)
			}
			writes = append(writes, att)
		}
		if d.Status == webhook.StatusPending {
			pending = append(pending, d)
		}
		shard := webhookShard(d.ID, deliveryCounterShards)
		if counts[shard] == nil {
			counts[shard] = map[webhook.Status]int{}
		}
		counts[shard][d.Status]++
	}
	for _, subject := range sortedWebhookKeys(plan.Progress) {
		at := plan.Progress[subject]
		w, err := putWebhookItem(s.table, progressMarkerItem{PK: webhookSubjectPK(subject), SK: webhookProgressSK, At: at.UnixNano(),
			ExpiresAt: at.Add(progressMarkerTTL).Unix()})
		if err != nil {
			return nil, nil, fmt.Errorf("progress marker of %s: %w", subject, err)
		}
		writes = append(writes, w)
	}
	for _, shard := range sortedWebhookKeys(counts) {
		w, err := s.counterUpdate(shard, counts[shard])
		if err != nil {
			return nil, nil, err
		}
		writes = append(writes, types.TransactWriteItem{Update: w})
	}
	return writes, pending, nil
}

// readOutbox reads which of the endpoints are disabled and when the
// subjects last had a progress delivery.
func (s *Store) readOutbox(ctx context.Context, endpoints []webhook.Endpoint, subjects []string) (webhook.Outbox, error) {
	keys := make([]map[string]types.AttributeValue, 0, len(endpoints)+len(subjects))
	endpointOf := make(map[string]webhook.Endpoint, len(endpoints)) // PK|SK -> endpoint
	for _, ep := range endpoints {
		pk, sk := webhookEndpointPK(ep.UserID), webhookEndpointSK(ep.URL)
		endpointOf[pk+"|"+sk] = ep
		keys = append(keys, webhookKey(pk, sk))
	}
	for _, subject := range subjects {
		keys = append(keys, webhookKey(webhookSubjectPK(subject), webhookProgressSK))
	}
	items, err := s.batchGetWebhookItems(ctx, keys)
	if err != nil {
		return webhook.Outbox{}, fmt.Errorf("read webhook endpoints and progress: %w", err)
	}
	known := webhook.Outbox{Disabled: map[webhook.Endpoint]bool{}, LastProgress: map[string]time.Time{}}
	for _, av := range items {
		var k struct {
			PK string `dynamodbav:"PK"`
			SK string `dynamodbav:"SK"`
			At int64  `dynamodbav:"at"`
		}
		if err := attributevalue.UnmarshalMap(av, &k); err != nil {
			return webhook.Outbox{}, fmt.Errorf("read webhook endpoints and progress: %w", err)
		}
		if k.SK == webhookProgressSK {
			known.LastProgress[strings.TrimPrefix(k.PK, webhookSubjectPK(""))] = webhookTime(k.At)
		} else {
			known.Disabled[endpointOf[k.PK+"|"+k.SK]] = true
		}
	}
	return known, nil
}

// counterUpdate moves the per-status counters of one shard by delta.
func (s *Store) counterUpdate(shard int, delta map[webhook.Status]int) (*types.Update, error) {
	var upd expression.UpdateBuilder
	for _, st := range webhook.Statuses {
		if n := delta[st]; n != 0 {
			upd = upd.Add(expression.Name(string(st)), expression.Value(n))
		}
	}
	expr, err := expression.NewBuilder().WithUpdate(upd).Build()
	if err != nil {
		return nil, fmt.Errorf("delivery counters: %w", err)
	}
	return &types.Update{
		TableName: aws.String(s.table), Key: webhookKey(webhookCounterPK(shard), webhookCounterSK),
		UpdateExpression: expr.Update(), ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	}, nil
}

// statusMove is the counter change of one delivery going from one status
// to another (nil when it stays).
func (s *Store) statusMove(id string, from, to webhook.Status) (*types.TransactWriteItem, error) {
	if from == to {
		return nil, nil
	}
	upd, err := s.counterUpdate(webhookShard(id, deliveryCounterShards), map[webhook.Status]int{from: -1, to: 1})
	if err != nil {
		return nil, err
	}
	return &types.TransactWriteItem{Update: upd}, nil
}

func putWebhookItem(table string, item any) (types.TransactWriteItem, error) {
	av, err := attributevalue.MarshalMap(item)
	if err != nil {
		return types.TransactWriteItem{}, fmt.Errorf("encode item: %w", err)
	}
	return types.TransactWriteItem{Put: &types.Put{TableName: aws.String(table), Item: av}}, nil
}

// putNewWebhookItem is a put on condition that the item does not exist yet.
func putNewWebhookItem(table string, item any) (types.TransactWriteItem, error) {
	w, err := putWebhookItem(table, item)
	if err != nil {
		return w, err
	}
	w.Put.ConditionExpression = aws.String("attribute_not_exists(PK)")
	return w, nil
}

func sortedWebhookKeys[K interface{ ~int | ~string }, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// batchGetWebhookItems reads items by key (strongly consistent), in requests of at
// most 100 keys, until none is left unprocessed.
func (s *Store) batchGetWebhookItems(ctx context.Context, keys []map[string]types.AttributeValue) ([]map[string]types.AttributeValue, error) {
	var out []map[string]types.AttributeValue
	for chunk := range slices.Chunk(keys, 100) {
		request := map[string]types.KeysAndAttributes{s.table: {Keys: chunk, ConsistentRead: aws.Bool(true)}}
		for try := 0; len(request) > 0; try++ {
			if try > 0 {
				if err := webhookBackoff(ctx, try); err != nil {
					return nil, err
				}
			}
			res, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: request})
			if err != nil {
				return nil, err
			}
			out = append(out, res.Responses[s.table]...)
			request = res.UnprocessedKeys
		}
	}
	return out, nil
}

// errWebhookCondition: a webhook write's condition failed (someone changed
// the item since it was read).
var errWebhookCondition = errors.New("condition failed")

// transactWebhook runs a webhook transaction. One cancelled only by a
// conflict with another transaction on the same items (a shared counter)
// or by throttling is run again after a pause; a failed condition comes
// back as errWebhookCondition.
func (s *Store) transactWebhook(ctx context.Context, writes []types.TransactWriteItem) error {
	for try := 0; ; try++ {
		_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: writes})
		var canceled *types.TransactionCanceledException
		if !errors.As(err, &canceled) {
			return err
		}
		again := false
		for _, r := range canceled.CancellationReasons {
			switch aws.ToString(r.Code) {
			case "ConditionalCheckFailed":
				return fmt.Errorf("%w: %w", errWebhookCondition, err)
			case "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded":
				again = true
			}
		}
		if !again || try+1 >= maxWebhookTransactTries {
			return err
		}
		if err := webhookBackoff(ctx, try+1); err != nil {
			return err
		}
	}
}

// maxWebhookTransactTries bounds the runs of one colliding transaction.
const maxWebhookTransactTries = 10

// webhookBackoff waits before the try-th retry: up to 10 ms doubling,
// at most 1 s, with jitter so that colliding writers spread out.
func webhookBackoff(ctx context.Context, try int) error {
	ceiling := min(10*time.Millisecond<<min(try-1, 7), time.Second)
	wait := ceiling/2 + rand.N(ceiling/2+1)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
