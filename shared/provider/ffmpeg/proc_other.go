//go:build !unix

package ffmpeg

import (
	"os"
	"syscall"
)

func probeProcAttr() *syscall.SysProcAttr  { return nil }
func renderProcAttr() *syscall.SysProcAttr { return nil }

func killGroup(p *os.Process) error {
	if p == nil {
		return nil
	}
	return p.Kill()
}

// tryLock: without flock, a job's folder is this instance's alone.
func tryLock(*os.File) (bool, error) { return true, nil }
