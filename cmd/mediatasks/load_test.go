package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// load for 2 s at 50/s with webhooks against the real server in process,
// on sim providers at low latency: every submit is accounted for, every
// priority is present, the percentiles are ordered and every ended task
// had its webhook.
func TestLoadAgainstTheServer(t *testing.T) {
	t.Parallel()
	c := serveWithConfig(t, `limits:
  submits_per_minute: 100000
webhooks:
  allow_private: true
providers:
  - {name: sim-image, type: sim, task_types: [image_generation], options: {latency_ms: 1}}
  - {name: sim-video, type: sim, task_types: [video_generation], options: {latency_ms: 1}}
  - {name: sim-transcribe, type: sim, task_types: [audio_transcription], options: {latency_ms: 1}}
  - {name: sim-subtitles, type: sim, task_types: [subtitle_generation], options: {latency_ms: 1}}
`)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"load", "--url", c.base, "--key", c.key,
		"--rate", "50", "--duration", "2s", "--webhook", "--json", "--drain", "60s",
		"--priorities", "high=30,normal=40,low=30"}, envMap(nil), &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit code %d, want 0; stderr:\n%s", code, stderr.String())
	}
	var rep loadReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("decode the report: %v\n%s", err, stdout.String())
	}
	t.Logf("report:\n%s", stdout.String())
	if rep.Attempted != 100 {
		t.Errorf("attempted %d, want 50/s x 2 s = 100", rep.Attempted)
	}
	if got := rep.Accepted + rep.Dropped + rep.Rejected; got != rep.Attempted {
		t.Errorf("accepted %d + dropped %d + rejected %d = %d, want attempted %d", rep.Accepted, rep.Dropped, rep.Rejected, got, rep.Attempted)
	}
	if rep.Accepted != rep.Attempted {
		t.Errorf("accepted %d of %d (errors %v, dropped %d)", rep.Accepted, rep.Attempted, rep.Errors, rep.Dropped)
	}
	if got := rep.Completed + rep.Failed + rep.Canceled + rep.Unfinished; got != rep.Accepted {
		t.Errorf("completed %d + failed %d + canceled %d + unfinished %d = %d, want accepted %d",
			rep.Completed, rep.Failed, rep.Canceled, rep.Unfinished, got, rep.Accepted)
	}
	if rep.Unfinished != 0 || rep.DrainTimedOut {
		t.Errorf("%d unfinished (drain ran out: %v), want every task ended", rep.Unfinished, rep.DrainTimedOut)
	}
	if rep.Completed == 0 || rep.Throughput <= 0 {
		t.Errorf("completed %d at %v/s, want some", rep.Completed, rep.Throughput)
	}
	if ended := rep.Completed + rep.Failed + rep.Canceled; rep.WebhookTasks != ended {
		t.Errorf("webhooks for %d tasks, want one for each of the %d ended", rep.WebhookTasks, ended)
	}
	total := 0
	for _, p := range loadPriorities {
		if rep.ByPriority[p] == 0 {
			t.Errorf("no %s task accepted: %v", p, rep.ByPriority)
		}
		total += rep.ByPriority[p]
	}
	if total != rep.Accepted {
		t.Errorf("by priority %v adds up to %d, want %d", rep.ByPriority, total, rep.Accepted)
	}
	for _, m := range measureNames {
		byPrio, ok := rep.Latency[m]
		if !ok {
			t.Errorf("no %s latency in the report", m)
			continue
		}
		for _, p := range append([]string{"all"}, loadPriorities...) {
			s := byPrio[p]
			if s.Count == 0 {
				t.Errorf("%s %s: no values", m, p)
			}
			if !(s.P50 <= s.P90 && s.P90 <= s.P99 && s.P99 <= s.P999 && s.P999 <= s.Max) {
				t.Errorf("%s %s: percentiles out of order: %+v", m, p, s)
			}
		}
		if n := byPrio["high"].Count + byPrio["normal"].Count + byPrio["low"].Count; n != byPrio["all"].Count {
			t.Errorf("%s: the priorities count %d, all %d", m, n, byPrio["all"].Count)
		}
	}
	if n := rep.Latency["submit"]["all"].Count; n != rep.Accepted {
		t.Errorf("submit latencies %d, want one per accepted submit (%d)", n, rep.Accepted)
	}
	if n := rep.Latency["complete"]["all"].Count; n != rep.Completed {
		t.Errorf("completion times %d, want one per completed task (%d)", n, rep.Completed)
	}

	// The table names every measure.
	stdout.Reset()
	if code := run(context.Background(), []string{"load", "--url", c.base, "--key", c.key, "--rate", "20", "--duration", "200ms",
		"--mix", "image=1"}, envMap(nil), &stdout, &stderr); code != exitOK {
		t.Fatalf("table run: exit code %d; stderr:\n%s", code, stderr.String())
	}
	for _, want := range []string{"submit to 202", "created to started", "created to completed", "4 accepted", "p99.9"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, stdout.String())
		}
	}
}

