package task

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Store is the port for task records: SQLite on one machine, DynamoDB in
// the cloud. Every adapter passes the conformance suite in shared/store/storetest.
type Store interface {
	// Create stores new tasks, the batch they form (if any), their events
	// and the request's idempotency record (if any): all or nothing, for a
	// batch of up to 50 tasks at least (adapters with a cap on the items of
	// one transaction must still manage that).
	// ErrIdempotencyKeyExists when the record's key is taken, ErrDuplicateID
	// when an id is.
	Create(ctx context.Context, c Creation) error

	// GetTask returns the user's task. An empty userID reads any owner's
	// task (for the workers, never for the API).
	GetTask(ctx context.Context, userID, id string) (*Task, error)

	// UpdateTask replaces prev with next, conditional on the stored version
	// still being prev.Version and the stored status not being terminal;
	// next.Version must be prev.Version+1. It appends events, and when the
	// task belongs to a batch and its status changes, moves the batch's
	// counters in the same write (Batch.Move), appending batch.completed
	// when the last task ends. ErrTerminal when the stored task is terminal,
	// ErrConflict when its version moved on, ErrNotFound when absent.
	// Updates of different tasks of one batch never fail for each other:
	// an adapter whose transactions collide on the batch's record retries
	// them itself.
	UpdateTask(ctx context.Context, prev, next *Task, events ...Event) error

	// ListTasks returns the user's tasks, newest first, one page at a time.
	ListTasks(ctx context.Context, userID string, f ListFilter) (Page, error)

	// GetBatch returns the user's batch (userID "" reads any owner's).
	GetBatch(ctx context.Context, userID, id string) (*Batch, error)

	// ListEvents returns the events of a task or batch with Seq > afterSeq,
	// oldest first, at most limit.
	ListEvents(ctx context.Context, subjectID string, afterSeq int64, limit int) ([]Event, error)

	// GetIdempotency returns the user's record for key, or ErrNotFound
	// (expired records are not found).
	GetIdempotency(ctx context.Context, userID, key string) (*IdempotencyRecord, error)
	// PutIdempotency stores a record unless one exists for its key
	// (ErrIdempotencyKeyExists).
	PutIdempotency(ctx context.Context, rec IdempotencyRecord) error

	// StaleQueued returns up to limit tasks, of any user, still queued and
	// last updated before the given time: the sweeper re-sends them.
	StaleQueued(ctx context.Context, updatedBefore time.Time, limit int) ([]*Task, error)

	// OverdueRuns returns up to limit tasks, of any user, still running
	// on a bounded execution (Run.Deadline set) whose deadline is before
	// the given time, earliest deadline first: the sweep fails them, their
	// execution having ended without finishing them.
	OverdueRuns(ctx context.Context, deadlineBefore time.Time, limit int) ([]*Task, error)

	// Stats summarises the user's tasks.
	Stats(ctx context.Context, userID string) (Stats, error)

	// SpentOn is the user's spend on the tasks completed on day (UTC; its
	// time of day is ignored), for the daily budget.
	SpentOn(ctx context.Context, userID string, day time.Time) (float64, error)

	// Ping checks that the store answers.
	Ping(ctx context.Context) error
}

// Creation is what one submit writes.
type Creation struct {
	Tasks       []*Task
	Batch       *Batch
	Events      []Event
	Idempotency *IdempotencyRecord
}

// ListFilter narrows and pages a listing. Empty fields do not filter.
type ListFilter struct {
	Status  Status
	Type    Type
	BatchID string
	Limit   int    // 1 to 100; 0 means the default (20)
	Cursor  string // opaque, from Page.NextCursor
}

// Page is one page of a listing; NextCursor is empty on the last page. A
// page may hold fewer than Limit tasks, even none, while NextCursor is
// set: a store bounds what one page reads (DynamoDB with a type filter).
type Page struct {
	Tasks      []*Task
	NextCursor string
}

// IdempotencyRecord remembers the answer to a POST made with an
// Idempotency-Key, so that the same request answers the same again.
type IdempotencyRecord struct {
	UserID      string
	Key         string
	RequestHash string // method, path and body, hashed
	StatusCode  int
	Headers     map[string]string
	Body        []byte
	CreatedAt   time.Time
	ExpiresAt   time.Time
}

// Stats summarises one user's tasks.
type Stats struct {
	Counts    map[Type]map[Status]int `json:"counts"`
	Total     int                     `json:"total"`
	Succeeded int                     `json:"succeeded"`
	Failed    int                     `json:"failed"`
	// SuccessRate is completed / (completed + failed), or 0 with none ended.
	SuccessRate float64                  `json:"success_rate"`
	Providers   map[string]ProviderStats `json:"providers"`
	// Spend is what completed tasks cost, per day, type and provider, the
	// latest day first, over the last SpendDays days.
	Spend []Spend `json:"spend"`
	// SpendUSD totals Spend.
	SpendUSD float64 `json:"spend_usd"`
	// Prompts counts the ended tasks whose prompt was optimised.
	Prompts PromptStats `json:"prompts"`
	// Experiments are the outcomes of each arm of the prompt A/B
	// experiments, by experiment then arm name.
	Experiments []ArmStats `json:"experiments"`
}

