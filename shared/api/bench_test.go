package api

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/app"
)

// BenchmarkSubmitImage: concurrent clients submit image tasks through the
// handler onto the SQLite store and queue (synchronous FULL, the default),
// called directly and over loopback HTTP. It reports submits/s and the
// p50 and p99 latency of one submit.
func BenchmarkSubmitImage(b *testing.B) {
	body := []byte(`{"prompt":"a lighthouse at dusk, oil painting","size":"1024x1024","n":1,"metadata":{"client":"bench"}}`)
	for _, transport := range []string{"handler", "http"} {
		b.Run(transport, func(b *testing.B) {
			h, bd := setup(b, withSynchronous(*benchSync), withLimits(func(l *app.Limits) { l.SubmitsPerMinute = 1 << 30 }))
			send := func(*http.Client) (int, error) { return 0, nil }
			var client *http.Client
			switch transport {
			case "handler":
				send = func(*http.Client) (int, error) {
					hr := httptest.NewRequest("POST", Prefix+"/images/generate", bytes.NewReader(body))
					hr.Header.Set("Authorization", "Bearer "+bd.keyA)
					hr.Header.Set("Content-Type", "application/json")
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, hr)
					return rec.Code, nil
				}
			case "http":
				srv := httptest.NewServer(h)
				b.Cleanup(srv.Close)
				client = srv.Client()
				client.Transport.(*http.Transport).MaxIdleConnsPerHost = 1024
				url := srv.URL + Prefix + "/images/generate"
				send = func(c *http.Client) (int, error) {
					hr, _ := http.NewRequest("POST", url, bytes.NewReader(body))
					hr.Header.Set("Authorization", "Bearer "+bd.keyA)
					hr.Header.Set("Content-Type", "application/json")
					resp, err := c.Do(hr)
					if err != nil {
						return 0, err
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					return resp.StatusCode, nil
				}
			}
			var mu sync.Mutex
			var all []time.Duration
			b.SetParallelism(*benchClientsPerCore)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				lat := make([]time.Duration, 0, 1024)
				for pb.Next() {
					t0 := time.Now()
					code, err := send(client)
					lat = append(lat, time.Since(t0))
					if err != nil || code != http.StatusAccepted {
						panic(fmt.Sprintf("submit: %d %v", code, err))
					}
				}
				mu.Lock()
				all = append(all, lat...)
				mu.Unlock()
			})
			elapsed := time.Since(start)
			b.StopTimer()
			slices.Sort(all)
			if len(all) == 0 {
				return
			}
			b.ReportMetric(float64(len(all))/elapsed.Seconds(), "submits/s")
			b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// Settings of the benchmark, e.g. go test -bench Submit ./shared/api -args -bench.sync=NORMAL
var (
	benchClientsPerCore = flag.Int("bench.clients", 32, "concurrent clients per core in BenchmarkSubmitImage")
	benchSync           = flag.String("bench.sync", "FULL", "SQLite synchronous mode in BenchmarkSubmitImage: FULL (the default) or NORMAL")
)
