package main

import (
	"bytes"
	"context"
	le "encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

const loadUsage = `mediatasks load [--url URL] [--key-file FILE | --key KEY] [--rate N] [--duration D]
    [--mix image=70,video=10,transcription=10,subtitles=10] [--priorities high=10,normal=80,low=10]
    [--max-tasks N] [--max-in-flight N] [--drain D] [--webhook] [--pid PID] [--json]

An open-loop load against a running server: submits tasks at --rate a second
for --duration (or until --max-tasks), whatever the answers, with at most
--max-in-flight requests open (a submit due when the bound is hit is dropped
and counted), then waits up to --drain for the submitted tasks to end, and
reports per priority the submit latency (request to 202), the time to start
(created_at to started_at), the time to complete (created_at to completed_at)
and, with --webhook, the webhook delay (completed_at to receipt), as p50, p90,
p99, p99.9 and max; the completions a second; the errors by HTTP status; and,
with --pid, the server's resident memory (VmRSS, sampled every second).

Tasks are drawn by the weights of --mix and --priorities. Transcription and
subtitles use one small WAV file uploaded first. With --webhook every task's
webhook_url points at a receiver this command starts on --webhook-addr; the
server must then be allowed to deliver to private addresses: serve
--webhook-allow-private, or webhooks.allow_private in its config. The
server's limits.submits_per_minute (default 600 per key) answers 429 above
it: raise it for rates over 10/s.

Exit code 0 when the load ran (whatever the server answered), 1 when the
server could not be reached or refused the key, 2 on bad flags.

Environment: MEDIATASKS_URL, MEDIATASKS_API_KEY (flags win).
`

// Bounds of load's flags. Every tracked task costs a fixed record (its
// id, its priority and five timestamps), so --max-tasks bounds memory.
const (
	maxLoadTasks    = 1_000_000
	maxLoadRate     = 100_000
	maxLoadInFlight = 65_536
	// loadListPage is the page size of the listings read at the end.
	loadListPage = 100
	// loadSweepSlack: listing newest first, the final sweep stops at tasks
	// created this long before the first submit (server clock skew).
	loadSweepSlack = 5 * time.Minute
)

var loadKinds = []string{"image", "video", "transcription", "subtitles"}
var loadPriorities = []string{"high", "normal", "low"}

type loadOptions struct {
	URL         string
	Key         string
	Rate        float64
	Duration    time.Duration
	Mix         []int // weight per loadKinds
	Priorities  []int // weight per loadPriorities
	MaxTasks    int
	MaxInFlight int
	Drain       time.Duration
	Webhook     bool
	WebhookAddr string
	PID         int
	JSON        bool
}

// parseLoad reads load's flags over the environment. Every mistake names
// its flag.
func parseLoad(args []string, getenv func(string) string, stdout io.Writer) (loadOptions, error) {
	envOr := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	var o loadOptions
	var keyFile, mix, prios string
	fs := newFlagSet("load", loadUsage, stdout)
	fs.StringVar(&o.URL, "url", envOr("MEDIATASKS_URL", "http://"+defaultAddr), "the server's base URL [MEDIATASKS_URL]")
	fs.StringVar(&keyFile, "key-file", defaultData+"/"+apiKeyFile, "a file holding the API key (the one serve writes)")
	fs.StringVar(&o.Key, "key", getenv("MEDIATASKS_API_KEY"), "the API key; wins over --key-file [MEDIATASKS_API_KEY]")
	fs.Float64Var(&o.Rate, "rate", 200, "submits a second")
	fs.DurationVar(&o.Duration, "duration", 60*time.Second, "how long to submit")
	fs.StringVar(&mix, "mix", "image=70,video=10,transcription=10,subtitles=10", "task types by weight: image, video, transcription, subtitles")
	fs.StringVar(&prios, "priorities", "high=10,normal=80,low=10", "priorities by weight: high, normal, low")
	fs.IntVar(&o.MaxTasks, "max-tasks", 0, fmt.Sprintf("submits at most (0: rate x duration); at most %d", maxLoadTasks))
	fs.IntVar(&o.MaxInFlight, "max-in-flight", 512, "submit requests open at once; a submit due beyond it is dropped")
	fs.DurationVar(&o.Drain, "drain", 2*time.Minute, "how long to wait, after the last submit, for the tasks to end (and their webhooks)")
	fs.BoolVar(&o.Webhook, "webhook", false, "give every task a webhook_url to a receiver started here, and measure the delivery delay")
	fs.StringVar(&o.WebhookAddr, "webhook-addr", "127.0.0.1:0", "the receiver's listening address (--webhook)")
	fs.IntVar(&o.PID, "pid", 0, "the server's process id: sample its VmRSS every second")
	fs.BoolVar(&o.JSON, "json", false, "print the report as JSON")
	if err := parseFlags(fs, args); err != nil {
		return loadOptions{}, err
	}
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return loadOptions{}, usagef("load: --url %q: must be an http:// or https:// URL", o.URL)
	}
	o.URL = strings.TrimRight(o.URL, "/")
	if o.Key == "" {
		b, err := os.ReadFile(keyFile)
		if err != nil {
			return loadOptions{}, usagef("load: --key-file: %v (or give --key)", err)
		}
		o.Key = strings.TrimSpace(string(b))
		if o.Key == "" {
			return loadOptions{}, usagef("load: --key-file %s is empty", keyFile)
		}
	}
	if math.IsNaN(o.Rate) || o.Rate <= 0 || o.Rate > maxLoadRate {
		return loadOptions{}, usagef("load: --rate %v: must be more than 0 and at most %d", o.Rate, maxLoadRate)
	}
	if o.Duration <= 0 {
		return loadOptions{}, usagef("load: --duration %s: must be more than 0", o.Duration)
	}
	if o.Mix, err = parseWeights(mix, loadKinds); err != nil {
		return loadOptions{}, usagef("load: --mix %q: %v", mix, err)
	}
	if o.Priorities, err = parseWeights(prios, loadPriorities); err != nil {
		return loadOptions{}, usagef("load: --priorities %q: %v", prios, err)
	}
	if o.MaxTasks < 0 || o.MaxTasks > maxLoadTasks {
		return loadOptions{}, usagef("load: --max-tasks %d: must be from 0 to %d", o.MaxTasks, maxLoadTasks)
	}
	if o.MaxTasks == 0 {
		n := math.Ceil(o.Rate * o.Duration.Seconds())
		if n > maxLoadTasks {
			return loadOptions{}, usagef("load: --rate x --duration is %.0f tasks, more than %d: lower them or give --max-tasks", n, maxLoadTasks)
		}
		o.MaxTasks = int(n)
	}
	if o.MaxInFlight < 1 || o.MaxInFlight > maxLoadInFlight {
		return loadOptions{}, usagef("load: --max-in-flight %d: must be from 1 to %d", o.MaxInFlight, maxLoadInFlight)
	}
	if o.Drain < 0 {
		return loadOptions{}, usagef("load: --drain %s: must not be negative", o.Drain)
	}
	if _, _, err := net.SplitHostPort(o.WebhookAddr); err != nil {
		return loadOptions{}, usagef("load: --webhook-addr %q: %v", o.WebhookAddr, err)
	}
	if o.PID < 0 {
		return loadOptions{}, usagef("load: --pid %d: must be a process id", o.PID)
	}
	if o.PID > 0 {
		if _, err := readRSS(o.PID); err != nil {
			return loadOptions{}, usagef("load: --pid %d: %v", o.PID, err)
		}
	}
	return o, nil
}

