// Package emf publishes the platform's Prometheus metrics from Lambda
// functions as CloudWatch Embedded Metric Format (EMF) log lines: after
// each invocation, what the invocation added to each counter, and the
// latencies it observed. CloudWatch Logs turns the lines into metrics, so
// a function sends no PutMetricData request and waits on none.
//
// The EMF document is a few fields of JSON, written here by hand: the
// Go EMF libraries record metrics through an API of their own, whereas
// the core already counts through Prometheus collectors, the same ones
// /metrics serves on one machine.
package emf

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Metric says how one Prometheus family shows in CloudWatch.
type Metric struct {
	// Name is the CloudWatch metric name.
	Name string
	// Unit is a CloudWatch unit: Count for a counter, Milliseconds for a
	// latency.
	Unit string
	// Dimensions maps a Prometheus label to its dimension's name; labels
	// not named are summed over.
	Dimensions map[string]string
	// Scale multiplies observed values (1000: seconds to milliseconds).
	Scale float64
}

// maxValues is EMF's limit of values for one metric in one document.
const maxValues = 100

// Flusher writes, on each Flush, what changed in the families of Gatherer
// that Metrics names since the previous Flush. Counters give their
// increase; summaries and histograms give, for each series, the mean of
// its new observations once per observation (an invocation observes one
// or two per series, so the mean is nearly always the value itself).
type Flusher struct {
	Namespace string
	Gatherer  prometheus.Gatherer
	Metrics   map[string]Metric // by Prometheus family name
	Out       io.Writer
	Now       func() time.Time

	mu   sync.Mutex
	seen map[string][2]float64 // series -> last (sum or value, count)
}

// Flush writes one EMF line per metric and dimension set that changed.
func (f *Flusher) Flush() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.seen == nil {
		f.seen = map[string][2]float64{}
	}
	families, err := f.Gatherer.Gather()
	if err != nil {
		return fmt.Errorf("emf: gather: %w", err)
	}
	now := time.Now
	if f.Now != nil {
		now = f.Now
	}
	ts := now().UnixMilli()
	for _, fam := range families {
		m, ok := f.Metrics[fam.GetName()]
		if !ok {
			continue
		}
		for _, line := range f.changes(fam, m) {
			if err := f.write(ts, m, line); err != nil {
				return err
			}
		}
	}
	return nil
}

// change is what one dimension set of a metric gained.
type change struct {
	dims   map[string]string
	values []float64
}

func (f *Flusher) changes(fam *dto.MetricFamily, m Metric) []change {
	scale := m.Scale
	if scale == 0 {
		scale = 1
	}
	byDims := map[string]*change{}
	var order []string
	for _, s := range fam.GetMetric() {
		var total, count float64
		switch fam.GetType() {
		case dto.MetricType_COUNTER:
			total = s.GetCounter().GetValue()
		case dto.MetricType_SUMMARY:
			total, count = s.GetSummary().GetSampleSum(), float64(s.GetSummary().GetSampleCount())
		case dto.MetricType_HISTOGRAM:
			total, count = s.GetHistogram().GetSampleSum(), float64(s.GetHistogram().GetSampleCount())
		default:
			continue
		}
		series := fam.GetName() + seriesKey(s.GetLabel())
		last := f.seen[series]
		f.seen[series] = [2]float64{total, count}
		dTotal, dCount := total-last[0], count-last[1]
		if dTotal <= 0 && dCount <= 0 {
			continue
		}
		dims := map[string]string{}
		for _, l := range s.GetLabel() {
			if name, ok := m.Dimensions[l.GetName()]; ok {
				dims[name] = l.GetValue()
			}
		}
		key := seriesKey(labelsOf(dims))
		c, ok := byDims[key]
		if !ok {
			c = &change{dims: dims}
			byDims[key] = c
			order = append(order, key)
		}
		if fam.GetType() == dto.MetricType_COUNTER {
			if len(c.values) == 0 {
				c.values = []float64{0}
			}
			c.values[0] += dTotal
			continue
		}
		mean := dTotal / dCount * scale
		for n := 0; n < int(dCount) && len(c.values) < maxValues; n++ {
			c.values = append(c.values, round(mean))
		}
	}
	out := make([]change, 0, len(order))
	for _, k := range order {
		out = append(out, *byDims[k])
	}
	return out
}

func (f *Flusher) write(ts int64, m Metric, c change) error {
	names := make([]string, 0, len(c.dims))
	for name := range c.dims {
		names = append(names, name)
	}
	sort.Strings(names)
	doc := map[string]any{
		"_aws": map[string]any{
			"Timestamp": ts,
			"CloudWatchMetrics": []map[string]any{{
				"Namespace":  f.Namespace,
				"Dimensions": [][]string{names},
				"Metrics":    []map[string]string{{"Name": m.Name, "Unit": m.Unit}},
			}},
		},
	}
	for name, v := range c.dims {
		doc[name] = v
	}
	if len(c.values) == 1 {
		doc[m.Name] = c.values[0]
	} else {
		doc[m.Name] = c.values
	}
	line, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("emf: %s: %w", m.Name, err)
	}
	if _, err := f.Out.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("emf: write %s: %w", m.Name, err)
	}
	return nil
}

func labelsOf(dims map[string]string) []*dto.LabelPair {
	out := make([]*dto.LabelPair, 0, len(dims))
	for k, v := range dims {
		out = append(out, &dto.LabelPair{Name: &k, Value: &v})
	}
	return out
}

// seriesKey identifies a label set, whatever the labels' order.
func seriesKey(labels []*dto.LabelPair) string {
	parts := make([]string, 0, len(labels))
	for _, l := range labels {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, ",") + "}"
}

// round keeps three decimals: a microsecond of a latency in milliseconds.
func round(v float64) float64 { return math.Round(v*1000) / 1000 }
