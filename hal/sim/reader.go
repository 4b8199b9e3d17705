package sim

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
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
