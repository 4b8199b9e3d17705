package meter

import "golang.org/x/sys/unix"

// flushInput discards what the serial device at path has received but nobody read.
func flushInput(path string) error {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.IoctlSetInt(fd, unix.TCFLSH, unix.TCIFLUSH)
}
