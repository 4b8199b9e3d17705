package meter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/simonvetter/modbus"
)

// Bus is one Modbus link (a TCP connection, a serial line, an RTU-over-TCP socket). Several
// meters (unit IDs) on one bus share it; requests are serialised, as RS-485 requires and as
// simonvetter/modbus needs (unit ID and request must not interleave).
type Bus struct {
	mu      sync.Mutex
	t       Transport
	client  link
	open    bool
	retries int
	timeout time.Duration
	// quietUntil: after a timeout on a serial line, a late reply may still be on its way;
	// the next request waits until then and flushes the input first, or it would take
	// that stale reply for its own (RTU has no transaction ID).
	quietUntil time.Time
	gen        uint64 // successful connects so far: a new value means a new link
	log        *slog.Logger
}

// OpenBus opens a link. timeout bounds each request; retries is the number of extra
// attempts after a timeout or framing error (with jittered backoff). The Bus reconnects by
// itself: after an error that may have left the link out of step, the next request opens it
// again.
func OpenBus(ctx context.Context, rawURL string, defaultBaud int, timeout time.Duration, retries int, logger *slog.Logger) (*Bus, error) {
	b, err := newBus(rawURL, defaultBaud, timeout, retries, logger)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.connect(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

// NewBus configures a link without opening it: the first request connects, so a bus that is
// unreachable at boot yields failed polls, not a failed start (see New).
func NewBus(rawURL string, defaultBaud int, timeout time.Duration, retries int, logger *slog.Logger) (*Bus, error) {
	return newBus(rawURL, defaultBaud, timeout, retries, logger)
}

// newBus configures a link without opening it; the first request connects.
func newBus(rawURL string, defaultBaud int, timeout time.Duration, retries int, logger *slog.Logger) (*Bus, error) {
	ctx := context.Background()
	t, err := ParseURL(rawURL, defaultBaud)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	conf := modbus.ClientConfiguration{
		URL:     t.Scheme + "://" + t.Addr,
		Timeout: timeout,
		// simonvetter logs through a *log.Logger (stdout when nil): route it to slog at debug.
		Logger: log.New(io.Discard, "", 0),
	}
	if logger.Enabled(ctx, slog.LevelDebug) {
		conf.Logger = slog.NewLogLogger(logger.Handler(), slog.LevelDebug)
	}
	if t.Scheme == "rtu" || t.Scheme == "rtuovertcp" {
		conf.Speed = uint(t.Baud)
		conf.DataBits = 8
		conf.StopBits = uint(t.Stop)
		switch t.Parity {
		case "even":
			conf.Parity = modbus.PARITY_EVEN
		case "odd":
			conf.Parity = modbus.PARITY_ODD
		default:
			conf.Parity = modbus.PARITY_NONE
		}
	}
	var client link
	if t.Scheme == "tcp" {
		client = newMBAPClient(t.Addr, timeout)
	} else {
		mc, err := modbus.NewClient(&conf)
		if err != nil {
			return nil, fmt.Errorf("configure modbus client for %s: %w", rawURL, err)
		}
		client = mc
	}
	return &Bus{t: t, client: client, retries: retries, timeout: timeout, log: logger}, nil
}

// dial opens the link now if it is not open.
func (b *Bus) dial(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.connect(ctx)
}

// generation counts the link's successful connects: a Meter re-reads the identity when it
// changed (whoever answers on a new link must say who it is).
func (b *Bus) generation() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.gen
}

// Transport reports the parsed link.
func (b *Bus) Transport() Transport { return b.t }

func (b *Bus) connect(ctx context.Context) error {
	if b.open {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if !b.quietUntil.IsZero() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Until(b.quietUntil)):
		}
		b.quietUntil = time.Time{}
		if err := flushInput(b.t.Addr); err != nil {
			b.log.Debug("flush serial input", "err", err)
		}
	}
	if err := b.client.Open(); err != nil {
		return fmt.Errorf("open %s://%s: %w: %w", b.t.Scheme, b.t.Addr, ErrConnect, err)
	}
	b.open = true
	b.gen++
	return nil
}

// reset closes the link after an error that may have left it out of step (a late reply
// or half a frame in a TCP stream); the next request reconnects.
func (b *Bus) reset() {
	if b.open {
		_ = b.client.Close()
		b.open = false
	}
}

// Close closes the link.
func (b *Bus) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open {
		return nil
	}
	b.open = false
	return b.client.Close()
}

