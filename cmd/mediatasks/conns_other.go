//go:build !unix

package main

// openFilesLimit is unknown here: the default connection limit stands.
func openFilesLimit() int { return 0 }
