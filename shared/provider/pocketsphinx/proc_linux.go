//go:build linux

package pocketsphinx

import "syscall"

// sysProcAttr puts a tool in a process group of its own (so Cancel kills
// it and its children) that dies with the platform (no orphan keeps a
// core busy after a restart; the thread that starts it stays locked
// until it ends, as the death signal follows the starting thread).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
