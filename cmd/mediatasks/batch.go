package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	mt "github.com/videoai/mediatasks/client"
)

const batchUsage = `mediatasks batch FILE.jsonl [--wait] [--webhook URL]

Submits the tasks of FILE, one a line as {"task_type", "input_data",
"priority"?} (blank lines are skipped), as batches of at most the server's
limit (50 unless a 400 tells another). Every line is checked before anything
is sent: a bad one is named by its number (exit 2). Prints one JSON line per
task, in the file's order: {"line", "batch_id", "task_id"}, and with --wait,
once every task has ended, {"line", "batch_id", "task"}; a progress bar over
them all goes to standard error on a terminal. With --wait the exit code is 1
when a task failed or was canceled.
` + remoteEnvHelp

// defaultBatchMax is the server's limits.batch_max unless it says another.
const defaultBatchMax = 50

// batchPoll is how often a waited batch is read.
const batchPoll = 250 * time.Millisecond

// batchLine is one line of a batch file.
type batchLine struct {
	Type     string          `json:"task_type"`
	Input    json.RawMessage `json:"input_data"`
	Priority string          `json:"priority,omitempty"`
}

// readBatchFile reads and checks every line of a batch file.
func readBatchFile(path string) ([]mt.BatchItem, []int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, usagef("batch: %v", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	var items []mt.BatchItem
	var lines []int
	for n := 1; ; n++ {
		raw, err := br.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, nil, fmt.Errorf("batch: read %s: %w", path, err)
		}
		if line := bytes.TrimSpace(raw); len(line) > 0 {
			item, perr := parseBatchLine(line)
			if perr != nil {
				return nil, nil, usagef("batch: %s line %d: %v", path, n, perr)
			}
			items = append(items, item)
			lines = append(lines, n)
		}
		if err != nil {
			break
		}
	}
	if len(items) == 0 {
		return nil, nil, usagef("batch: %s holds no task", path)
	}
	return items, lines, nil
}

func parseBatchLine(line []byte) (mt.BatchItem, error) {
	var l batchLine
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return mt.BatchItem{}, fmt.Errorf("not a task object: %v", err)
	}
	if dec.More() {
		return mt.BatchItem{}, errors.New("more than one JSON value")
	}
	if l.Type == "" {
		return mt.BatchItem{}, errors.New("task_type: is required")
	}
	typ, ok := parseTaskType(l.Type)
	if !ok {
		return mt.BatchItem{}, fmt.Errorf("task_type %q: must be image_generation, video_generation, audio_transcription or subtitle_generation", l.Type)
	}
	if in := bytes.TrimSpace(l.Input); len(in) == 0 || in[0] != '{' {
		return mt.BatchItem{}, errors.New("input_data: must be an object")
	}
	switch mt.Priority(l.Priority) {
	case "", mt.PriorityHigh, mt.PriorityNormal, mt.PriorityLow:
	default:
		return mt.BatchItem{}, fmt.Errorf("priority %q: must be high, normal or low", l.Priority)
	}
	return mt.BatchItem{Type: typ, Input: l.Input, Priority: mt.Priority(l.Priority)}, nil
}

// batchLimitRe reads the server's limit from its 400 on a batch too large.
var batchLimitRe = regexp.MustCompile(`1 to (\d+) tasks`)

// batchLimit returns the server's batch limit when err is the 400 of a
// batch larger than it.
func batchLimit(err error) (int, bool) {
	var p *mt.Problem
	if !errors.As(err, &p) || p.Status != 400 {
		return 0, false
	}
	msg, ok := p.Field("tasks")
	if !ok {
		return 0, false
	}
	m := batchLimitRe.FindStringSubmatch(msg)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil && n > 0
}

// taskIndexRe finds the task a field of a batch's problem names.
var taskIndexRe = regexp.MustCompile(`^tasks\[(\d+)\]`)

