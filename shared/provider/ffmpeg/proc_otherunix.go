//go:build unix && !linux

package ffmpeg

import "syscall"

// renderProcAttr puts ffmpeg in its own process group (Cancel kills the
// group).
func renderProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
