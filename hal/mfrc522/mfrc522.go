package mfrc522

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/spi/spireg"
	"periph.io/x/devices/v3/mfrc522"

	"github.com/chargegate/chargegate/hal"
)

// Device is what the reader needs of periph's MFRC522 driver (*mfrc522.Dev), so that tests can
// stand in a card field for the chip.
type Device interface {
	// ReadUID waits up to timeout for a card and returns its UID. A wait with no card fails
	// with an error saying "timeout" (periph: "timeout waiting for IRQ edge"); a card that
	// answered badly fails with another error.
	ReadUID(timeout time.Duration) ([]byte, error)
	// Halt powers the chip down.
	Halt() error
}

// Options tune the reader; the zero value is usable.
type Options struct {
	// Poll bounds each wait for a card (0: 500 ms): how late Halt can take effect.
	Poll time.Duration
	// Hold is how long a card must be out of the field before it counts as presented again
	// (0: 1 s), and the least time between two reported failed reads.
	Hold time.Duration
	// Log receives bus errors (nil: discarded).
	Log *slog.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Reader reads card UIDs from a Device and implements hal.CardReader.
type Reader struct {
	dev  Device
	opt  Options
	ch   chan hal.Card
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// New starts reading from dev.
func New(dev Device, opt Options) *Reader {
	if opt.Poll <= 0 {
		opt.Poll = 500 * time.Millisecond
	}
	if opt.Hold <= 0 {
		opt.Hold = time.Second
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	r := &Reader{dev: dev, opt: opt, ch: make(chan hal.Card, 8), stop: make(chan struct{}), done: make(chan struct{})}
	go r.run()
	return r
}

// PinSource hands out GPIO lines by name (hal.Pins; hal/periph.Host on the box).
type PinSource interface {
	Pin(name string) (gpio.PinIO, error)
}

// Config says where the MFRC522 is wired (doc.go, "Wiring").
type Config struct {
	SPI   string // SPI port: "/dev/spidev0.0", "SPI0.0"; "" is the first one
	Reset string // reset line name, e.g. "GPIO25"
	IRQ   string // interrupt line name, e.g. "GPIO24"
	// Gain is the receiver gain, 0..7 (MFRC522 RFCfgReg RxGain: 18 to 48 dB); 0 keeps the
	// driver's default (4, 33 dB).
	Gain int
}

// Open opens the SPI port and the two lines (periph's host drivers must be initialised, as
// hal/periph.Open does) and starts reading.
func Open(cfg Config, pins PinSource, opt Options) (*Reader, error) {
	if cfg.Reset == "" || cfg.IRQ == "" {
		return nil, errors.New("mfrc522: reset and irq lines are required")
	}
	rst, err := pins.Pin(cfg.Reset)
	if err != nil {
		return nil, fmt.Errorf("mfrc522 reset line: %w", err)
	}
	irq, err := pins.Pin(cfg.IRQ)
	if err != nil {
		return nil, fmt.Errorf("mfrc522 irq line: %w", err)
	}
	port, err := spireg.Open(cfg.SPI)
	if err != nil {
		return nil, fmt.Errorf("open SPI port %q: %w", cfg.SPI, err)
	}
	dev, err := mfrc522.NewSPI(port, rst, irq, mfrc522.WithSync())
	if err != nil {
		port.Close()
		return nil, fmt.Errorf("initialise MFRC522 on %q: %w", cfg.SPI, err)
	}
	if cfg.Gain > 0 {
		if err := dev.SetAntennaGain(cfg.Gain); err != nil {
			dev.Halt()
			port.Close()
			return nil, fmt.Errorf("mfrc522 gain: %w", err)
		}
	}
	return New(closer{dev, port}, opt), nil
}

// closer closes the SPI port after the chip is halted.
type closer struct {
	*mfrc522.Dev
	port interface{ Close() error }
}

func (c closer) Halt() error { return errors.Join(c.Dev.Halt(), c.port.Close()) }

// Cards implements hal.CardReader.
func (r *Reader) Cards() <-chan hal.Card { return r.ch }

// Halt implements hal.CardReader: it stops the loop (within Options.Poll), powers the chip down
// and closes Cards.
func (r *Reader) Halt() error {
	var err error
	r.once.Do(func() {
		close(r.stop)
		<-r.done
		err = r.dev.Halt()
		close(r.ch)
	})
	return err
}

// isTimeout tells an empty field from a failed read: periph's driver says "timeout waiting for
// IRQ edge" when no card answered.
func isTimeout(err error) bool { return strings.Contains(err.Error(), "timeout") }

func (r *Reader) run() {
	defer close(r.done)
	var (
		last     []byte    // the card in the field
		lastSeen time.Time // when it last answered
		lastErr  time.Time // when a failed read was last reported
	)
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval = 100*time.Millisecond, 5*time.Second
	for {
		select {
		case <-r.stop:
			return
		default:
		}
		uid, err := r.dev.ReadUID(r.opt.Poll)
		now := r.opt.Now()
		switch {
		case err == nil && hal.ValidUID(uid):
			bo.Reset()
			if !bytes.Equal(uid, last) || now.Sub(lastSeen) >= r.opt.Hold {
				r.send(hal.Card{UID: slices.Clone(uid)})
			}
			last, lastSeen = slices.Clone(uid), now
		case err == nil:
			r.failed(now, &lastErr, fmt.Errorf("%w: %w (%d bytes)", hal.ErrCardRead, hal.ErrBadUID, len(uid)))
		case isTimeout(err):
			bo.Reset()
		default:
			r.opt.Log.Debug("card read failed", "err", err)
			r.failed(now, &lastErr, fmt.Errorf("%w: %w", hal.ErrCardRead, err))
			select {
			case <-r.stop:
				return
			case <-time.After(bo.NextBackOff()):
			}
		}
	}
}

func (r *Reader) failed(now time.Time, last *time.Time, err error) {
	if now.Sub(*last) < r.opt.Hold {
		return
	}
	*last = now
	r.send(hal.Card{Err: err})
}

// send delivers c unless the appliance is not reading: a full queue drops it, as the chip
// would if nobody asked it.
func (r *Reader) send(c hal.Card) {
	select {
	case r.ch <- c:
	default:
		r.opt.Log.Warn("card reader queue full; card dropped")
	}
}

var _ hal.CardReader = (*Reader)(nil)
