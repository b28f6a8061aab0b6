package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/videoai/mediatasks/shared/app"
	"github.com/videoai/mediatasks/shared/storage"
)

// freeSpace tells the free bytes of the disk that holds dir, read at most
// once a second (every submit asks).
func freeSpace(dir string) func() (int64, error) {
	var mu sync.Mutex
	var at time.Time
	var free int64
	var ferr error
	return func() (int64, error) {
		mu.Lock()
		defer mu.Unlock()
		if at.IsZero() || time.Since(at) > time.Second {
			free, ferr = diskFree(dir)
			at = time.Now()
		}
		return free, ferr
	}
}

// diskHealth is the "disk" component of /health: down while the free
// space is under storage.min_free_bytes (submits then answer 507).
func diskHealth(free func() (int64, error), min int64) app.HealthCheck {
	return func(context.Context) (any, error) {
		n, err := free()
		if err != nil {
			return nil, fmt.Errorf("free space: %w", err)
		}
		detail := map[string]any{"free_bytes": n, "min_free_bytes": min}
		if min > 0 && n < min {
			return detail, fmt.Errorf("%d bytes free, under storage.min_free_bytes (%d): submits wait: %w", n, min, storage.ErrFull)
		}
		return detail, nil
	}
}
