package dynamostore

import (
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"math"
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
// provider (DURATION#<provider, base64url>#<completed t19>#<task id>) for the
// duration figures. Those figures cover each provider's most recent
// completed tasks (Options.DurationSample), so that reading them costs the same
// after a million tasks as after a thousand; duration items expire after
// DurationRetention.
const (
	DefaultDurationSample = 1000
	DurationRetention     = 90 * 24 * time.Hour
)

const (
	countPrefix    = "count#"    // count#<type>#<status>
	providerPrefix = "provider#" // provider#<name>#completed, provider#<name>#failed
	// promptOptimized and promptCacheHits count the ended tasks whose
	// prompt was optimised in a mode that uses the cache, and the hits.
	promptOptimized = "prompt#optimized"
	promptCacheHits = "prompt#cache_hits"
	// armPrefix: arm#<experiment>#<arm>#<completed|failed|canceled|refused|nanos>,
	// the ended tasks of an experiment's arm, those a provider refused, and
	// the run time of the completed ones (names hold no '#').
	armPrefix = "arm#"
)

func countName(typ task.Type, status task.Status) string {
	return countPrefix + string(typ) + "#" + string(status)
}

func providerName(provider string, status task.Status) string {
	return providerPrefix + provider + "#" + string(status)
}

// A user's spend lives in the same partition, one set of items a day
// (SPEND#<YYYY-MM-DD>#<shard>), each holding per task type and provider
// the micro-dollars (usd#<type>#<provider>) and the tasks (n#...) of the
// tasks completed that day; they expire after SpendRetention.
const SpendRetention = (task.SpendDays + 9) * 24 * time.Hour

const (
	spendUSDPrefix   = "usd#"
	spendTasksPrefix = "n#"
)

type spendDay struct{ user, day string }

// statsChange gathers the counter moves and duration items of one write.
type statsChange struct {
	deltas    map[string]map[string]int64 // user -> counter -> delta
	durations []map[string]types.AttributeValue
	spend     map[spendDay]map[string]int64 // attribute -> delta
}

func (c *statsChange) addSpend(t *task.Task) {
	if c.spend == nil {
		c.spend = map[spendDay]map[string]int64{}
	}
	k := spendDay{t.UserID, task.DayOf(*t.CompletedAt)}
	if c.spend[k] == nil {
		c.spend[k] = map[string]int64{}
	}
	what := string(t.Type) + "#" + t.Provider
	c.spend[k][spendUSDPrefix+what] += int64(math.Round(t.Cost.USD * 1e6))
	c.spend[k][spendTasksPrefix+what]++
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
	c.enterPrompt(t)
	if t.Provider == "" || (t.Status != task.StatusCompleted && t.Status != task.StatusFailed) {
		return
	}
	c.add(t.UserID, providerName(t.Provider, t.Status), 1)
	if t.Status == task.StatusCompleted && t.Cost != nil && t.CompletedAt != nil {
		c.addSpend(t)
	}
	if t.Status == task.StatusCompleted && t.StartedAt != nil && t.CompletedAt != nil {
		c.durations = append(c.durations, item{
			"PK": str(statsPK(t.UserID)), "SK": str(durationSK(t.Provider, *t.CompletedAt, t.ID)),
			"provider":   str(t.Provider),
			"nanos":      num(int64(t.Duration())),
			TTLAttribute: num(ttlSeconds(t.CompletedAt.Add(DurationRetention))),
		})
	}
}

// enterPrompt counts an ended task's optimised prompt and experiment arm.
func (c *statsChange) enterPrompt(t *task.Task) {
	op := t.OptimizedPrompt
	if op == nil || (t.Status != task.StatusCompleted && t.Status != task.StatusFailed && t.Status != task.StatusCanceled) {
		return
	}
	if op.Mode == "template" || op.Mode == "auto" {
		c.add(t.UserID, promptOptimized, 1)
		if op.CacheHit {
			c.add(t.UserID, promptCacheHits, 1)
		}
	}
	if e := op.Experiment; e != nil {
		arm := armPrefix + e.Name + "#" + e.Arm + "#"
		c.add(t.UserID, arm+string(t.Status), 1)
		if t.Refusals() > 0 {
			c.add(t.UserID, arm+"refused", 1)
		}
		if t.Status == task.StatusCompleted && t.StartedAt != nil && t.CompletedAt != nil {
			c.add(t.UserID, arm+"nanos", int64(t.Duration()))
		}
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
	for _, k := range slices.SortedFunc(maps.Keys(c.spend), func(a, b spendDay) int {
		return strings.Compare(a.user+"\x00"+a.day, b.user+"\x00"+b.day)
	}) {
		names := map[string]string{"#ttl": TTLAttribute}
		day, err := time.Parse(time.DateOnly, k.day)
		if err != nil {
			continue // DayOf wrote it: cannot happen
		}
		values := map[string]types.AttributeValue{":ttl": num(ttlSeconds(day.Add(SpendRetention)))}
		var adds []string
		for i, attr := range slices.Sorted(maps.Keys(c.spend[k])) {
			n, v := "#s"+strconv.Itoa(i), ":s"+strconv.Itoa(i)
			names[n], values[v] = attr, num(c.spend[k][attr])
			adds = append(adds, n+" "+v)
		}
		out = append(out, types.TransactWriteItem{Update: &types.Update{
			TableName:                 aws.String(table),
			Key:                       itemKey(statsPK(k.user), spendSK(k.day, shardOf(shardKey, statsShards))),
			UpdateExpression:          aws.String("ADD " + strings.Join(adds, ", ") + " SET #ttl = :ttl"),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
		}})
	}
	return out
}

func spendSK(day string, shard int) string { return spendK + day + "#" + strconv.Itoa(shard) }

// readSpend sums the user's spend items from day from to day to (YYYY-MM-DD).
func (s *Store) readSpend(ctx context.Context, userID, from, to string) ([]task.Spend, float64, error) {
	byKey := map[[3]string]*task.Spend{}
	paginator := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName:              aws.String(s.table),
		KeyConditionExpression: aws.String("PK = :pk AND SK BETWEEN :from AND :to"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(statsPK(userID)), ":from": str(spendK + from + "#"), ":to": str(spendK + to + "#~"),
		},
		ConsistentRead: aws.Bool(true),
	})
	for paginator.HasMorePages() {
		page, err := paginator.NextPage(ctx)
		if err != nil {
			return nil, 0, fmt.Errorf("spend of %s: %w", userID, err)
		}
		for _, it := range page.Items {
			d := decoder{item: it}
			sk := d.str("SK")
			day, _, _ := strings.Cut(strings.TrimPrefix(sk, spendK), "#")
			for name := range it {
				isUSD := strings.HasPrefix(name, spendUSDPrefix)
				if !isUSD && !strings.HasPrefix(name, spendTasksPrefix) {
					continue
				}
				typ, provider, _ := strings.Cut(name[strings.IndexByte(name, '#')+1:], "#")
				key := [3]string{day, typ, provider}
				sp := byKey[key]
				if sp == nil {
					sp = &task.Spend{Day: day, Type: task.Type(typ), Provider: provider}
					byKey[key] = sp
				}
				if isUSD {
					sp.USD += float64(d.int(name)) / 1e6
				} else {
					sp.Tasks += int(d.int(name))
				}
			}
			if d.err != nil {
				return nil, 0, fmt.Errorf("spend of %s: %w", userID, d.err)
			}
		}
	}
	out := make([]task.Spend, 0, len(byKey))
	total := 0.0
	for _, sp := range byKey {
		out = append(out, *sp)
		total += sp.USD
	}
	task.SortSpend(out)
	return out, math.Round(total*1e6) / 1e6, nil
}

