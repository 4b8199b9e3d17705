package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

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
