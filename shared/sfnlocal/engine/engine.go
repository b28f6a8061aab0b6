// Package engine runs Amazon States Language state machines (parsed by
// package asl) durably in the shared SQLite database: the same definitions
// that Step Functions runs in the cloud, in process on one machine.
//
// An execution's position (its current state, that state's input, retry
// counts, the end of a Wait or retry delay) is stored before the state
// begins. After a crash a new Engine on the same file resumes every
// RUNNING execution from its stored position; a Task in flight at the crash
// runs again (at least once, as in Step Functions). Choice and Pass states
// are passed through in memory and stored with the next position: they are
// deterministic, so replaying them from the stored position gives the same
// result.
//
// A Task whose Resource ends in .waitForTaskToken waits for its task
// token as Step Functions does: the token is stored with the position
// and given to the Action as $$.Task.Token, and the state ends when
// SendTaskSuccess or SendTaskFailure answers it, or fails with
// States.Timeout or States.HeartbeatTimeout; the wait holds no worker and
// survives a restart.
package engine

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/videoai/mediatasks/shared/sfnlocal/asl"
	"github.com/videoai/mediatasks/shared/sqlitedb"
)

// Action is the Go function a Task state's Resource runs. It gets the
// state's effective input (after InputPath and Parameters) and returns its
// result as JSON.
type Action func(ctx context.Context, input json.RawMessage) (json.RawMessage, error)

// TaskError names the ASL error an Action fails with (e.g.
// "Provider.Transient"), which Retry and Catch match. Any other error is
// named "States.TaskFailed" with err.Error() as cause; a context deadline
// from TimeoutSeconds is "States.Timeout".
type TaskError struct{ Name, Cause string }

func (e *TaskError) Error() string {
	if e.Cause == "" {
		return e.Name
	}
	return e.Name + ": " + e.Cause
}

// Execution statuses.
const (
	StatusRunning   = "RUNNING"
	StatusSucceeded = "SUCCEEDED"
	StatusFailed    = "FAILED"
	StatusTimedOut  = "TIMED_OUT"
	StatusAborted   = "ABORTED"
	statusPending   = "PENDING" // a Map item waiting for a concurrency slot
)

// StartExecutionSync is the built-in resource that starts a child
// execution in this engine and waits for it.
const StartExecutionSync = "arn:aws:states:::states:startExecution.sync:2"

// Errors.
var (
	ErrExecutionNotFound = errors.New("execution not found")
	ErrMachineNotFound   = errors.New("state machine not loaded")
)

// Options tune an Engine.
type Options struct {
	// Workers is how many executions are stepped at once (default 16).
	// Wait states, retry delays, executions waiting for Map items or
	// child executions, and Task Actions (each runs on a goroutine of its
	// own) hold no worker.
	Workers int
	// Resources maps a Task's Resource string to the Go function it runs.
	Resources map[string]Action
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Rand is the jitter source, a value in [0,1) (default math/rand/v2).
	Rand func() float64
	// Log receives the engine's messages (default slog.Default()).
	Log *slog.Logger
	// RelaxedStart lets Start return before its write is synced (see
	// sqlitedb.WriteRelaxed): for a caller that starts again whatever a
	// power loss takes back, as the dispatcher does (its message comes
	// back). The execution's first step syncs it anyway, before any Task
	// state runs.
	RelaxedStart bool
	// Dropped, when set, hears of each result an Action returned after
	// its execution was stopped: the engine drops it, and the caller may
	// have to undo what it stands for (a provider's job to cancel). It
	// runs on the worker; it must not block for long.
	Dropped func(machine, name, state string, result json.RawMessage)
	// Rank orders the runs ready for a worker: lower first, then the
	// older execution first (finishing old work before starting new),
	// then in the order they became ready. It is given the top-level
	// machine and the root execution's input; nil ranks all alike.
	Rank func(machine string, input json.RawMessage) int
	// Class names the class of a started execution from its top-level
	// machine and input, for RunningClass (a runner bounding each class
	// apart); nil: no classes.
	Class func(machine string, input json.RawMessage) string
}

