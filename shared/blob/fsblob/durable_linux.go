package fsblob

import (
	"os"

	"golang.org/x/sys/unix"
)

// newDurability flushes the file system of root with syncfs(2), which
// also flushes the folder entries that renames and new folders made.
func newDurability(root string) (durability, func() error, error) {
	f, err := os.Open(root)
	if err != nil {
		return nil, nil, err
	}
	// The closure holds f, so that it is not finalised (and closed).
	g := &grouped{flush: func() error { return unix.Syncfs(int(f.Fd())) }}
	return g, f.Close, nil
}