// parseWeights reads "name=weight,..." over names: a name left out
// weighs 0, and the weights must not all be 0.
func parseWeights(s string, names []string) ([]int, error) {
	w := make([]int, len(names))
	seen := make([]bool, len(names))
	total := 0
	for part := range strings.SplitSeq(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, fmt.Errorf("%q: want name=weight", part)
		}
		i := indexOf(names, strings.TrimSpace(name))
		if i < 0 {
			return nil, fmt.Errorf("%q: unknown name, want one of %s", name, strings.Join(names, ", "))
		}
		if seen[i] {
			return nil, fmt.Errorf("%q given twice", name)
		}
		seen[i] = true
		n, err := strconv.Atoi(strings.TrimSpace(val))
		if err != nil || n < 0 || n > 1_000_000 {
			return nil, fmt.Errorf("%q: the weight must be a whole number from 0 to 1000000", part)
		}
		w[i] = n
		total += n
	}
	if total == 0 {
		return nil, errors.New("the weights add up to 0")
	}
	return w, nil
}

func indexOf(names []string, name string) int {
	for i, n := range names {
		if n == name {
			return i
		}
	}
	return -1
}

// pick draws an index by the weights.
func pick(weights []int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	r := rand.IntN(total)
	for i, w := range weights {
		if r < w {
			return i
		}
		r -= w
	}
	return len(weights) - 1
}

