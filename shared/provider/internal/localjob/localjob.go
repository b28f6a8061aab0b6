// Package localjob is what the providers that run programs on this
// machine (ffmpeg, pocketsphinx) share for their jobs: a job folder any
// instance can find, held by a lock while a run owns it, and the program
// run in a process group of its own, so that a cancel reaches it and its
// children and a crashed server leaves none running.
package localjob

import (
	"os"
	"path/filepath"
)

// ClearDir removes every file of a job folder but the one named keep
// (its lock).
func ClearDir(dir, keep string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == keep {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}
