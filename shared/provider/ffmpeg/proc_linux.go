package ffmpeg

import "syscall"

// renderProcAttr puts ffmpeg in its own process group (Cancel kills the
// group) and has it killed if the thread that started it ends, so that a
// crashed server leaves no render running.
func renderProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
