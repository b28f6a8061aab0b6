//go:build unix

package pocketsphinx

import (
	"errors"
	"syscall"
)

// alive reports a process that still exists (a zombie counts).
func alive(pid int) bool { return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) }

// kill kills one process the test started, by its id.
func kill(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }
