package fsblob

import (
	"fmt"
	"os"
	"sync"
)

// durability makes writes durable. Where the system can flush a whole
// file system in one call (syncfs on Linux), puts share flushes the way
// the database's writes share commits: each put waits for one flush that
// began after its writes, and one flush serves every put waiting at that
// moment. A flush costs about what one fsync does, and a put would need
// several (its data, its sidecar, their renames), so under load many puts
// share each flush. Where it cannot, every file and folder is synced on
// its own.
type durability interface {
	// file makes f's content durable, or leaves it to barrier.
	file(f *os.File) error
	// dir makes the entries of folder dir durable, or leaves it to barrier.
	dir(dir string) error
	// barrier returns once everything written before it is durable.
	barrier() error
}

// cacheOnly leaves files in the page cache: they survive a process crash
// (kill -9), not a power loss; for a database run with synchronous=NORMAL,
// which promises the same.
type cacheOnly struct{}

func (cacheOnly) file(*os.File) error { return nil }
func (cacheOnly) dir(string) error    { return nil }
func (cacheOnly) barrier() error      { return nil }

// perFile syncs each file and folder as it is written.
type perFile struct{}

func (perFile) file(f *os.File) error { return f.Sync() }
func (perFile) dir(dir string) error  { return syncDir(dir) }
func (perFile) barrier() error        { return nil }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync folder: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync folder: %w", err)
	}
	return nil
}

// grouped flushes the file system once for all the puts waiting.
type grouped struct {
	flush func() error // flushes the whole file system

	mu      sync.Mutex
	running bool
	waiting []chan error // puts waiting for the next flush
}

func (g *grouped) file(*os.File) error { return nil }
func (g *grouped) dir(string) error    { return nil }

func (g *grouped) barrier() error {
	done := make(chan error, 1)
	g.mu.Lock()
	g.waiting = append(g.waiting, done)
	if !g.running {
		g.running = true
		go g.flushLoop()
	}
	g.mu.Unlock()
	return <-done
}

// flushLoop flushes while puts wait. A put that arrives during a flush
// waits for the next one: the flush in progress may have begun before its
// writes.
func (g *grouped) flushLoop() {
	for {
		g.mu.Lock()
		batch := g.waiting
		g.waiting = nil
		if len(batch) == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		err := g.flush()
		if err != nil {
			err = fmt.Errorf("flush the file system: %w", err)
		}
		for _, done := range batch {
			done <- err
		}
	}
}
