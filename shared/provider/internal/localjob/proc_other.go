//go:build !unix

package localjob

import (
	"os"
	"syscall"
)

// Off unix there is no folder lock (one instance per work folder) and no
// process group: a cancel kills the program alone.

func TryLock(*os.File) (bool, error)  { return true, nil }
func KillGroup(int) error             { return nil }
func Signaled(*os.ProcessState) bool  { return false }
func GroupAttr() *syscall.SysProcAttr { return nil }