// histogram is a log-bucketed histogram of durations in microseconds, in
// the manner of HdrHistogram: values below 2^histBits are counted exactly,
// larger ones in buckets of histBits-1 significant bits (1/128 of the
// value, under 0.8 %), up to 2^histMaxExp µs (about 12 days; larger values
// are counted there). Its memory is fixed (about 35 KB). It is written
// here because go.mod holds no HDR histogram module and twenty lines do
// not justify one.
type histogram struct {
	counts        [histBuckets]uint64
	n             uint64
	min, max, sum int64
}

const (
	histBits    = 8
	histHalf    = 1 << (histBits - 1)
	histMaxExp  = 40
	histBuckets = 1<<histBits + (histMaxExp-histBits)*histHalf
)

func histIndex(v int64) int {
	if v < 0 {
		v = 0
	}
	if v >= 1<<histMaxExp {
		v = 1<<histMaxExp - 1
	}
	if v < 1<<histBits {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - histBits
	return 1<<histBits + (shift-1)*histHalf + int(v>>shift) - histHalf
}

// histMid is the middle of bucket i's values.
func histMid(i int) int64 {
	if i < 1<<histBits {
		return int64(i)
	}
	shift := (i-1<<histBits)/histHalf + 1
	mant := int64((i-1<<histBits)%histHalf + histHalf)
	return mant<<shift + (int64(1)<<shift)/2
}

func (h *histogram) record(d time.Duration) {
	v := d.Microseconds()
	if v < 0 {
		v = 0
	}
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += v
	h.counts[histIndex(v)]++
}

// quantile returns the value at q (0 to 1), within the bucket precision,
// and never outside the exact min and max.
func (h *histogram) quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	if rank >= h.n {
		return h.max
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(max(histMid(i), h.min), h.max)
		}
	}
	return h.max
}

// summary is what the report shows of a histogram, in milliseconds.
type summary struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p99_9_ms"`
	Max   float64 `json:"max_ms"`
}

func (h *histogram) summary() summary {
	ms := func(us int64) float64 { return math.Round(float64(us)/10) / 100 }
	return summary{Count: int(h.n), P50: ms(h.quantile(0.5)), P90: ms(h.quantile(0.9)),
		P99: ms(h.quantile(0.99)), P999: ms(h.quantile(0.999)), Max: ms(h.max)}
}

// The measures, per priority and for all.
const (
	measureSubmit = iota
	measureStart
	measureComplete
	measureWebhook
	measures
)

var measureNames = [measures]string{"submit", "start", "complete", "webhook"}

// loadTask is the fixed record of one submit sent.
type loadTask struct {
	id        string // "" until the 202
	priority  uint8
	status    string // its final status, once read
	created   time.Time
	started   time.Time
	completed time.Time
	webhookAt atomic.Int64 // unix nanoseconds of the first webhook, 0 before
}

// loadRun is one run's state.
type loadRun struct {
	o      loadOptions
	client *http.Client
	upload string // the WAV's upload_id, for transcription and subtitles
	hook   string // the receiver's base URL

	mu       sync.Mutex
	tasks    []*loadTask // by slot: every submit sent; id "": not accepted
	byID     map[string]int
	errors   map[string]int             // by HTTP status or "transport"
	hists    [3 + 1][measures]histogram // by priority, then all
	accepted int

	inFlight  atomic.Int64
	dropped   atomic.Int64
	webhooks  atomic.Int64 // requests the receiver got
	hooksSeen atomic.Int64 // tasks with a first webhook
}

