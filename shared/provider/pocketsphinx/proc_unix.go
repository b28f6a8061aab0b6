//go:build unix

package pocketsphinx

import (
	"errors"
	"os"
	"syscall"
)

// tryLock takes the job folder's lock without waiting: false when another
// run (of this instance or another sharing the work folder) holds it. The
// lock goes with its file's close, or the death of the process.
func tryLock(f *os.File) (bool, error) {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}

// killGroup kills the process group pgid: the tool and its children.
func killGroup(pgid int) error {
	if pgid <= 1 {
		return nil
	}
	err := syscall.Kill(-pgid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// signaled reports a process ended by a signal (killed, crashed).
func signaled(ps *os.ProcessState) bool {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled()
}
