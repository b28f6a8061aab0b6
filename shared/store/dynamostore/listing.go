package dynamostore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/videoai/mediatasks/shared/task"
)

// Listing pages.
const (
	defaultLimit = 20
	maxLimit     = 100
)

// filteredQueryLimit is how many items a query reads per request when a
// filter may drop some of them: more than the page needs, so that a
// sparse filter takes fewer round trips.
const filteredQueryLimit = 100

// maxFilteredRead bounds the items one page of a filtered listing reads:
// a type that is rare in a long history would otherwise read the whole
// history in one request. A page cut short this way holds fewer tasks
// than asked (maybe none) and a cursor to go on from where it stopped.
const maxFilteredRead = 1000

// ListTasks returns the user's tasks newest first (ties broken by id,
// descending), after the cursor's position.
//
// Without a batch, it queries the user's partition of GSI1 (all tasks) or,
// with a status, of GSI2 (the user's tasks of that status), backwards
// from the cursor's position: the status is a key condition, a type a
// filter, and the query goes on until the page is full. With a batch, it
// reads the batch's tasks by id (a batch holds at most MaxCreateTasks).
// Either way it fetches one task more than the page, which tells whether
// another page follows. A type filter reads maxFilteredRead items a page
// at most. Listings read indexes, so they are eventually consistent.
func (s *Store) ListTasks(ctx context.Context, userID string, f task.ListFilter) (task.Page, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	limit = min(limit, maxLimit)
	after := ""
	if f.Cursor != "" {
		var err error
		if after, err = s.decodeCursor(userID, f.Cursor); err != nil {
			return task.Page{}, fmt.Errorf("list tasks: %w", err)
		}
	}
	var tasks []*task.Task
	var stoppedAt string
	var err error
	if f.BatchID != "" {
		tasks, err = s.batchTasks(ctx, userID, f, after, limit+1)
	} else {
		tasks, stoppedAt, err = s.queryTasks(ctx, userID, f, after, limit+1)
	}
	if err != nil {
		return task.Page{}, fmt.Errorf("list tasks: %w", err)
	}
	if len(tasks) <= limit && stoppedAt != "" {
		return task.Page{Tasks: tasks, NextCursor: s.encodeCursor(userID, stoppedAt)}, nil
	}
	if len(tasks) <= limit {
		return task.Page{Tasks: tasks}, nil
	}
	last := tasks[limit-1]
	return task.Page{Tasks: tasks[:limit], NextCursor: s.encodeCursor(userID, positionKey(last.CreatedAt, last.ID))}, nil
}

