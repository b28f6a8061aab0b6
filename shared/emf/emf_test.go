package emf_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/videoai/mediatasks/shared/emf"
)

type document struct {
	AWS struct {
		Timestamp         int64
		CloudWatchMetrics []struct {
			Namespace  string
			Dimensions [][]string
			Metrics    []struct{ Name, Unit string }
		}
	} `json:"_aws"`
}

// lines reads the EMF documents written, checking that each is one a
// CloudWatch Logs would extract: every dimension and metric named in the
// directive is a member of the document.
func lines(t *testing.T, out *bytes.Buffer) []map[string]any {
	t.Helper()
	var docs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if line == "" {
			continue
		}
		var d document
		var fields map[string]any
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		_ = json.Unmarshal([]byte(line), &fields)
		if len(d.AWS.CloudWatchMetrics) != 1 || d.AWS.Timestamp == 0 {
			t.Fatalf("%s: no metric directive", line)
		}
		dir := d.AWS.CloudWatchMetrics[0]
		if dir.Namespace != "MediaTasks/test" {
			t.Fatalf("%s: namespace %q", line, dir.Namespace)
		}
		for _, dims := range dir.Dimensions {
			for _, name := range dims {
				if _, ok := fields[name].(string); !ok {
					t.Fatalf("%s: dimension %s is not a string member", line, name)
				}
			}
		}
		for _, m := range dir.Metrics {
			if _, ok := fields[m.Name]; !ok {
				t.Fatalf("%s: metric %s has no value", line, m.Name)
			}
		}
		docs = append(docs, fields)
	}
	out.Reset()
	return docs
}

func TestFlushWritesWhatChangedSinceTheLastFlush(t *testing.T) {
	reg := prometheus.NewRegistry()
	calls := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "calls_total", Help: "h"}, []string{"provider", "operation"})
	latency := prometheus.NewSummaryVec(prometheus.SummaryOpts{Name: "call_seconds", Help: "h"}, []string{"provider", "operation"})
	ignored := prometheus.NewCounter(prometheus.CounterOpts{Name: "not_published_total", Help: "h"})
	reg.MustRegister(calls, latency, ignored)
	calls.WithLabelValues("sim", "start") // a zero series publishes nothing

	var out bytes.Buffer
	f := &emf.Flusher{
		Namespace: "MediaTasks/test",
		Gatherer:  reg,
		Out:       &out,
		Now:       func() time.Time { return time.UnixMilli(1_700_000_000_000) },
		Metrics: map[string]emf.Metric{
			"calls_total":  {Name: "ProviderCalls", Unit: "Count", Dimensions: map[string]string{"provider": "Provider", "operation": "Operation"}},
			"call_seconds": {Name: "ProviderLatency", Unit: "Milliseconds", Dimensions: map[string]string{"provider": "Provider"}, Scale: 1000},
		},
	}
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	if docs := lines(t, &out); len(docs) != 0 {
		t.Fatalf("nothing happened, yet %v", docs)
	}

	calls.WithLabelValues("sim", "start").Add(2)
	calls.WithLabelValues("sim", "poll").Inc()
	latency.WithLabelValues("sim", "start").Observe(0.25)
	latency.WithLabelValues("sim", "poll").Observe(0.05)
	ignored.Inc()
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	docs := lines(t, &out)
	got := map[string]any{}
	for _, d := range docs {
		key := d["Provider"].(string)
		if op, ok := d["Operation"]; ok {
			key += "/" + op.(string)
		}
		for _, name := range []string{"ProviderCalls", "ProviderLatency"} {
			if v, ok := d[name]; ok {
				got[name+" "+key] = v
			}
		}
	}
	want := map[string]any{
		"ProviderCalls sim/start": 2.0,
		"ProviderCalls sim/poll":  1.0,
		// The label not kept as a dimension is gathered over: one value
		// per observation (series in label order).
		"ProviderLatency sim": []any{50.0, 250.0},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if b, _ := json.Marshal(got[k]); string(b) != mustJSON(v) {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}

	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	if docs := lines(t, &out); len(docs) != 0 {
		t.Fatalf("a second flush repeated %v", docs)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
