package prompt

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the optimiser's collectors, served at /metrics beside the
// App's.
type metrics struct {
	optimizations *prometheus.CounterVec
	llmCalls      *prometheus.CounterVec
	llmDuration   prometheus.Histogram
	truncations   prometheus.Counter
}

func newMetrics() *metrics {
	return &metrics{
		optimizations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediatasks_prompt_optimizations_total", Help: "Prompts optimised, by mode and cache result (hit, miss, none).",
		}, []string{"mode", "cache"}),
		llmCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediatasks_prompt_llm_calls_total", Help: "LLM rewrites of prompts by outcome (ok, or fallback to the rules' prompt).",
		}, []string{"outcome"}),
		llmDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "mediatasks_prompt_llm_duration_seconds", Help: "Time an LLM rewrite took, retries included.",
			Buckets: []float64{.1, .25, .5, 1, 2.5, 5, 10, 20, 40, 80},
		}),
		truncations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mediatasks_prompt_truncations_total", Help: "Prompts cut to fit a provider's limit.",
		}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.optimizations, m.llmCalls, m.llmDuration, m.truncations}
}

func (m *metrics) register(r prometheus.Registerer) error {
	var errs []error
	for _, c := range m.collectors() {
		errs = append(errs, r.Register(c))
	}
	return errors.Join(errs...)
}