// SpentOn sums the user's spend items of day.
func (s *Store) SpentOn(ctx context.Context, userID string, day time.Time) (float64, error) {
	d := task.DayOf(day)
	_, total, err := s.readSpend(ctx, userID, d, d)
	return total, err
}

// durationSK sorts a provider's durations by completion time, so that
// the most recent come first in a backward query.
func durationSK(provider string, completed time.Time, taskID string) string {
	return durationPrefix(provider) + timeKey(completed) + "#" + taskID
}

// durationPrefix is the sort key prefix of a provider's durations; the
// name is encoded, as a name may hold '#'.
func durationPrefix(provider string) string {
	return durationK + base64.RawURLEncoding.EncodeToString([]byte(provider)) + "#"
}

// Stats sums the user's counter items, then reads each provider's most
// recent durations: one query for the counters and one per provider.
func (s *Store) Stats(ctx context.Context, userID string) (task.Stats, error) {
	st := task.Stats{Counts: make(map[task.Type]map[task.Status]int, len(task.Types)), Providers: map[string]task.ProviderStats{}}
	for _, typ := range task.Types {
		st.Counts[typ] = task.NewCounts(0)
	}
	counters, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName:              aws.String(s.table),
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :counts)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(statsPK(userID)), ":counts": str(countsSK),
		},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return task.Stats{}, fmt.Errorf("stats of %s: %w", userID, err)
	}
	arms := map[string]*armCounters{}
	for _, it := range counters.Items { // statsShards small items: one page
		d := decoder{item: it}
		for name := range it {
			switch {
			case name == promptOptimized:
				st.Prompts.Optimized += int(d.int(name))
				continue
			case name == promptCacheHits:
				st.Prompts.CacheHits += int(d.int(name))
				continue
			case strings.HasPrefix(name, armPrefix):
				if err := addArmCounter(arms, name, d.int(name)); err != nil {
					return task.Stats{}, fmt.Errorf("stats of %s: %w", userID, err)
				}
				continue
			case !strings.HasPrefix(name, countPrefix) && !strings.HasPrefix(name, providerPrefix):
				continue // a key
			}
			if err := addCounter(&st, name, d.int(name)); err != nil {
				return task.Stats{}, fmt.Errorf("stats of %s: %w", userID, err)
			}
		}
		if d.err != nil {
			return task.Stats{}, fmt.Errorf("stats of %s: %w", userID, d.err)
		}
	}
	if st.Succeeded+st.Failed > 0 {
		st.SuccessRate = float64(st.Succeeded) / float64(st.Succeeded+st.Failed)
	}
	st.Prompts.Fill()
	st.Experiments = make([]task.ArmStats, 0, len(arms))
	for _, a := range arms {
		if a.Completed+a.Failed+a.Canceled == 0 {
			continue
		}
		if a.Completed > 0 {
			a.MeanSeconds = task.RoundSeconds(time.Duration(a.nanos / int64(a.Completed)).Seconds())
		}
		st.Experiments = append(st.Experiments, a.ArmStats)
	}
	task.SortArms(st.Experiments)
	for provider, p := range st.Providers {
		if p.Completed == 0 {
			continue
		}
		ds, err := s.recentDurations(ctx, userID, provider)
		if err != nil {
			return task.Stats{}, fmt.Errorf("stats of %s: %w", userID, err)
		}
		p.MeanSeconds, p.P95Seconds = task.MeanAndP95(ds)
		st.Providers[provider] = p
	}
	now := s.now()
	if st.Spend, st.SpendUSD, err = s.readSpend(ctx, userID, task.DayOf(now.AddDate(0, 0, 1-task.SpendDays)), task.DayOf(now)); err != nil {
		return task.Stats{}, fmt.Errorf("stats of %s: %w", userID, err)
	}
	return st, nil
}

