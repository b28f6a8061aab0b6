package webhook

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	deliveriesDesc = prometheus.NewDesc("mediatasks_webhook_deliveries",
		"Webhook deliveries in the store by status.", []string{"status"}, nil)
	oldestPendingDesc = prometheus.NewDesc("mediatasks_webhook_oldest_pending_age_seconds",
		"Age of the oldest pending webhook delivery (0 when none is pending).", nil, nil)
)

// metrics counts this process's attempts, and reads the store's figures
// when scraped, so that they are the shared store's, not one process's.
type metrics struct {
	store    Store
	now      func() time.Time
	attempts *prometheus.CounterVec
	latency  prometheus.Histogram
}

func newMetrics(store Store, now func() time.Time) *metrics {
	m := &metrics{
		store: store, now: now,
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediatasks_webhook_attempts_total",
			Help: "Webhook delivery attempts by outcome (delivered, failed, exhausted, gone, blocked, skipped).",
		}, []string{"outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mediatasks_webhook_attempt_duration_seconds",
			Help:    "Latency of webhook requests, from sending to the end of the answer.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
	}
	for _, o := range Outcomes {
		m.attempts.WithLabelValues(string(o)) // every outcome shows, zeros included
	}
	return m
}

func (m *metrics) observe(a Attempt) {
	m.attempts.WithLabelValues(string(a.Outcome)).Inc()
	if a.Latency > 0 { // a request was sent
		m.latency.Observe(a.Latency.Seconds())
	}
}

// Collector returns the deliverer's Prometheus metrics: attempts by
// outcome and their latency (this process), deliveries by status and the
// age of the oldest pending one (the store, read at scrape time).
func (d *Deliverer) Collector() prometheus.Collector { return d.metrics }

func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	m.attempts.Describe(ch)
	m.latency.Describe(ch)
	ch <- deliveriesDesc
	ch <- oldestPendingDesc
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.attempts.Collect(ch)
	m.latency.Collect(ch)
	// A scrape must not hang on a stuck store.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if counts, err := m.store.CountDeliveries(ctx); err != nil {
		ch <- prometheus.NewInvalidMetric(deliveriesDesc, err)
	} else {
		for _, s := range Statuses {
			ch <- prometheus.MustNewConstMetric(deliveriesDesc, prometheus.GaugeValue, float64(counts[s]), string(s))
		}
	}
	oldest, ok, err := m.store.OldestPendingDelivery(ctx)
	switch {
	case err != nil:
		ch <- prometheus.NewInvalidMetric(oldestPendingDesc, err)
	case !ok:
		ch <- prometheus.MustNewConstMetric(oldestPendingDesc, prometheus.GaugeValue, 0)
	default:
		ch <- prometheus.MustNewConstMetric(oldestPendingDesc, prometheus.GaugeValue, max(m.now().Sub(oldest).Seconds(), 0))
	}
}

// AttemptCollector returns this process's attempt counts and latencies
// alone, which read nothing: what a function publishes after each
// invocation, where the store's figures would cost reads every time.
func (d *Deliverer) AttemptCollector() prometheus.Collector { return attemptCollector{d.metrics} }

type attemptCollector struct{ m *metrics }

func (c attemptCollector) Describe(ch chan<- *prometheus.Desc) {
	c.m.attempts.Describe(ch)
	c.m.latency.Describe(ch)
}

func (c attemptCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.attempts.Collect(ch)
	c.m.latency.Collect(ch)
}
