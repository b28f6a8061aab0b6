package sqlitestore_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/prompt"
	"github.com/videoai/mediatasks/shared/sqlitedb"
)

// BenchmarkPromptCacheGet measures a hit of the prompt cache on SQLite
// (durable commits, as the server runs) among 10,000 entries of about
// 300 bytes, and reports its p50 and p99.
//
//	go test -run '^$' -bench BenchmarkPromptCacheGet -benchtime 20000x -count 5 ./shared/store/sqlitestore/
func BenchmarkPromptCacheGet(b *testing.B) {
	s, _ := open(b, sqlitedb.Options{Synchronous: "FULL"})
	ctx := context.Background()
	const entries = 10_000
	keys := make([]string, entries)
	value := []byte(fmt.Sprintf(`{"prompt":%q,"stages":["rules"]}`, string(make([]byte, 256))))
	for i := range keys {
		sum := sha256.Sum256([]byte(fmt.Sprint(i)))
		keys[i] = hex.EncodeToString(sum[:])
		if err := s.PutCached(ctx, prompt.CacheEntry{Key: keys[i], Value: value, CreatedAt: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
	took := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if _, err := s.GetCached(ctx, keys[(i*7919)%entries]); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Nanoseconds())/1000, "p50-µs")
	b.ReportMetric(float64(took[len(took)*99/100].Nanoseconds())/1000, "p99-µs")
}