// recentDurations reads the provider's most recent durations of the
// user's completed tasks, s.durationSample at most.
func (s *Store) recentDurations(ctx context.Context, userID, provider string) ([]time.Duration, error) {
	var ds []time.Duration
	paginator := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName:              aws.String(s.table),
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :provider)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(statsPK(userID)), ":provider": str(durationPrefix(provider)),
		},
		ProjectionExpression: aws.String("nanos"),
		ScanIndexForward:     aws.Bool(false),
		Limit:                aws.Int32(int32(s.durationSample)),
		ConsistentRead:       aws.Bool(true),
	})
	for paginator.HasMorePages() && len(ds) < s.durationSample {
		page, err := paginator.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("durations of %s: %w", provider, err)
		}
		for _, it := range page.Items {
			d := decoder{item: it}
			ds = append(ds, time.Duration(d.int("nanos")))
			if d.err != nil {
				return nil, fmt.Errorf("durations of %s: %w", provider, d.err)
			}
		}
	}
	return ds[:min(len(ds), s.durationSample)], nil
}

// armCounters gather one arm's counters.
type armCounters struct {
	task.ArmStats
	nanos int64
}

// addArmCounter adds one arm counter attribute.
func addArmCounter(arms map[string]*armCounters, name string, n int64) error {
	parts := strings.Split(strings.TrimPrefix(name, armPrefix), "#")
	if len(parts) != 3 {
		return fmt.Errorf("counter %q", name)
	}
	key := parts[0] + "#" + parts[1]
	a := arms[key]
	if a == nil {
		a = &armCounters{ArmStats: task.ArmStats{Experiment: parts[0], Arm: parts[1]}}
		arms[key] = a
	}
	switch parts[2] {
	case string(task.StatusCompleted):
		a.Completed += int(n)
	case string(task.StatusFailed):
		a.Failed += int(n)
	case string(task.StatusCanceled):
		a.Canceled += int(n)
	case "refused":
		a.SafetyRefusals += int(n)
	case "nanos":
		a.nanos += n
	}
	return nil
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
