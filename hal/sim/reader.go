package sim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/chargegate/chargegate/hal"
)

// ErrReaderBusy is Present or Fail while the reader's queue of unread cards is full: a real reader
// drops the card then too, and the driver presents it again.
var ErrReaderBusy = errors.New("card reader queue full")

// ErrReaderHalted is Present or Fail after Halt.
var ErrReaderHalted = errors.New("card reader halted")

// Reader is a simulated ISO/IEC 14443 card reader that tests and the demo drive. It implements
// hal.CardReader; it is safe for concurrent use.
type Reader struct {
	mu      sync.Mutex
	ch      chan hal.Card
	inField []byte
	halted  bool
}

// NewReader returns a reader with an empty field, queueing up to 16 unread cards.
func NewReader() *Reader { return &Reader{ch: make(chan hal.Card, 16)} }

// Present brings the card uid into the field. It is delivered once; presenting the same card
// again while it is still in the field delivers nothing, as a real reader that debounces a held
// card. Presenting another card replaces the one in the field.
func (r *Reader) Present(uid []byte) error {
	if !hal.ValidUID(uid) {
		return fmt.Errorf("present %X: %w", uid, hal.ErrBadUID)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.halted {
		return ErrReaderHalted
	}
	if bytes.Equal(r.inField, uid) {
		return nil
	}
	if err := r.sendLocked(hal.Card{UID: slices.Clone(uid)}); err != nil {
		return err
	}
	r.inField = slices.Clone(uid)
	return nil
}

// Remove takes the card out of the field.
func (r *Reader) Remove() {
	r.mu.Lock()
	r.inField = nil
	r.mu.Unlock()
}

// Fail makes the reader report a failed read (hal.ErrCardCollision, hal.ErrCardRead, a bus error).
func (r *Reader) Fail(err error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.halted {
		return ErrReaderHalted
	}
	return r.sendLocked(hal.Card{Err: err})
}

func (r *Reader) sendLocked(c hal.Card) error {
	select {
	case r.ch <- c:
		return nil
	default:
		return ErrReaderBusy
	}
}

// Cards implements hal.CardReader.
func (r *Reader) Cards() <-chan hal.Card { return r.ch }

// Halt implements hal.CardReader: Cards is closed after the cards already queued.
func (r *Reader) Halt() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.halted {
		r.halted = true
		close(r.ch)
	}
	return nil
}

var _ hal.CardReader = (*Reader)(nil)

// Serve reads commands from in, one per line (doc.go), until in ends or fails or ctx is done.
// A line that cannot be carried out is passed to bad, when set, and skipped.
func (r *Reader) Serve(ctx context.Context, in io.Reader, bad func(line string, err error)) error {
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		if ctx.Err() != nil {
			return nil
		}
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := r.Do(line); err != nil && bad != nil {
			bad(line, err)
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("read card reader commands: %w", err)
	}
	return nil
}

// Do carries out one command line (doc.go: present, remove, tap, fail).
func (r *Reader) Do(line string) error {
	f := strings.Fields(strings.ToLower(line))
	if len(f) == 0 {
		return errors.New("empty command")
	}
	arg := ""
	if len(f) > 1 {
		arg = f[1]
	}
	switch {
	case f[0] == "remove" && len(f) == 1:
		r.Remove()
		return nil
	case (f[0] == "present" || f[0] == "tap") && len(f) == 2:
		uid, err := hex.DecodeString(arg)
		if err != nil {
			return fmt.Errorf("UID %q: %w", arg, err)
		}
		if err := r.Present(uid); err != nil {
			return err
		}
		if f[0] == "tap" {
			r.Remove()
		}
		return nil
	case f[0] == "fail" && len(f) == 2 && arg == "collision":
		return r.Fail(hal.ErrCardCollision)
	case f[0] == "fail" && len(f) == 2 && arg == "read":
		return r.Fail(hal.ErrCardRead)
	}
	return fmt.Errorf("unknown card reader command %q (present UID, remove, tap UID, fail collision|read)", line)
}
