//go:build !unix

package pocketsphinx

import (
	"os"
	"syscall"
)

// Off unix there is no folder lock (one instance per work folder) and no
// process group: Cancel kills the tool alone.

func tryLock(*os.File) (bool, error)    { return true, nil }
func killGroup(pgid int) error          { return nil }
func signaled(*os.ProcessState) bool    { return false }
func sysProcAttr() *syscall.SysProcAttr { return nil }
