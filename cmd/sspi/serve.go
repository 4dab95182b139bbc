package main

import (
	"errors"
	"io"
)

// runServe is built by the httpauth work; until then it says so.
func runServe(io.Writer, []string) error { return errors.New("sspi serve: not built yet") }
