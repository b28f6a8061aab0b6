//go:build unix

package localjob

import (
	"errors"
	"os"
	"syscall"
)

// TryLock takes f's exclusive lock without waiting: false when another
// open file (of this process or another sharing the folder) holds it. The
// lock goes with the file's close, or the process's death.
func TryLock(f *os.File) (bool, error) {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}

// KillGroup kills the process group pgid (a program started with
// GroupAttr, and its children); os.ErrProcessDone when it is gone.
func KillGroup(pgid int) error {
	if pgid <= 1 {
		return nil
	}
	err := syscall.Kill(-pgid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

// Signaled reports a process ended by a signal (killed, crashed).
func Signaled(ps *os.ProcessState) bool {
	if ps == nil {
		return false
	}
	ws, ok := ps.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled()
}
