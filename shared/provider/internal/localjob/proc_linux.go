//go:build linux

package localjob

import "syscall"

// GroupAttr starts a program in a process group of its own that is killed
// if the thread that started it ends (the death signal follows the
// starting thread: keep it locked to its OS thread until the program
// ends), so that a crashed server leaves nothing running.
func GroupAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
