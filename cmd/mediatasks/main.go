// Command mediatasks is the local all-in-one server of the media-task
// platform and its command-line tools:
//
//	mediatasks serve --addr 127.0.0.1:8080 --data ./data [--config FILE]
//	mediatasks keys create --data ./data --user NAME
//	mediatasks version
//
// and the command line of a running server's API: submit, get, list,
// cancel, watch, batch, download, deliveries, retry, webhooks, stats,
// health and prompts (remote.go).
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}