// queryTasks returns up to want of the user's tasks that pass the filter,
// newest first, from before the position after (all when empty). When a
// filtered query stops at its read budget with more to read, stoppedAt is
// the position of the last item it read.
func (s *Store) queryTasks(ctx context.Context, userID string, f task.ListFilter, after string, want int) (tasks []*task.Task, stoppedAt string, err error) {
	index, partition := GSI1, userPK(userID)
	if f.Status != "" {
		index, partition = GSI2, userStatusPK(userID, f.Status)
	}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		IndexName:                 aws.String(index),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": index + "PK"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(partition)},
		ScanIndexForward:          aws.Bool(false),
	}
	if after != "" {
		in.KeyConditionExpression = aws.String("#pk = :pk AND #sk < :after")
		in.ExpressionAttributeNames["#sk"] = index + "SK"
		in.ExpressionAttributeValues[":after"] = str(after)
	}
	filtered := f.Type != ""
	if filtered {
		in.FilterExpression = aws.String("#type = :type")
		in.ExpressionAttributeNames["#type"] = "task_type"
		in.ExpressionAttributeValues[":type"] = str(string(f.Type))
	}
	read := 0
	for {
		need := want - len(tasks)
		if filtered {
			need = max(need, filteredQueryLimit)
		}
		in.Limit = aws.Int32(int32(need))
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, "", err
		}
		page, err := s.indexedTasks(ctx, out.Items)
		if err != nil {
			return nil, "", err
		}
		for _, t := range page {
			// The index lags the table: a task that has moved to another
			// status since is left out of this status's listing.
			if f.Status == "" || t.Status == f.Status {
				tasks = append(tasks, t)
			}
		}
		read += int(out.ScannedCount)
		if len(tasks) >= want || len(out.LastEvaluatedKey) == 0 {
			return tasks[:min(want, len(tasks))], "", nil
		}
		if read >= maxFilteredRead {
			var pos string
			if v, ok := out.LastEvaluatedKey[index+"SK"].(*types.AttributeValueMemberS); ok {
				pos = v.Value
			}
			if pos == "" {
				return nil, "", fmt.Errorf("query %s: no sort key in LastEvaluatedKey", index)
			}
			return tasks, pos, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// indexedTasks reads the tasks of index entries from the table, in the
// entries' order (the indexes project keys, not tasks: see
// IndexProjections). Strongly consistent: an entry the index shows names
// a task the table has, so an eventually consistent read that missed a
// task just written would drop it from the listing for good (the page's
// cursor moves past it). A task deleted since is left out.
func (s *Store) indexedTasks(ctx context.Context, entries []map[string]types.AttributeValue) ([]*task.Task, error) {
	ids := make([]string, 0, len(entries))
	for _, e := range entries {
		pk, _ := e["PK"].(*types.AttributeValueMemberS)
		if pk == nil || !strings.HasPrefix(pk.Value, taskPK("")) {
			return nil, fmt.Errorf("index entry without a task key: %v", e["PK"])
		}
		ids = append(ids, strings.TrimPrefix(pk.Value, taskPK("")))
	}
	found, err := s.readTasks(ctx, ids)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*task.Task, len(found))
	for _, t := range found {
		byID[t.ID] = t
	}
	tasks := make([]*task.Task, 0, len(ids))
	for _, id := range ids {
		if t := byID[id]; t != nil {
			tasks = append(tasks, t)
		}
	}
	return tasks, nil
}

// batchTasks returns up to want of the batch's tasks that pass the
// filter, newest first, from before the position after. A batch that is
// not the user's lists nothing, as an unknown one does.
func (s *Store) batchTasks(ctx context.Context, userID string, f task.ListFilter, after string, want int) ([]*task.Task, error) {
	b, err := s.readBatch(ctx, f.BatchID)
	if errors.Is(err, task.ErrNotFound) || (err == nil && b.UserID != userID) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("batch %s: %w", f.BatchID, err)
	}
	// Consistent, as the batch was read: a task written a moment ago
	// must not be missing from its batch's listing.
	all, err := s.readTasks(ctx, b.TaskIDs)
	if err != nil {
		return nil, fmt.Errorf("tasks of batch %s: %w", f.BatchID, err)
	}
	var tasks []*task.Task
	for _, t := range all {
		if t.UserID == userID && t.BatchID == f.BatchID &&
			(f.Status == "" || t.Status == f.Status) && (f.Type == "" || t.Type == f.Type) &&
			(after == "" || positionKey(t.CreatedAt, t.ID) < after) {
			tasks = append(tasks, t)
		}
	}
	slices.SortFunc(tasks, func(a, b *task.Task) int {
		return cmp.Compare(positionKey(b.CreatedAt, b.ID), positionKey(a.CreatedAt, a.ID))
	})
	return tasks[:min(want, len(tasks))], nil
}

