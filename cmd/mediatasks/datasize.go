package main

import (
	"io/fs"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// dataSizeEvery bounds how often the data folder is walked for its size:
// a scrape reads the last figure.
const dataSizeEvery = time.Minute

// dataSizeGauge is the data folder's size in bytes (the database, its
// WAL, the output and upload files), for /metrics: what grows with kept
// work, and shrinks when the retention removes it.
func dataSizeGauge(dir string) prometheus.Collector {
	var mu sync.Mutex
	var at time.Time
	var size float64
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mediatasks_data_folder_bytes",
		Help: "Bytes in the server's data folder (database and files), measured at most once a minute.",
	}, func() float64 {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(at) < dataSizeEvery && !at.IsZero() {
			return size
		}
		var total int64
		_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil // a file removed while walking
			}
			if info, err := d.Info(); err == nil && info.Mode().IsRegular() {
				total += info.Size()
			}
			return nil
		})
		at, size = time.Now(), float64(total)
		return size
	})
}
