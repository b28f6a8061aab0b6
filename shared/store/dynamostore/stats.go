package dynamostore

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/videoai/mediatasks/shared/task"
)

// A user's statistics live in the partition STATS#<user>: counter items
// (COUNTS#<shard>) that every create and status change adjusts in its own
// transaction, and one small item per completed task that ran on a
// provider (DURATION#<task id>) for the duration figures, which need
// every duration for an exact percentile.
const (
	countPrefix    = "count#"    // count#<type>#<status>
	providerPrefix = "provider#" // provider#<name>#completed, provider#<name>#failed
)

func countName(typ task.Type, status task.Status) string {
	return countPrefix + string(typ) + "#" + string(status)
}

func providerName(provider string, status task.Status) string {
	return providerPrefix + provider + "#" + string(status)
}

// statsChange gathers the counter moves and duration items of one write.
type statsChange struct {
	deltas    map[string]map[string]int64 // user -> counter -> delta
	durations []map[string]types.AttributeValue
}

func (c *statsChange) add(user, counter string, delta int64) {
	if c.deltas == nil {
		c.deltas = map[string]map[string]int64{}
	}
	if c.deltas[user] == nil {
		c.deltas[user] = map[string]int64{}
	}
	c.deltas[user][counter] += delta
}

// enter counts t in its status, and when it ended on a provider, there.
func (c *statsChange) enter(t *task.Task) {
	c.add(t.UserID, countName(t.Type, t.Status), 1)
	if t.Provider == "" || (t.Status != task.StatusCompleted && t.Status != task.StatusFailed) {
		return
	}
	c.add(t.UserID, providerName(t.Provider, t.Status), 1)
	if t.Status == task.StatusCompleted && t.StartedAt != nil && t.CompletedAt != nil {
		c.durations = append(c.durations, item{
			"PK": str(statsPK(t.UserID)), "SK": str(durationK + t.ID),
			"provider": str(t.Provider),
			"nanos":    num(int64(t.Duration())),
		})
	}
}

// move counts a status change from prev to next.
func (c *statsChange) move(prev, next *task.Task) {
	if prev.Status == next.Status {
		return
	}
	c.add(prev.UserID, countName(prev.Type, prev.Status), -1)
	moved := *next
	moved.UserID, moved.Type = prev.UserID, prev.Type
	c.enter(&moved)
}

// writes returns the counter updates (one item per user, on the shard
// that shardKey picks) and the duration items.
func (c *statsChange) writes(table, shardKey string) []types.TransactWriteItem {
	var out []types.TransactWriteItem
	for _, user := range slices.Sorted(maps.Keys(c.deltas)) {
		names := map[string]string{}
		values := map[string]types.AttributeValue{}
		var adds []string
		for i, counter := range slices.Sorted(maps.Keys(c.deltas[user])) {
			delta := c.deltas[user][counter]
			if delta == 0 {
				continue
			}
			n, v := "#c"+strconv.Itoa(i), ":c"+strconv.Itoa(i)
			names[n], values[v] = counter, num(delta)
			adds = append(adds, n+" "+v)
		}
		if len(adds) == 0 {
			continue
		}
		out = append(out, types.TransactWriteItem{Update: &types.Update{
			TableName:                 aws.String(table),
			Key:                       itemKey(statsPK(user), countsSK+strconv.Itoa(shardOf(shardKey, statsShards))),
			UpdateExpression:          aws.String("ADD " + strings.Join(adds, ", ")),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
		}})
	}
	for _, d := range c.durations {
		out = append(out, types.TransactWriteItem{Put: &types.Put{TableName: aws.String(table), Item: d}})
	}
	return out
}

// Stats sums the user's counter items and works out the provider figures
// from the duration items: one query of the user's statistics partition.
func (s *Store) Stats(ctx context.Context, userID string) (task.Stats, error) {
	st := task.Stats{Counts: make(map[task.Type]map[task.Status]int, len(task.Types)), Providers: map[string]task.ProviderStats{}}
	for _, typ := range task.Types {
		st.Counts[typ] = task.NewCounts(0)
	}
	durations := map[string][]time.Duration{}
	paginator := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(statsPK(userID))},
		ConsistentRead:            aws.Bool(true),
	})
	for paginator.HasMorePages() {
		page, err := paginator.NextPage(ctx)
		if err != nil {
			return task.Stats{}, fmt.Errorf("stats of %s: %w", userID, err)
		}
		for _, it := range page.Items {
			d := decoder{item: it}
			sk := d.str("SK")
			switch {
			case strings.HasPrefix(sk, countsSK):
				for name := range it {
					if !strings.HasPrefix(name, countPrefix) && !strings.HasPrefix(name, providerPrefix) {
						continue // a key
					}
					if err := addCounter(&st, name, d.int(name)); err != nil {
						return task.Stats{}, fmt.Errorf("stats of %s: %w", userID, err)
					}
				}
			case strings.HasPrefix(sk, durationK):
				provider := d.str("provider")
				durations[provider] = append(durations[provider], time.Duration(d.int("nanos")))
			}
			if d.err != nil {
				return task.Stats{}, fmt.Errorf("stats of %s: %w", userID, d.err)
			}
		}
	}
	if st.Succeeded+st.Failed > 0 {
		st.SuccessRate = float64(st.Succeeded) / float64(st.Succeeded+st.Failed)
	}
	for provider, ds := range durations {
		p := st.Providers[provider]
		p.MeanSeconds, p.P95Seconds = task.MeanAndP95(ds)
		st.Providers[provider] = p
	}
	return st, nil
}

// addCounter adds one counter attribute to the figures.
func addCounter(st *task.Stats, name string, n int64) error {
	if n == 0 {
		return nil
	}
	if rest, ok := strings.CutPrefix(name, countPrefix); ok {
		typ, status, ok := strings.Cut(rest, "#")
		if !ok {
			return fmt.Errorf("counter %q", name)
		}
		counts := st.Counts[task.Type(typ)]
		if counts == nil {
			counts = task.NewCounts(0)
			st.Counts[task.Type(typ)] = counts
		}
		counts[task.Status(status)] += int(n)
		st.Total += int(n)
		switch task.Status(status) {
		case task.StatusCompleted:
			st.Succeeded += int(n)
		case task.StatusFailed:
			st.Failed += int(n)
		}
		return nil
	}
	if rest, ok := strings.CutPrefix(name, providerPrefix); ok {
		// The provider's name may hold '#': the status is after the last.
		cut := strings.LastIndexByte(rest, '#')
		if cut < 0 {
			return fmt.Errorf("counter %q", name)
		}
		provider, status := rest[:cut], task.Status(rest[cut+1:])
		p := st.Providers[provider]
		switch status {
		case task.StatusCompleted:
			p.Completed += int(n)
		case task.StatusFailed:
			p.Failed += int(n)
		}
		st.Providers[provider] = p
	}
	return nil
}