// readTasks reads tasks by id, strongly consistent, 100 to a request, in
// no particular order; missing ones are left out.
func (s *Store) readTasks(ctx context.Context, ids []string) ([]*task.Task, error) {
	var tasks []*task.Task
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	for start := 0; start < len(ids); start += 100 {
		keys := make([]map[string]types.AttributeValue, 0, 100)
		for _, id := range ids[start:min(start+100, len(ids))] {
			keys = append(keys, itemKey(taskPK(id), taskSK))
		}
		request := map[string]types.KeysAndAttributes{s.table: {Keys: keys, ConsistentRead: aws.Bool(true)}}
		for attempt := 0; len(request) > 0; attempt++ {
			if attempt > 0 {
				if err := pause(ctx, attempt); err != nil {
					return nil, err
				}
			}
			out, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: request})
			if err != nil {
				return nil, err
			}
			for _, it := range out.Responses[s.table] {
				t, err := decodeTask(it)
				if err != nil {
					return nil, err
				}
				tasks = append(tasks, t)
			}
			request = out.UnprocessedKeys
		}
	}
	return tasks, nil
}

// OverdueRuns reads the run watches (RUNS#<shard>, one item per task
// running on a bounded execution, keyed by its deadline) shard by shard
// for deadlines before the time, then the tasks they watch, and returns
// the earliest limit of them. Only tasks running on Express have a watch,
// for the few minutes they run: the minute's sweep reads almost nothing.
func (s *Store) OverdueRuns(ctx context.Context, deadlineBefore time.Time, limit int) ([]*task.Task, error) {
	if limit <= 0 {
		limit = maxLimit
	}
	var ids []string
	for shard := range queuedShards {
		in := &dynamodb.QueryInput{
			TableName:              aws.String(s.table),
			KeyConditionExpression: aws.String("PK = :pk AND SK < :before"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": str(runWatchPK(shard)), ":before": str(timeKey(deadlineBefore)),
			},
			ProjectionExpression: aws.String("task_id"),
			ConsistentRead:       aws.Bool(true),
			Limit:                aws.Int32(int32(limit)),
		}
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("overdue runs: %w", err)
		}
		for _, it := range out.Items {
			d := decoder{item: it}
			ids = append(ids, d.str("task_id"))
		}
	}
	watched, err := s.readTasks(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("overdue runs: %w", err)
	}
	tasks := slices.DeleteFunc(watched, func(t *task.Task) bool { return !t.RunLost(deadlineBefore) })
	slices.SortFunc(tasks, func(a, b *task.Task) int {
		return cmp.Compare(positionKey(*a.Run.Deadline, a.ID), positionKey(*b.Run.Deadline, b.ID))
	})
	return tasks[:min(limit, len(tasks))], nil
}

// StaleQueued queries the sparse index of queued tasks (GSI3), shard by
// shard, for the ones last changed before the time, and returns the
// oldest limit of them.
func (s *Store) StaleQueued(ctx context.Context, updatedBefore time.Time, limit int) ([]*task.Task, error) {
	if limit <= 0 {
		limit = maxLimit
	}
	var tasks []*task.Task
	for shard := range queuedShards {
		in := &dynamodb.QueryInput{
			TableName:              aws.String(s.table),
			IndexName:              aws.String(GSI3),
			KeyConditionExpression: aws.String("GSI3PK = :pk AND GSI3SK < :before"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": str(queuedShardPK(shard)), ":before": str(timeKey(updatedBefore)),
			},
			ScanIndexForward: aws.Bool(true),
		}
		found := 0
		for found < limit {
			in.Limit = aws.Int32(int32(limit - found))
			out, err := s.db.Query(ctx, in)
			if err != nil {
				return nil, fmt.Errorf("stale queued tasks: %w", err)
			}
			page, err := s.indexedTasks(ctx, out.Items)
			if err != nil {
				return nil, fmt.Errorf("stale queued tasks: %w", err)
			}
			for _, t := range page {
				if t.Status == task.StatusQueued {
					tasks = append(tasks, t)
				}
			}
			found += len(out.Items)
			if len(out.LastEvaluatedKey) == 0 {
				break
			}
			in.ExclusiveStartKey = out.LastEvaluatedKey
		}
	}
	slices.SortFunc(tasks, func(a, b *task.Task) int {
		return cmp.Compare(positionKey(a.UpdatedAt, a.ID), positionKey(b.UpdatedAt, b.ID))
	})
	return tasks[:min(limit, len(tasks))], nil
}
