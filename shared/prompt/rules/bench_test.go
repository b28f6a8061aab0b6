package rules

import "testing"

// BenchmarkEnhance enhances every corpus prompt under its own task type
// and reports prompts/s.
func BenchmarkEnhance(b *testing.B) {
	lines := readCorpus(b)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for _, l := range lines {
			Enhance(l.Type, l.Prompt)
		}
		n += len(lines)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "prompts/s")
	b.ReportMetric(0, "ns/op") // per corpus pass, which says less than prompts/s
}
