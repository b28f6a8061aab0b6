package fsblob

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/videoai/mediatasks/shared/blob/blobtest"
)

// Puts waiting at once share flushes, and each returns only after a flush
// that began after it asked: none is acknowledged on an earlier flush.
func TestGroupedBarrierSharesFlushes(t *testing.T) {
	t.Parallel()
	var flushes atomic.Int64
	g := &grouped{flush: func() error {
		flushes.Add(1)
		return nil
	}}
	const puts = 200
	var wg sync.WaitGroup
	var late atomic.Int64
	for range puts {
		wg.Go(func() {
			before := flushes.Load() // flushes begun before this put asked
			if err := g.barrier(); err != nil {
				t.Error(err)
			}
			if flushes.Load() <= before {
				late.Add(1)
			}
		})
	}
	wg.Wait()
	if late.Load() > 0 {
		t.Fatalf("%d puts returned without a flush begun after them", late.Load())
	}
	n := flushes.Load()
	t.Logf("%d barriers, %d flushes", puts, n)
	if n < 1 || n > puts {
		t.Fatalf("%d flushes for %d barriers", n, puts)
	}
}

// Where the system cannot flush one file system, every file and folder is
// synced on its own; and with NoSync nothing is: the store behaves the
// same.
func TestConformanceOtherDurabilities(t *testing.T) {
	t.Parallel()
	for name, d := range map[string]durability{"per file": perFile{}, "no sync": cacheOnly{}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			conformance(t, d)
		})
	}
}

func conformance(t *testing.T, d durability) {
	blobtest.Run(t, func(t *testing.T) blobtest.Adapter {
		var handler http.Handler = http.NotFoundHandler()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
		t.Cleanup(srv.Close)
		s, err := New(t.TempDir(), Options{BaseURL: srv.URL, Secret: make([]byte, 32)})
		if err != nil {
			t.Fatal(err)
		}
		s.durable = d
		handler = s.Handler()
		return blobtest.Adapter{Store: s}
	})
}