// loadReport is the outcome, printed as a table or as JSON.
type loadReport struct {
	URL             string                        `json:"url"`
	Rate            float64                       `json:"rate"`
	Duration        string                        `json:"duration"`
	Mix             map[string]int                `json:"mix"`
	Priorities      map[string]int                `json:"priorities"`
	Attempted       int                           `json:"attempted"`
	Accepted        int                           `json:"accepted"`
	Dropped         int                           `json:"dropped"`
	Rejected        int                           `json:"rejected"`
	TooMany         int                           `json:"rejected_429"`
	Errors          map[string]int                `json:"errors"`
	SubmitSeconds   float64                       `json:"submit_seconds"`
	SubmitRate      float64                       `json:"submit_rate"`
	Completed       int                           `json:"completed"`
	Failed          int                           `json:"failed"`
	Canceled        int                           `json:"canceled"`
	Unfinished      int                           `json:"unfinished"`
	Throughput      float64                       `json:"completions_per_second"`
	ByPriority      map[string]int                `json:"accepted_by_priority"`
	WebhookRequests int                           `json:"webhook_requests,omitempty"`
	WebhookTasks    int                           `json:"webhook_tasks,omitempty"`
	Latency         map[string]map[string]summary `json:"latency"` // measure -> priority (and "all") -> summary
	RSS             *rssSummary                   `json:"rss,omitempty"`
	DrainTimedOut   bool                          `json:"drain_timed_out"`
}

type rssSummary struct {
	MinKB   int64 `json:"min_kb"`
	MaxKB   int64 `json:"max_kb"`
	LastKB  int64 `json:"last_kb"`
	Samples int   `json:"samples"`
}

// load runs the load and prints its report on stdout.
func load(ctx context.Context, o loadOptions, stdout, stderr io.Writer) error {
	r := &loadRun{o: o, byID: make(map[string]int, min(o.MaxTasks, 1<<16)), errors: map[string]int{},
		tasks: make([]*loadTask, 0, min(o.MaxTasks, 1<<16))}
	r.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		Proxy: nil, MaxIdleConns: o.MaxInFlight, MaxIdleConnsPerHost: o.MaxInFlight,
		IdleConnTimeout: 30 * time.Second, DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}}
	defer r.client.CloseIdleConnections()
	if err := r.check(ctx); err != nil {
		return err
	}
	if o.Mix[2]+o.Mix[3] > 0 {
		id, err := r.uploadWAV(ctx)
		if err != nil {
			return err
		}
		r.upload = id
	}
	if o.Webhook {
		stop, err := r.startReceiver()
		if err != nil {
			return err
		}
		defer stop()
	}
	var rss *rssSampler
	if o.PID > 0 {
		rss = startRSS(o.PID)
	}

	first := time.Now()
	attempted, submitDur := r.submitAll(ctx)
	drainCtx, cancel := context.WithTimeout(context.Background(), o.Drain)
	defer cancel()
	timedOut := r.waitEnded(ctx, drainCtx)
	// The records are read even after an interrupt: what ended is known.
	sweepCtx, cancelSweep := context.WithTimeout(context.Background(), time.Minute)
	defer cancelSweep()
	sweepErr := r.sweep(sweepCtx, first.Add(-loadSweepSlack))
	if o.Webhook && sweepErr == nil {
		r.waitWebhooks(ctx, drainCtx)
	}
	rep := r.report(attempted, submitDur)
	rep.DrainTimedOut = timedOut
	if rss != nil {
		rep.RSS = rss.stop()
	}
	if o.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		rep.print(stdout)
	}
	if sweepErr != nil {
		return fmt.Errorf("load: read the tasks at the end: %w", sweepErr)
	}
	return nil
}

func (r *loadRun) request(ctx context.Context, method, path, contentType string, body []byte) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.o.URL+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+r.o.Key)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req, nil
}

// getJSON GETs path and decodes a 200 into out.
func (r *loadRun) getJSON(ctx context.Context, path string, out any) error {
	req, err := r.request(ctx, http.MethodGet, path, "", nil)
	if err != nil {
		return err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(b[:min(len(b), 300)]))
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("GET %s: decode: %w", path, err)
	}
	return nil
}

