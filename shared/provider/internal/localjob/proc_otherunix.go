//go:build unix && !linux

package localjob

import "syscall"

// GroupAttr starts a program in a process group of its own.
func GroupAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
