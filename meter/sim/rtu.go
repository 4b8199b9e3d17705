package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/chargegate/chargegate/meter/rtu"
)

// rtuConn is a byte stream with read deadlines: a net.Conn or a serial device.
type rtuConn interface {
	rtu.DeadlineReader
	io.Writer
}

// serveRTU answers RTU frames on c. With gap > 0 requests are framed by silence (t3.5, a
// serial line) and replies are paced at charTime per byte, so the far end sees the wire
// time a real line would take; with gap == 0 frames are delimited by length (RTU over TCP).
// Frames with a bad CRC are ignored, as a slave must.
func (b *Bus) serveRTU(ctx context.Context, c rtuConn, gap, charTime time.Duration) error {
	rd := &rtu.Reader{R: c, Gap: gap}
	for {
		raw, err := rd.ReadFrame()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed) {
				return nil
			}
			return fmt.Errorf("read rtu frame: %w", err)
		}
		f, err := rtu.Parse(raw)
		if err != nil {
			b.sim.log.Debug("rtu frame dropped", "err", err, "len", len(raw))
			continue
		}
		r := b.handle(f.Unit, append([]byte(nil), f.PDU...))
		if r.pdu == nil {
			continue
		}
		out := rtu.Frame{Unit: r.unit, PDU: r.pdu}.Append(nil)
		if r.badCRC {
			out[len(out)-1] ^= 0xFF
		}
		if r.truncate {
			out = out[:len(out)/2]
		}
		// A pty delivers the request at once; a real line takes its wire time, and then the
		// reply's: wait for both, so the master sees real line timing (t3.5 framing above
		// is real silence already).
		if !wait(ctx, r.delay+time.Duration(len(raw)+len(out))*charTime) {
			return nil
		}
		if _, err := c.Write(out); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("write rtu frame: %w", err)
		}
	}
}

// SerialConfig describes the serial line the simulator answers on.
type SerialConfig struct {
	Path   string
	Baud   int    // default 9600
	Parity string // none (default), even, odd
	Stop   int    // 1 (default) or 2
}

// ServeSerial serves the bus as Modbus RTU on a serial device (a pty in tests) until ctx
// ends, framing requests by the t3.5 silence of the configured line speed.
func (b *Bus) ServeSerial(ctx context.Context, sc SerialConfig) error {
	return b.ServeSerialReady(ctx, sc, nil)
}

// ServeSerialReady is ServeSerial that reports on ready (if not nil) once the device is
// open and configured, or why it could not be.
func (b *Bus) ServeSerialReady(ctx context.Context, sc SerialConfig, ready chan<- error) error {
	if sc.Baud == 0 {
		sc.Baud = 9600
	}
	if sc.Stop == 0 {
		sc.Stop = 1
	}
	if sc.Parity == "" {
		sc.Parity = "none"
	}
	f, err := openSerial(sc)
	if ready != nil {
		ready <- err
	}
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = f.Close() })
	defer stop()
	defer f.Close()
	bits := 1 + 8 + sc.Stop
	if sc.Parity != "none" {
		bits++
	}
	// Frame by t3.5, but never below 2 ms: a pty and the scheduler do not keep finer time.
	gap := max(rtu.T35(sc.Baud, bits), 2*time.Millisecond)
	return b.serveRTU(ctx, f, gap, rtu.CharTime(sc.Baud, bits))
}

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
