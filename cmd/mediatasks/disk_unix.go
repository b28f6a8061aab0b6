//go:build unix

package main

import "golang.org/x/sys/unix"

// diskFree is the bytes an unprivileged process may still write on the
// disk that holds dir.
func diskFree(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
