package main

import (
	"errors"
	"io"
)

// runGet is built by the httpauth work; until then it says so.
func runGet(io.Writer, []string) error { return errors.New("sspi get: not built yet") }
