package sim

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// openSerial opens a tty non-blocking (so reads take deadlines through the runtime poller)
// and puts it in raw mode at the requested line settings.
func openSerial(sc SerialConfig) (*os.File, error) {
	fd, err := unix.Open(sc.Path, unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open serial %s: %w", sc.Path, err)
	}
	fail := func(what string, err error) (*os.File, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("serial %s: %s: %w", sc.Path, what, err)
	}
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return fail("get termios", err)
	}
	speed := baudFlag(sc.Baud)
	if speed == 0 {
		return fail("baud", fmt.Errorf("unsupported rate %d", sc.Baud))
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB | unix.PARODD | unix.CSTOPB | unix.CBAUD
	t.Cflag |= unix.CS8 | unix.CREAD | unix.CLOCAL | speed
	switch sc.Parity {
	case "even":
		t.Cflag |= unix.PARENB
	case "odd":
		t.Cflag |= unix.PARENB | unix.PARODD
	}
	if sc.Stop == 2 {
		t.Cflag |= unix.CSTOPB
	}
	t.Ispeed, t.Ospeed = speed, speed
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return fail("set termios", err)
	}
	// A non-blocking descriptor gives a pollable File: reads honour SetReadDeadline.
	return os.NewFile(uintptr(fd), sc.Path), nil
}

// baudFlag is the termios speed constant for a line speed (0: unsupported).
func baudFlag(baud int) uint32 {
	switch baud {
	case 1200:
		return unix.B1200
	case 2400:
		return unix.B2400
	case 4800:
		return unix.B4800
	case 9600:
		return unix.B9600
	case 19200:
		return unix.B19200
	case 38400:
		return unix.B38400
	case 57600:
		return unix.B57600
	case 115200:
		return unix.B115200
	}
	return 0
}