// Execution describes an execution.
type Execution struct {
	Machine, Name string
	Status        string // RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED
	Input, Output json.RawMessage
	Error, Cause  string
	// State is the current state (while RUNNING), StateInput its input.
	State      string
	StateInput json.RawMessage
	StartedAt  time.Time
	StoppedAt  *time.Time
}

// Stats is a snapshot of the engine.
type Stats struct {
	// Executions counts the stored executions (not Map items) by status.
	Executions map[string]int
	// Waiting counts the executions (and Map items) in a Wait state or a
	// retry delay.
	Waiting int
	// Ready counts those queued for a worker.
	Ready int
	// InFlight counts the Actions running now.
	InFlight int
}

// Engine runs state machines. Its methods are safe for concurrent use.
type Engine struct {
	db   *sqlitedb.DB
	opts Options
	log  *slog.Logger
	stmt statements

	machinesMu sync.RWMutex
	machines   map[string]*asl.Machine

	// mu guards runs, the ready queue and each run's scheduling flags.
	mu     sync.Mutex
	runs   map[int64]*run
	ready  readyQueue
	signal chan struct{} // a run was queued
	active bool          // Run is stepping

	timers   timers
	inFlight atomic.Int64
	readySeq uint64 // under mu: the order runs became ready
	// actions are the Task Actions running off the workers (Run waits
	// for them before it returns).
	actions sync.WaitGroup

	// running counts the executions a caller started (not the children
	// of a Map, nor its items) that have not ended, by machine; freed is
	// signalled when one ends. Both under mu.
	running map[string]int
	freed   chan struct{}
	// classes counts the same executions by Options.Class; under mu.
	classes map[string]int
}

// New returns an engine on db, creating its tables if needed.
func New(ctx context.Context, db *sqlitedb.DB, opts Options) (*Engine, error) {
	if opts.Workers <= 0 {
		opts.Workers = 16
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rand == nil {
		opts.Rand = rand.Float64
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if err := db.Migrate(ctx, "workflow", migrations); err != nil {
		return nil, fmt.Errorf("workflow engine: %w", err)
	}
	e := &Engine{
		db:       db,
		opts:     opts,
		log:      opts.Log,
		machines: map[string]*asl.Machine{},
		runs:     map[int64]*run{},
		running:  map[string]int{},
		classes:  map[string]int{},
		freed:    make(chan struct{}, 1),
		signal:   make(chan struct{}, opts.Workers),
	}
	e.timers.wake = make(chan struct{}, 1)
	if err := e.prepare(ctx); err != nil {
		return nil, fmt.Errorf("workflow engine: %w", err)
	}
	return e, nil
}

// Load parses a state machine definition (substituting `${Name}` as CDK's
// DefinitionSubstitutions do) and makes it available under name. A Task
// whose Resource is neither in Options.Resources nor built in is refused.
// Loading a name again replaces its definition: running executions go on
// with the new one from their next state.
func (e *Engine) Load(name string, definition []byte, substitutions map[string]string) error {
	m, err := asl.Parse(definition, substitutions)
	if err != nil {
		return fmt.Errorf("load state machine %s: %w", name, err)
	}
	var errs []error
	m.Each(func(s *asl.State) {
		if s.Type != asl.TypeTask || s.Resource == StartExecutionSync {
			return
		}
		if s.HeartbeatSeconds > 0 && !isTokenResource(s.Resource) {
			// Only a token's holder can send heartbeats.
			errs = append(errs, fmt.Errorf("state %q: field \"HeartbeatSeconds\" is supported only on a %s resource", s.Name, TokenSuffix))
		}
		if _, ok := e.opts.Resources[s.Resource]; !ok {
			errs = append(errs, fmt.Errorf("state %q: field \"Resource\": no action for %q", s.Name, s.Resource))
		}
	})
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("load state machine %s: %w", name, err)
	}
	e.machinesMu.Lock()
	e.machines[name] = m
	e.machinesMu.Unlock()
	return nil
}

func (e *Engine) machine(name string) (*asl.Machine, error) {
	e.machinesMu.RLock()
	m, ok := e.machines[name]
	e.machinesMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrMachineNotFound, name)
	}
	return m, nil
}

