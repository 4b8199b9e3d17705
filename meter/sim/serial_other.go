//go:build !linux

package sim

import (
	"errors"
	"fmt"
	"os"
)

// openSerial needs Linux termios; elsewhere serve RTU over TCP instead.
func openSerial(sc SerialConfig) (*os.File, error) {
	return nil, fmt.Errorf("serial %s: %w", sc.Path, errors.ErrUnsupported)
}
