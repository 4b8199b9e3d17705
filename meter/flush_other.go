//go:build !linux

package meter

import "errors"

// flushInput is only implemented on Linux (TCFLSH); elsewhere the stale-reply guard after
// a serial timeout is the quiet period alone.
func flushInput(string) error { return errors.ErrUnsupported }