// PromptStats counts the ended tasks (completed, failed or canceled)
// whose prompt went through the optimiser in a mode that uses its cache
// (template or auto), and those of them the cache answered.
type PromptStats struct {
	Optimized    int     `json:"optimized"`
	CacheHits    int     `json:"cache_hits"`
	CacheHitRate float64 `json:"cache_hit_rate"` // CacheHits / Optimized; 0 with none
}

// Fill sets the rate from the counts.
func (p *PromptStats) Fill() {
	p.CacheHitRate = 0
	if p.Optimized > 0 {
		p.CacheHitRate = float64(p.CacheHits) / float64(p.Optimized)
	}
}

// ArmStats are the outcomes of one arm of a prompt experiment over the
// user's ended tasks in it.
type ArmStats struct {
	Experiment string `json:"experiment"`
	Arm        string `json:"arm"`
	Completed  int    `json:"completed"`
	Failed     int    `json:"failed"`
	Canceled   int    `json:"canceled"`
	// SafetyRefusals counts the tasks a provider refused at least once.
	SafetyRefusals int `json:"safety_refusals"`
	// MeanSeconds is the mean run time of the completed ones.
	MeanSeconds float64 `json:"mean_seconds"`
}

// RoundSeconds rounds seconds to the millisecond, as the stats show them.
func RoundSeconds(s float64) float64 { return math.Round(s*1000) / 1000 }

// SortArms orders arm figures by experiment, then arm.
func SortArms(arms []ArmStats) {
	slices.SortFunc(arms, func(a, b ArmStats) int {
		return cmp.Or(cmp.Compare(a.Experiment, b.Experiment), cmp.Compare(a.Arm, b.Arm))
	})
}

// SpendDays is how many days of spend Stats shows.
const SpendDays = 31

// Spend is the cost of one day's completed tasks of one type on one
// provider.
type Spend struct {
	Day      string  `json:"day"` // YYYY-MM-DD, UTC
	Type     Type    `json:"task_type"`
	Provider string  `json:"provider"`
	Tasks    int     `json:"tasks"`
	USD      float64 `json:"usd"`
}

// DayOf is the spend day of t: its UTC date.
func DayOf(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// SortSpend orders spend latest day first, then by type and provider,
// and rounds each figure to a millionth of a dollar.
func SortSpend(s []Spend) {
	for i := range s {
		s[i].USD = math.Round(s[i].USD*1e6) / 1e6
	}
	slices.SortFunc(s, func(a, b Spend) int {
		if c := strings.Compare(b.Day, a.Day); c != 0 {
			return c
		}
		if c := strings.Compare(string(a.Type), string(b.Type)); c != 0 {
			return c
		}
		return strings.Compare(a.Provider, b.Provider)
	})
}

// ProviderStats is the duration of completed tasks per provider.
type ProviderStats struct {
	Completed   int     `json:"completed"`
	Failed      int     `json:"failed"`
	MeanSeconds float64 `json:"mean_seconds"`
	P95Seconds  float64 `json:"p95_seconds"`
}

// CheckUpdate checks the arguments of Store.UpdateTask that every adapter
// refuses alike: both tasks given, the same task, and next one version on.
func CheckUpdate(prev, next *Task) error {
	if prev == nil || next == nil {
		return errors.New("update task: prev and next are required")
	}
	if next.ID != prev.ID {
		return fmt.Errorf("update task %s: next is task %s", prev.ID, next.ID)
	}
	if next.Version != prev.Version+1 {
		return fmt.Errorf("update task %s: next version %d, want %d", prev.ID, next.Version, prev.Version+1)
	}
	return nil
}

// Events that Store.ListEvents returns at once when the caller names no
// limit, and at most.
const (
	DefaultEventLimit = 100
	MaxEventLimit     = 1000
)

// EventLimit is the number of events ListEvents returns for a requested
// limit: 0 or less means DefaultEventLimit, more than MaxEventLimit means
// MaxEventLimit.
func EventLimit(limit int) int {
	if limit <= 0 {
		return DefaultEventLimit
	}
	return min(limit, MaxEventLimit)
}

// MeanAndP95 returns the mean and the 95th percentile of durations, in
// seconds, as Stats shows them. The percentile is the nearest rank (the
// ceil(0.95 n)-th smallest), so it is always one of the durations and
// every store computes the same figure. It sorts ds.
func MeanAndP95(ds []time.Duration) (mean, p95 float64) {
	if len(ds) == 0 {
		return 0, 0
	}
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	rank := (95*len(ds) + 99) / 100 // ceil(0.95 n) in integers
	return sum.Seconds() / float64(len(ds)), ds[rank-1].Seconds()
}
