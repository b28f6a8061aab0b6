//go:build unix && !linux

package pocketsphinx

import "syscall"

// sysProcAttr puts a tool in a process group of its own, so Cancel kills
// it and its children.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