// check reaches the server and has the key accepted.
func (r *loadRun) check(ctx context.Context) error {
	var list struct{}
	if err := r.getJSON(ctx, "/api/v1/media/tasks?limit=1", &list); err != nil {
		return fmt.Errorf("load: the server %s could not be reached, or refused the key: %w", r.o.URL, err)
	}
	return nil
}

// uploadWAV uploads one second of a quiet tone as a WAV file.
func (r *loadRun) uploadWAV(ctx context.Context) (string, error) {
	req, err := r.request(ctx, http.MethodPost, "/api/v1/media/uploads", "audio/wav", toneWAV(1))
	if err != nil {
		return "", err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("load: upload the WAV: %w", err)
	}
	defer resp.Body.Close()
	var up struct {
		ID string `json:"upload_id"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(b, &up) != nil || up.ID == "" {
		return "", fmt.Errorf("load: upload the WAV: %s: %s", resp.Status, bytes.TrimSpace(b[:min(len(b), 300)]))
	}
	return up.ID, nil
}

// toneWAV is seconds of a quiet 440 Hz tone, 16 kHz 16-bit mono PCM.
func toneWAV(seconds float64) []byte {
	const rate = 16000
	n := int(seconds * rate)
	var b bytes.Buffer
	put := func(v any) { _ = le.Write(&b, le.LittleEndian, v) }
	b.WriteString("RIFF")
	put(uint32(36 + 2*n))
	b.WriteString("WAVEfmt ")
	put(uint32(16))
	put(uint16(1)) // PCM
	put(uint16(1)) // mono
	put(uint32(rate))
	put(uint32(rate * 2))
	put(uint16(2))
	put(uint16(16))
	b.WriteString("data")
	put(uint32(2 * n))
	for i := range n {
		put(int16(2000 * math.Sin(2*math.Pi*440*float64(i)/rate)))
	}
	return b.Bytes()
}

// startReceiver starts the webhook receiver. It verifies nothing: the
// first request naming a task's slot sets the task's receipt time.
func (r *loadRun) startReceiver() (func(), error) {
	ln, err := net.Listen("tcp", r.o.WebhookAddr)
	if err != nil {
		return nil, fmt.Errorf("load: --webhook-addr %s: %w", r.o.WebhookAddr, err)
	}
	r.hook = "http://" + ln.Addr().String()
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		at := time.Now().UnixNano()
		_, _ = io.Copy(io.Discard, io.LimitReader(req.Body, 1<<20))
		r.webhooks.Add(1)
		slot, err := strconv.Atoi(strings.TrimPrefix(req.URL.Path, "/hook/"))
		if err == nil {
			// The slot's record exists before its submit is sent, so a
			// webhook that beats the 202 counts too.
			r.mu.Lock()
			var t *loadTask
			if slot >= 0 && slot < len(r.tasks) {
				t = r.tasks[slot]
			}
			r.mu.Unlock()
			if t != nil && t.webhookAt.CompareAndSwap(0, at) {
				r.hooksSeen.Add(1)
			}
		}
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = srv.Serve(ln) }()
	return func() { _ = srv.Close() }, nil
}

// submitAll submits on schedule until the duration or the task count is
// reached, or ctx ends, and waits for the submits in flight. It returns
// the submits attempted and how long submitting took.
func (r *loadRun) submitAll(ctx context.Context) (int, time.Duration) {
	interval := time.Duration(float64(time.Second) / r.o.Rate)
	start := time.Now()
	end := start.Add(r.o.Duration)
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	var wg sync.WaitGroup
	n := 0
loop:
	for ; n < r.o.MaxTasks; n++ {
		due := start.Add(time.Duration(n) * interval)
		if !due.Before(end) {
			break
		}
		// Open loop: each submit goes at its time; one that is late goes
		// at once, so the rate holds on average.
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				break loop
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			break
		}
		if r.inFlight.Load() >= int64(r.o.MaxInFlight) {
			r.dropped.Add(1)
			continue
		}
		kind, prio := pick(r.o.Mix), pick(r.o.Priorities)
		r.mu.Lock()
		slot := len(r.tasks)
		r.tasks = append(r.tasks, &loadTask{priority: uint8(prio)})
		r.mu.Unlock()
		r.inFlight.Add(1)
		wg.Go(func() {
			defer r.inFlight.Add(-1)
			r.submit(slot, kind, prio)
		})
	}
	took := time.Since(start)
	wg.Wait()
	return n, took
}

var loadPaths = []string{"/api/v1/media/images/generate", "/api/v1/media/videos/generate",
	"/api/v1/media/audio/transcribe", "/api/v1/media/subtitles/generate"}

// submit sends one task and records its answer.
func (r *loadRun) submit(slot, kind, prio int) {
	body := map[string]any{"priority": loadPriorities[prio]}
	switch kind {
	case 0:
		body["prompt"] = "a lighthouse on a cliff at dawn, load " + strconv.Itoa(slot)
		body["size"] = "512x512"
	case 1:
		body["prompt"] = "waves on rocks, load " + strconv.Itoa(slot)
		body["duration_seconds"] = 2
	case 2:
		body["upload_id"] = r.upload
		body["language"] = "en"
	case 3:
		body["upload_id"] = r.upload
		body["language"] = "en"
	}
	if r.hook != "" {
		body["webhook_url"] = r.hook + "/hook/" + strconv.Itoa(slot)
	}
	b, _ := json.Marshal(body)
	req, err := r.request(context.Background(), http.MethodPost, loadPaths[kind], "application/json", b)
	if err != nil {
		r.fail("transport")
		return
	}
	sent := time.Now()
	resp, err := r.client.Do(req)
	if err != nil {
		r.fail("transport")
		return
	}
	var ans struct {
		ID string `json:"id"`
	}
	raw, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	took := time.Since(sent)
	if resp.StatusCode != http.StatusAccepted {
		r.fail(strconv.Itoa(resp.StatusCode))
		return
	}
	if rerr != nil || json.Unmarshal(raw, &ans) != nil || ans.ID == "" {
		r.fail("202 unreadable")
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tasks[slot].id = ans.ID
	r.byID[ans.ID] = slot
	r.accepted++
	r.hists[prio][measureSubmit].record(took)
	r.hists[len(loadPriorities)][measureSubmit].record(took)
}

func (r *loadRun) fail(reason string) {
	r.mu.Lock()
	r.errors[reason]++
	r.mu.Unlock()
}

// waitEnded waits until none of the accepted tasks is queued or running,
// or drain (or ctx) ends; it tells whether the drain ran out.
func (r *loadRun) waitEnded(ctx, drain context.Context) bool {
	for {
		busy, err := r.anyBusy(drain)
		if err == nil && !busy {
			return false
		}
		select {
		case <-ctx.Done():
			return true
		case <-drain.Done():
			return true
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// anyBusy tells whether one of the accepted tasks is still queued or
// running: it pages the (short) listings of those statuses until it meets
// one of ours.
func (r *loadRun) anyBusy(ctx context.Context) (bool, error) {
	for _, status := range []string{"queued", "running"} {
		cursor := ""
		for {
			page, err := r.listPage(ctx, status, cursor)
			if err != nil {
				return true, err
			}
			r.mu.Lock()
			for _, t := range page.Tasks {
				if _, ok := r.byID[t.ID]; ok {
					r.mu.Unlock()
					return true, nil
				}
			}
			r.mu.Unlock()
			if page.NextCursor == "" {
				break
			}
			cursor = page.NextCursor
		}
	}
	return false, nil
}

type loadTaskRecord struct {
	ID          string     `json:"id"`
	Status      string     `json:"status"`
	CreatedAt   time.Time  `json:"created_at"`
	StartedAt   *time.Time `json:"started_at"`
	CompletedAt *time.Time `json:"completed_at"`
}

type loadTaskPage struct {
	Tasks      []loadTaskRecord `json:"tasks"`
	NextCursor string           `json:"next_cursor"`
}

func (r *loadRun) listPage(ctx context.Context, status, cursor string) (loadTaskPage, error) {
	q := url.Values{"status": {status}, "limit": {strconv.Itoa(loadListPage)}}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	var page loadTaskPage
	err := r.getJSON(ctx, "/api/v1/media/tasks?"+q.Encode(), &page)
	return page, err
}

// sweep reads the ended tasks, newest first, down to those created before
// since, and records each accepted task's times.
func (r *loadRun) sweep(ctx context.Context, since time.Time) error {
	r.mu.Lock()
	want := r.accepted
	r.mu.Unlock()
	found := 0
	for _, status := range []string{"completed", "failed", "canceled"} {
		cursor := ""
		for found < want {
			page, err := r.listPage(ctx, status, cursor)
			if err != nil {
				return err
			}
			older := false
			r.mu.Lock()
			for _, rec := range page.Tasks {
				older = older || rec.CreatedAt.Before(since)
				slot, ok := r.byID[rec.ID]
				if !ok || r.tasks[slot].status != "" {
					continue
				}
				t := r.tasks[slot]
				t.status, t.created = rec.Status, rec.CreatedAt
				if rec.StartedAt != nil {
					t.started = *rec.StartedAt
				}
				if rec.CompletedAt != nil {
					t.completed = *rec.CompletedAt
				}
				found++
			}
			r.mu.Unlock()
			if older || page.NextCursor == "" {
				break
			}
			cursor = page.NextCursor
		}
	}
	return nil
}

// waitWebhooks waits until every ended task has had its webhook, or drain
// (or ctx) ends.
func (r *loadRun) waitWebhooks(ctx, drain context.Context) {
	r.mu.Lock()
	ended := 0
	for _, t := range r.tasks {
		if t.status != "" {
			ended++
		}
	}
	r.mu.Unlock()
	for r.hooksSeen.Load() < int64(ended) {
		select {
		case <-ctx.Done():
			return
		case <-drain.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// report adds up the run.
func (r *loadRun) report(attempted int, submitDur time.Duration) loadReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := loadReport{URL: r.o.URL, Rate: r.o.Rate, Duration: r.o.Duration.String(),
		Mix: map[string]int{}, Priorities: map[string]int{}, ByPriority: map[string]int{},
		Attempted: attempted, Accepted: r.accepted, Dropped: int(r.dropped.Load()),
		Errors: r.errors, Latency: map[string]map[string]summary{},
		SubmitSeconds: math.Round(submitDur.Seconds()*1000) / 1000}
	for i, k := range loadKinds {
		rep.Mix[k] = r.o.Mix[i]
	}
	for i, p := range loadPriorities {
		rep.Priorities[p] = r.o.Priorities[i]
	}
	for reason, n := range r.errors {
		rep.Rejected += n
		if reason == "429" {
			rep.TooMany = n
		}
	}
	if submitDur > 0 {
		rep.SubmitRate = math.Round(float64(attempted)/submitDur.Seconds()*10) / 10
	}
	var firstCreated, lastCompleted time.Time
	all := len(loadPriorities)
	for _, t := range r.tasks {
		if t.id == "" {
			continue
		}
		rep.ByPriority[loadPriorities[t.priority]]++
		switch t.status {
		case "completed":
			rep.Completed++
		case "failed":
			rep.Failed++
		case "canceled":
			rep.Canceled++
		default:
			rep.Unfinished++
			continue
		}
		if firstCreated.IsZero() || t.created.Before(firstCreated) {
			firstCreated = t.created
		}
		rec := func(m int, d time.Duration) {
			r.hists[t.priority][m].record(d)
			r.hists[all][m].record(d)
		}
		if !t.started.IsZero() {
			rec(measureStart, t.started.Sub(t.created))
		}
		if t.status == "completed" && !t.completed.IsZero() {
			rec(measureComplete, t.completed.Sub(t.created))
			if t.completed.After(lastCompleted) {
				lastCompleted = t.completed
			}
		}
		if at := t.webhookAt.Load(); at != 0 && !t.completed.IsZero() {
			rec(measureWebhook, time.Unix(0, at).Sub(t.completed))
		}
	}
	if span := lastCompleted.Sub(firstCreated); rep.Completed > 0 && span > 0 {
		rep.Throughput = math.Round(float64(rep.Completed)/span.Seconds()*10) / 10
	}
	if r.o.Webhook {
		rep.WebhookRequests = int(r.webhooks.Load())
		rep.WebhookTasks = int(r.hooksSeen.Load())
	}
	for m := range measures {
		if m == measureWebhook && !r.o.Webhook {
			continue
		}
		byPrio := map[string]summary{}
		for p := range all + 1 {
			name := "all"
			if p < all {
				name = loadPriorities[p]
			}
			byPrio[name] = r.hists[p][m].summary()
		}
		rep.Latency[measureNames[m]] = byPrio
	}
	return rep
}

// print writes the report as a table.
func (rep loadReport) print(w io.Writer) {
	fmt.Fprintf(w, "load on %s: %g/s for %s, mix %s, priorities %s\n", rep.URL, rep.Rate, rep.Duration,
		weightsString(rep.Mix, loadKinds), weightsString(rep.Priorities, loadPriorities))
	fmt.Fprintf(w, "submits: %d attempted in %.1f s (%.1f/s): %d accepted, %d dropped at the in-flight bound, %d rejected",
		rep.Attempted, rep.SubmitSeconds, rep.SubmitRate, rep.Accepted, rep.Dropped, rep.Rejected)
	if len(rep.Errors) > 0 {
		reasons := make([]string, 0, len(rep.Errors))
		for k := range rep.Errors {
			reasons = append(reasons, k)
		}
		sort.Strings(reasons)
		var parts []string
		for _, k := range reasons {
			parts = append(parts, fmt.Sprintf("%s x%d", k, rep.Errors[k]))
		}
		fmt.Fprintf(w, " (%s)", strings.Join(parts, ", "))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "tasks: %d completed, %d failed, %d canceled, %d unfinished", rep.Completed, rep.Failed, rep.Canceled, rep.Unfinished)
	if rep.DrainTimedOut {
		fmt.Fprint(w, " (the drain ran out)")
	}
	fmt.Fprintf(w, "; %.1f completions/s\n", rep.Throughput)
	if rep.WebhookRequests > 0 || rep.WebhookTasks > 0 {
		fmt.Fprintf(w, "webhooks: %d requests, %d tasks notified\n", rep.WebhookRequests, rep.WebhookTasks)
	}
	if rep.RSS != nil {
		fmt.Fprintf(w, "server RSS: min %.1f MiB, max %.1f MiB, last %.1f MiB (%d samples)\n",
			float64(rep.RSS.MinKB)/1024, float64(rep.RSS.MaxKB)/1024, float64(rep.RSS.LastKB)/1024, rep.RSS.Samples)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "ms\tpriority\tcount\tp50\tp90\tp99\tp99.9\tmax\t")
	titles := map[string]string{"submit": "submit to 202", "start": "created to started",
		"complete": "created to completed", "webhook": "completed to webhook"}
	for _, m := range measureNames {
		byPrio, ok := rep.Latency[m]
		if !ok {
			continue
		}
		for _, p := range append(append([]string{}, loadPriorities...), "all") {
			s := byPrio[p]
			fmt.Fprintf(tw, "%s\t%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t\n", titles[m], p, s.Count, s.P50, s.P90, s.P99, s.P999, s.Max)
		}
	}
	tw.Flush()
}

func weightsString(w map[string]int, names []string) string {
	parts := make([]string, 0, len(names))
	for _, n := range names {
		if w[n] > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", n, w[n]))
		}
	}
	return strings.Join(parts, ",")
}

// rssSampler reads a process's VmRSS every second.
type rssSampler struct {
	done chan struct{}
	out  chan *rssSummary
}

func startRSS(pid int) *rssSampler {
	s := &rssSampler{done: make(chan struct{}), out: make(chan *rssSummary, 1)}
	go func() {
		sum := &rssSummary{}
		sample := func() {
			kb, err := readRSS(pid)
			if err != nil {
				return
			}
			if sum.Samples == 0 || kb < sum.MinKB {
				sum.MinKB = kb
			}
			sum.MaxKB = max(sum.MaxKB, kb)
			sum.LastKB = kb
			sum.Samples++
		}
		sample()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				sample()
			case <-s.done:
				sample()
				s.out <- sum
				return
			}
		}
	}()
	return s
}

func (s *rssSampler) stop() *rssSummary {
	close(s.done)
	return <-s.out
}

// readRSS returns the VmRSS of pid in kB, from /proc/PID/status.
func readRSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) >= 1 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, errors.New("no VmRSS in its status (a kernel thread?)")
}