// ReadRegisters reads count registers at addr from unit, retrying timeouts and framing
// errors. Errors are ErrTimeout, ErrFrame, ErrConnect or *ExceptionError, wrapped.
func (b *Bus) ReadRegisters(ctx context.Context, unit uint8, t Table, addr, count uint16) ([]uint16, error) {
	var regs []uint16
	err := b.do(ctx, unit, func() error {
		rt := modbus.INPUT_REGISTER
		if t == Holding {
			rt = modbus.HOLDING_REGISTER
		}
		var err error
		regs, err = b.client.ReadRegisters(addr, count, rt)
		return mapErr(err, byte(t), addr)
	})
	if err != nil {
		return nil, fmt.Errorf("read %d registers at 0x%04x (FC%02d) from unit %d: %w", count, addr, t, unit, err)
	}
	return regs, nil
}

// WriteRegisters writes regs at addr (FC16, or FC06 for a single register).
func (b *Bus) WriteRegisters(ctx context.Context, unit uint8, addr uint16, regs []uint16) error {
	err := b.do(ctx, unit, func() error {
		if len(regs) == 1 {
			return mapErr(b.client.WriteRegister(addr, regs[0]), 6, addr)
		}
		return mapErr(b.client.WriteRegisters(addr, regs), 16, addr)
	})
	if err != nil {
		return fmt.Errorf("write %d registers at 0x%04x to unit %d: %w", len(regs), addr, unit, err)
	}
	return nil
}

// do runs req with the unit selected, reconnecting first when the link is down. Timeouts
// and framing errors are retried b.retries times with backoff/v5's exponential backoff and
// jitter (a flapping bus with many meters must not retry in lockstep); Modbus exceptions are
// answers and are never retried.
func (b *Bus) do(ctx context.Context, unit uint8, req func() error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var last error
	attempt := 0
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		attempt++
		err := b.connect(ctx)
		if err == nil {
			if err = b.client.SetUnitId(unit); err == nil {
				err = req()
			}
		}
		last = err
		var ex *ExceptionError
		if errors.As(err, &ex) {
			return struct{}{}, backoff.Permanent(err)
		}
		if err != nil {
			b.reset()
			if b.t.Scheme == "rtu" && errors.Is(err, ErrTimeout) {
				b.quietUntil = time.Now().Add(b.timeout)
			}
		}
		return struct{}{}, err
	},
		backoff.WithBackOff(&backoff.ExponentialBackOff{InitialInterval: 50 * time.Millisecond, RandomizationFactor: 0.5, Multiplier: 2, MaxInterval: time.Second}),
		backoff.WithMaxTries(uint(b.retries)+1),
		backoff.WithMaxElapsedTime(0),
		backoff.WithNotify(func(err error, wait time.Duration) {
			b.log.Debug("modbus request failed, retrying", "unit", unit, "attempt", attempt, "in", wait, "err", err)
		}))
	if err != nil && ctx.Err() != nil && last != nil && !errors.Is(err, last) {
		return errors.Join(last, err) // say what failed, not only that the context ended
	}
	return err
}

// exceptionCode maps simonvetter/modbus exception errors back to their codes (0: not an
// exception).
func exceptionCode(err error) byte {
	for code, e := range [...]error{1: modbus.ErrIllegalFunction, 2: modbus.ErrIllegalDataAddress,
		3: modbus.ErrIllegalDataValue, 4: modbus.ErrServerDeviceFailure, 5: modbus.ErrAcknowledge,
		6: modbus.ErrServerDeviceBusy, 8: modbus.ErrMemoryParityError, 0x0A: modbus.ErrGWPathUnavailable,
		0x0B: modbus.ErrGWTargetFailedToRespond} {
		if e != nil && err == e {
			return byte(code)
		}
	}
	return 0
}

// mapErr turns simonvetter/modbus errors into this package's typed errors.
func mapErr(err error, fc byte, addr uint16) error {
	if err == nil {
		return nil
	}
	if ex, ok := err.(*ExceptionError); ok {
		return &ExceptionError{Code: ex.Code, Function: fc, Addr: addr}
	}
	switch err {
	case modbus.ErrRequestTimedOut:
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	case modbus.ErrBadCRC, modbus.ErrShortFrame, modbus.ErrProtocolError, modbus.ErrBadUnitId,
		modbus.ErrBadTransactionId, modbus.ErrUnknownProtocolId:
		return fmt.Errorf("%w: %w", ErrFrame, err)
	}
	code := exceptionCode(err)
	if code != 0 {
		return &ExceptionError{Code: code, Function: fc, Addr: addr}
	}
	var c byte
	if _, scanErr := fmt.Sscanf(err.Error(), "unknown exception code (%d)", &c); scanErr == nil {
		return &ExceptionError{Code: c, Function: fc, Addr: addr}
	}
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout(), os.IsTimeout(err):
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		return fmt.Errorf("%w: connection broke: %w", ErrFrame, err)
	}
	return err
}