// lineProblem names the file's lines in the fields of a batch's problem.
func lineProblem(err error, lines []int) error {
	var p *mt.Problem
	if !errors.As(err, &p) {
		return err
	}
	q := *p
	q.Errors = make([]mt.FieldError, len(p.Errors))
	for i, fe := range p.Errors {
		if m := taskIndexRe.FindStringSubmatch(fe.Field); m != nil {
			if k, err := strconv.Atoi(m[1]); err == nil && k < len(lines) {
				fe.Field = fmt.Sprintf("line %d: %s", lines[k], strings.TrimPrefix(strings.TrimPrefix(fe.Field, m[0]), "."))
			}
		}
		q.Errors[i] = fe
	}
	return fmt.Errorf("batch of lines %d to %d: %w", lines[0], lines[len(lines)-1], &q)
}

type batchResult struct {
	Line    int      `json:"line"`
	BatchID string   `json:"batch_id"`
	TaskID  string   `json:"task_id,omitempty"`
	Task    *mt.Task `json:"task,omitempty"`
}

func batchCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("batch", batchUsage, stdout)
	rf := addRemoteFlags(fs, getenv)
	wait := fs.Bool("wait", false, "wait for every task to end and print them")
	webhook := fs.String("webhook", "", "a URL for every batch's webhooks")
	pos, err := parseArgs(fs, args, 1, 1, "a file is")
	if err != nil {
		return err
	}
	items, lines, err := readBatchFile(pos[0])
	if err != nil {
		return err
	}
	r, err := rf.connect("batch", stdout, stderr)
	if err != nil {
		return err
	}
	p := newProgress(stderr)
	defer p.end()
	quiet := r.json || !p.tty // plain progress lines only on a terminal's stderr
	show := func(label string, done, total int) {
		if !quiet {
			p.show(label, float64(done)/float64(total), fmt.Sprintf("%d/%d", done, total))
		}
	}
	results := make([]batchResult, 0, len(items))
	var batches []string
	limit := defaultBatchMax
	for i := 0; i < len(items); {
		end := min(i+limit, len(items))
		b, err := r.api.SubmitBatch(ctx, mt.BatchRequest{Tasks: items[i:end], WebhookURL: *webhook})
		if n, ok := batchLimit(err); ok && n < end-i {
			limit = n
			continue
		}
		if err != nil {
			p.end()
			if perr := r.printResults(results); perr != nil {
				return perr
			}
			return lineProblem(err, lines[i:end])
		}
		batches = append(batches, b.ID)
		for k, id := range b.TaskIDs {
			results = append(results, batchResult{Line: lines[i+k], BatchID: b.ID, TaskID: id})
		}
		i = end
		show("sent", i, len(items))
	}
	if !*wait {
		p.end()
		return r.printResults(results)
	}
	p.end()
	for {
		done := 0
		running := false
		for _, id := range batches {
			b, err := r.api.GetBatch(ctx, id)
			if err != nil {
				return err
			}
			done += b.Counts.Completed + b.Counts.Failed + b.Counts.Canceled
			running = running || b.Status != "completed"
		}
		show("ended", done, len(items))
		if !running && done == len(items) {
			break
		}
		if err := sleepCtx(ctx, batchPoll); err != nil {
			return err
		}
	}
	p.end()
	tasks := make(map[string]mt.Task, len(items))
	for _, id := range batches {
		for t, err := range r.api.ListTasks(ctx, mt.TaskFilter{BatchID: id, Limit: 100}) {
			if err != nil {
				return err
			}
			tasks[t.ID] = t
		}
	}
	bad := 0
	for i := range results {
		t, ok := tasks[results[i].TaskID]
		if !ok {
			if t, err = r.api.GetTask(ctx, results[i].TaskID); err != nil {
				return err
			}
		}
		results[i].Task = &t
		results[i].TaskID = ""
		if t.Status != mt.StatusCompleted {
			bad++
		}
	}
	if err := r.printResults(results); err != nil {
		return err
	}
	if !r.json {
		fmt.Fprintf(stderr, "%d tasks in %d batches: %d completed, %d did not\n", len(results), len(batches), len(results)-bad, bad)
	}
	if bad > 0 {
		return fmt.Errorf("batch: %d of %d tasks failed or were canceled", bad, len(results))
	}
	return nil
}

func (r *remote) printResults(results []batchResult) error {
	for _, res := range results {
		if err := r.printJSON(res); err != nil {
			return err
		}
	}
	return nil
}

// sleepCtx waits d, or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
