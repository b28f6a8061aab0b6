package app

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/videoai/mediatasks/shared/queue"
	"github.com/videoai/mediatasks/shared/task"
)

// Metrics are the App's Prometheus collectors, on a registry of its own
// (never the global one), served at /metrics.
type Metrics struct {
	Registry *prometheus.Registry

	HTTPRequests    *prometheus.CounterVec
	HTTPDuration    *prometheus.HistogramVec
	Transitions     *prometheus.CounterVec
	ProviderCalls   *prometheus.CounterVec
	ProviderErrors  *prometheus.CounterVec
	ProviderLatency *prometheus.SummaryVec
	// LostRuns counts the tasks the sweep failed because their bounded
	// workflow execution (Express) ended without finishing them.
	LostRuns prometheus.Counter
}

// NewMetrics returns the collectors, with gauges that read the queue's
// depth and the store's counts at scrape time.
func NewMetrics(store task.Store, tasks queue.Queue) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediatasks_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mediatasks_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"route"}),
		Transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediatasks_task_transitions_total", Help: "Tasks entering each status, by task type.",
		}, []string{"task_type", "status"}),
		ProviderCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediatasks_provider_calls_total", Help: "Provider calls by provider and operation.",
		}, []string{"provider", "operation"}),
		ProviderErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediatasks_provider_errors_total", Help: "Provider errors by provider and kind (transient, throttled, permanent).",
		}, []string{"provider", "kind"}),
		// A summary, so that /metrics itself shows each provider's p50 and
		// p95 (over the last 10 minutes) without a query engine.
		ProviderLatency: prometheus.NewSummaryVec(prometheus.SummaryOpts{
			Name: "mediatasks_provider_call_duration_seconds", Help: "Provider call latency by provider and operation (p50, p95 over 10 minutes).",
			Objectives: map[float64]float64{0.5: 0.01, 0.95: 0.005},
		}, []string{"provider", "operation"}),
		LostRuns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mediatasks_workflow_runs_lost_total", Help: "Running tasks failed by the sweep because their bounded workflow execution (Express) ended without finishing them.",
		}),
	}
	m.Registry.MustRegister(m.HTTPRequests, m.HTTPDuration, m.Transitions, m.ProviderCalls, m.ProviderErrors, m.ProviderLatency, m.LostRuns,
		&depthCollector{store: store, tasks: tasks})
	if ss, ok := store.(StorageState); ok {
		m.Registry.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "mediatasks_storage_up", Help: "1 while the store's writes succeed, 0 while they fail for a storage fault (a full disk, I/O errors).",
			}, func() float64 {
				if ss.StorageFault() != nil {
					return 0
				}
				return 1
			}),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "mediatasks_storage_faults_total", Help: "Times the store's writes started failing for a storage fault.",
			}, func() float64 { return float64(ss.StorageDowns()) }))
	}
	return m
}

// StorageState is a store that follows whether its writes succeed.
type StorageState interface {
	// StorageFault is nil while writes succeed, else the fault.
	StorageFault() error
	// StorageDowns counts the times writes started failing.
	StorageDowns() uint64
}

// ObserveProviderCall counts one provider call and its latency; errKind
// is "" for a success. The provider registry reports every call here.
func (m *Metrics) ObserveProviderCall(provider, operation string, d time.Duration, errKind string) {
	m.ProviderCalls.WithLabelValues(provider, operation).Inc()
	m.ProviderLatency.WithLabelValues(provider, operation).Observe(d.Seconds())
	if errKind != "" {
		m.ProviderErrors.WithLabelValues(provider, errKind).Inc()
	}
}

func (m *Metrics) observeTransition(typ task.Type, to task.Status) {
	m.Transitions.WithLabelValues(string(typ), string(to)).Inc()
}

var (
	queueDepthDesc = prometheus.NewDesc("mediatasks_queue_depth",
		"Messages in the task queue by priority and state (visible, in_flight).", []string{"priority", "state"}, nil)
	queueDeadDesc = prometheus.NewDesc("mediatasks_queue_dead_letters",
		"Messages in the task queue's dead-letter queue.", nil, nil)
	tasksDesc = prometheus.NewDesc("mediatasks_tasks",
		"Tasks in the store by status.", []string{"status"}, nil)
	queueAgeDesc = prometheus.NewDesc("mediatasks_queue_oldest_message_age_seconds",
		"Age of the oldest visible message in the task queue.", nil, nil)
)

// depthCollector reads the queue's depth at scrape time, so the figure is
// the shared queue's, not this process's view of it.
type depthCollector struct {
	store task.Store
	tasks queue.Queue
}

func (c *depthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDepthDesc
	ch <- queueDeadDesc
	ch <- queueAgeDesc
	ch <- tasksDesc
}

// StatusCounter is implemented by stores that can count all tasks by
// status cheaply; /metrics shows the counts when the store can.
type StatusCounter interface {
	CountByStatus(ctx context.Context) (map[task.Status]int, error)
}

func (c *depthCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := c.tasks.Stats(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(queueDepthDesc, err)
		return
	}
	for _, p := range task.Priorities {
		ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(st.Visible[p]), string(p), "visible")
		ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(st.InFlight[p]), string(p), "in_flight")
	}
	ch <- prometheus.MustNewConstMetric(queueDeadDesc, prometheus.GaugeValue, float64(st.Dead))
	ch <- prometheus.MustNewConstMetric(queueAgeDesc, prometheus.GaugeValue, st.OldestVisibleAge.Seconds())
	counter, ok := c.store.(StatusCounter)
	if !ok {
		return
	}
	counts, err := counter.CountByStatus(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(tasksDesc, err)
		return
	}
	for _, s := range task.Statuses {
		ch <- prometheus.MustNewConstMetric(tasksDesc, prometheus.GaugeValue, float64(counts[s]), string(s))
	}
}
