package provider_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/task"
)

type nopObserver struct{}

func (nopObserver) ObserveProviderCall(string, string, time.Duration, string) {}

// BenchmarkRegistry measures what the registry adds to a provider call
// (the fake answers at once): choice among three providers, breaker,
// concurrency cap, timing and observer, on every core.
func BenchmarkRegistry(b *testing.B) {
	cfgs := []config.Provider{
		{Name: "a", Type: "fake", TaskTypes: []task.Type{img}, Weight: 1, MaxConcurrency: 256},
		{Name: "b", Type: "fake", TaskTypes: []task.Type{img}, Weight: 2},
		{Name: "c", Type: "fake", TaskTypes: []task.Type{img}, Weight: 3},
	}
	factories := map[string]provider.Factory{"fake": func(cfg config.Provider) (provider.Provider, error) {
		return &fake{name: cfg.Name, types: task.Types}, nil
	}}
	r, err := provider.New(cfgs, factories, provider.Options{Observer: nopObserver{}})
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, 1024)
	for i := range ids {
		ids[i] = fmt.Sprint("task-", i)
	}
	b.Run("choose", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := r.Choose(img, ids[i%len(ids)], "", nil, nil); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	})
	b.Run("choose_and_start", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				id := ids[i%len(ids)]
				name, err := r.Choose(img, id, "", nil, nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := r.Start(b.Context(), name, provider.Request{TaskID: id, Type: img}); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	})
}