// machineName reads a StateMachineArn: a loaded machine's name, or an ARN
// whose last `:`-separated segment is that name.
func machineName(arn string) string {
	if i := strings.LastIndexByte(arn, ':'); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

// Start starts an execution of machine named name with input, durably
// before it returns. Names are unique per machine: when name exists, the
// existing execution is returned with true, and input is ignored.
func (e *Engine) Start(ctx context.Context, machine, name string, input json.RawMessage) (Execution, bool, error) {
	x, existed, _, err := e.start(ctx, machine, name, input, 0)
	return x, existed, err
}

// start inserts an execution; parent (when not 0) stops it when stopped.
func (e *Engine) start(ctx context.Context, machine, name string, input json.RawMessage, parent int64) (Execution, bool, int64, error) {
	m, err := e.machine(machine)
	if err != nil {
		return Execution{}, false, 0, fmt.Errorf("start %s/%s: %w", machine, name, err)
	}
	if name == "" || strings.ContainsAny(name, "/") {
		return Execution{}, false, 0, fmt.Errorf("start %s/%s: an execution name is not empty and has no '/'", machine, name)
	}
	if len(input) == 0 {
		input = json.RawMessage("{}")
	}
	if !json.Valid(input) {
		return Execution{}, false, 0, fmt.Errorf("start %s/%s: the input is not JSON", machine, name)
	}
	now := e.opts.Now()
	var id int64
	var existing Execution
	write := e.db.Write
	if e.opts.RelaxedStart && parent == 0 {
		write = e.db.WriteRelaxed
	}
	err = write(ctx, func(tx *sql.Tx) error {
		var p any
		if parent != 0 {
			p = parent
		}
		err := tx.Stmt(e.stmt.insert).QueryRow(machine, name, kindExecution, "", p, nil, nil, nil, StatusRunning,
			[]byte(input), m.StartAt, []byte(input), nanos(now), nanos(now)).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			id = 0
			_, existing, err = scanExecution(tx.QueryRow(execColumns+`WHERE machine = ? AND name = ?`, machine, name))
		}
		return err
	})
	if err != nil {
		return Execution{}, false, 0, fmt.Errorf("start %s/%s: %w", machine, name, err)
	}
	if id == 0 {
		return existing, true, 0, nil
	}
	r := &run{
		id: id, machine: machine, name: name, kind: kindExecution, m: m, parent: parent,
		state: m.StartAt, in: doc{raw: input}, entered: now, stored: true,
		execName: name, execInput: input, execStart: now,
	}
	e.adopt(r, true)
	return Execution{
		Machine: machine, Name: name, Status: StatusRunning, Input: input,
		State: m.StartAt, StateInput: input, StartedAt: now.UTC(),
	}, false, id, nil
}

// Describe returns an execution.
func (e *Engine) Describe(ctx context.Context, machine, name string) (Execution, error) {
	_, x, err := scanExecution(e.db.Read.QueryRowContext(ctx, execColumns+`WHERE machine = ? AND name = ?`, machine, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Execution{}, fmt.Errorf("describe %s/%s: %w", machine, name, ErrExecutionNotFound)
	}
	if err != nil {
		return Execution{}, fmt.Errorf("describe %s/%s: %w", machine, name, err)
	}
	return x, nil
}

// Stop aborts a running execution with the given error and cause: its
// status becomes ABORTED, the context of an Action it runs is canceled,
// and its running Map items and the child executions it started are
// stopped too. Stopping an ended execution returns it unchanged.
func (e *Engine) Stop(ctx context.Context, machine, name, errName, cause string) (Execution, error) {
	var x Execution
	var aborted, ready []int64
	now := e.opts.Now()
	err := e.db.Write(ctx, func(tx *sql.Tx) error {
		id, cur, err := scanExecution(tx.QueryRow(execColumns+`WHERE machine = ? AND name = ? AND kind = 0`, machine, name))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrExecutionNotFound
		}
		if err != nil {
			return err
		}
		x = cur
		if cur.Status != StatusRunning {
			return nil
		}
		if aborted, ready, err = abortTree(tx, `SELECT ?`, []any{id}, nanos(now), errName, cause); err != nil {
			return err
		}
		_, x, err = scanExecution(tx.QueryRow(execColumns+`WHERE id = ?`, id))
		return err
	})
	if err != nil {
		return Execution{}, fmt.Errorf("stop %s/%s: %w", machine, name, err)
	}
	e.dropAborted(aborted)
	e.wakeIDs(ready)
	return x, nil
}

