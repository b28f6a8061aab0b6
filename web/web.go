// Package web is the dashboard: static files, embedded in the binary, that
// talk to the same API as every other client.
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Handler serves the dashboard.
func Handler() http.Handler {
	sub, _ := fs.Sub(static, "static") // the folder is embedded: cannot fail
	return http.FileServerFS(sub)
}