// Bad flags exit 2 and name the flag; a server that is not there exits 1.
func TestLoadFlagErrors(t *testing.T) {
	t.Parallel()
	base := []string{"load", "--key", "mt_x"}
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"rate zero":       {[]string{"--rate", "0"}, "--rate"},
		"rate not number": {[]string{"--rate", "fast"}, "-rate"},
		"duration":        {[]string{"--duration", "-1s"}, "--duration"},
		"mix unknown":     {[]string{"--mix", "audio=3"}, "--mix"},
		"mix no weight":   {[]string{"--mix", "image"}, "--mix"},
		"mix all zero":    {[]string{"--mix", "image=0,video=0"}, "--mix"},
		"mix twice":       {[]string{"--mix", "image=1,image=2"}, "--mix"},
		"priorities":      {[]string{"--priorities", "urgent=1"}, "--priorities"},
		"priority weight": {[]string{"--priorities", "high=-1"}, "--priorities"},
		"max tasks":       {[]string{"--max-tasks", "-1"}, "--max-tasks"},
		"too many tasks":  {[]string{"--rate", "100000", "--duration", "1h"}, "--max-tasks"},
		"in flight":       {[]string{"--max-in-flight", "0"}, "--max-in-flight"},
		"drain":           {[]string{"--drain", "-1s"}, "--drain"},
		"url":             {[]string{"--url", "ftp://x"}, "--url"},
		"webhook addr":    {[]string{"--webhook-addr", "nowhere"}, "--webhook-addr"},
		"pid":             {[]string{"--pid", "-3"}, "--pid"},
		"no such pid":     {[]string{"--pid", "999999999"}, "--pid"},
		"key file":        {[]string{"--key", "", "--key-file", "/nonexistent/api-key"}, "--key-file"},
		"argument":        {[]string{"extra"}, "unexpected argument"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append(append([]string{}, base...), tc.args...), envMap(nil), &stdout, &stderr)
			if code != exitUsage {
				t.Errorf("exit code %d, want 2; stderr %q", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr %q does not name %s", stderr.String(), tc.want)
			}
		})
	}

	t.Run("unreachable", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close() // nothing listens there now
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"load", "--key", "mt_x", "--url", "http://" + addr, "--duration", "1s"},
			envMap(nil), &stdout, &stderr)
		if code != exitError || !strings.Contains(stderr.String(), "could not be reached") {
			t.Errorf("exit code %d, stderr %q; want 1 and could not be reached", code, stderr.String())
		}
	})
}

// The histogram's quantiles are within its bucket precision of the exact
// ones, and its buckets cover every value in order.
func TestLoadHistogram(t *testing.T) {
	t.Parallel()
	for i := 1; i < histBuckets; i++ {
		if histMid(i) <= histMid(i-1) {
			t.Fatalf("bucket %d middle %d not above bucket %d's %d", i, histMid(i), i-1, histMid(i-1))
		}
		if got := histIndex(histMid(i)); got != i {
			t.Fatalf("bucket %d's middle %d falls in bucket %d", i, histMid(i), got)
		}
	}
	var h histogram
	vals := make([]int64, 100_000)
	for i := range vals {
		vals[i] = int64(rand.ExpFloat64() * 50_000) // µs, mean 50 ms
		h.record(time.Duration(vals[i]) * time.Microsecond)
	}
	sorted := slices.Clone(vals)
	slices.Sort(sorted)
	exact := func(q float64) int64 { return sorted[max(int(math.Ceil(q*float64(len(sorted))))-1, 0)] }
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		got, want := h.quantile(q), exact(q)
		if d := float64(got-want) / float64(want); d > 0.01 || d < -0.01 {
			t.Errorf("q%v: %d, exact %d: off by %.2f %%", q, got, want, 100*d)
		}
	}
	if h.quantile(1) != h.max {
		t.Errorf("q1 %d, max %d", h.quantile(1), h.max)
	}
}