// RunningClass counts the started executions of a class (Options.Class)
// that have not ended.
func (e *Engine) RunningClass(class string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.classes[class]
}

// Running counts the executions of machine that a caller started (not
// those a Map started) and that have not ended: what an admission bound
// counts.
func (e *Engine) Running(machine string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.running[machine]
}

// Freed is signalled (without blocking, so missed signals merge) when an
// execution Running counts ends.
func (e *Engine) Freed() <-chan struct{} { return e.freed }

// Stats counts executions by status and what the engine holds now.
func (e *Engine) Stats(ctx context.Context) (Stats, error) {
	s := Stats{Executions: map[string]int{}}
	rows, err := e.db.Read.QueryContext(ctx, `SELECT status, count(*) FROM workflow_executions WHERE kind = 0 GROUP BY status`)
	if err != nil {
		return s, fmt.Errorf("workflow stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var status string
		var n int
		if err := rows.Scan(&status, &n); err != nil {
			return s, fmt.Errorf("workflow stats: %w", err)
		}
		s.Executions[status] = n
	}
	if err := rows.Err(); err != nil {
		return s, fmt.Errorf("workflow stats: %w", err)
	}
	e.mu.Lock()
	s.Ready = len(e.ready)
	e.mu.Unlock()
	s.Waiting = e.timers.len()
	s.InFlight = int(e.inFlight.Load())
	return s, nil
}

type stepKey struct{}

// stepInfo is what an Action's context says about the step it runs.
type stepInfo struct{ machine, execution, state, token string }

// StateName is the name of the Task state whose Action runs under ctx
// ("" outside an Action).
func StateName(ctx context.Context) string {
	if s, ok := ctx.Value(stepKey{}).(*stepInfo); ok {
		return s.state
	}
	return ""
}

// TaskToken is the token of the waitForTaskToken Task whose Action runs
// under ctx ("" for another Task), as `$$.Task.Token` gives it.
func TaskToken(ctx context.Context) string {
	if s, ok := ctx.Value(stepKey{}).(*stepInfo); ok {
		return s.token
	}
	return ""
}

// ExecutionName is the name of the execution whose Action runs under ctx
// (for a Map item, the execution that runs the Map).
func ExecutionName(ctx context.Context) string {
	if s, ok := ctx.Value(stepKey{}).(*stepInfo); ok {
		return s.execution
	}
	return ""
}

func executionArn(machine, name string) string {
	return "arn:aws:states:local:000000000000:execution:" + machine + ":" + name
}

func machineArn(machine string) string {
	return "arn:aws:states:local:000000000000:stateMachine:" + machine
}

// PurgeEnded deletes up to limit executions that ended before before,
// with their Map items, and reports how many it deleted. The engine keeps
// every execution until then (Step Functions keeps them 90 days); a name
// purged may be started again.
func (e *Engine) PurgeEnded(ctx context.Context, before time.Time, limit int) (int, error) {
	const ended = `SELECT id FROM workflow_executions
		WHERE kind = 0 AND status <> 'RUNNING' AND stopped_at < ? ORDER BY id LIMIT ?`
	var n int64
	err := e.db.Write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`DELETE FROM workflow_executions WHERE kind = 1 AND root IN (`+ended+`)`, nanos(before), limit); err != nil {
			return err
		}
		res, err := tx.Exec(`DELETE FROM workflow_executions WHERE id IN (`+ended+`)`, nanos(before), limit)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("purge ended executions: %w", err)
	}
	return int(n), nil
}
