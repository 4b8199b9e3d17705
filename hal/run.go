package hal

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Run watches the inputs until ctx ends or Halt is called, and drives the
// status LED. Each input has its own goroutine blocked in WaitForEdge: a
// safety input that reads active opens the relay on that first edge, before
// debouncing (opening is always the safe direction); every other decision
// waits until the line has been quiet for the debounce time. Each wait is
// bounded so a lost edge is noticed within half a second. When Run returns
// the relay is driven open. It returns nil on cancellation or Halt; an
// error if it is already running or the board is halted (ErrHalted), or
// if driving the relay open at the end failed.
func (b *Board) Run(ctx context.Context) error {
	b.mu.Lock()
	switch {
	case b.halted:
		b.mu.Unlock()
		return ErrHalted
	case b.running:
		b.mu.Unlock()
		return errors.New("hal: board already running")
	}
	b.running = true
	b.refreshInputsLocked()
	b.stopFeedbackTimerLocked()
	b.evalFeedbackLocked()
	b.signalLocked()
	b.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, in := range b.inputs {
		wg.Go(func() { b.watch(ctx, in) })
	}
	if b.led != nil {
		wg.Go(func() { b.runLED(ctx) })
	}
	select {
	case <-ctx.Done():
	case <-b.haltCh:
		cancel()
	}
	b.stopWatchers(&wg)

	b.mu.Lock()
	b.running = false
	b.stopFeedbackTimerLocked()
	err := b.driveLocked(false)
	if b.led != nil {
		_ = b.led.Out(b.cfg.LED.level(false))
	}
	b.mu.Unlock()
	return err
}

// stopWatchers interrupts the watchers' WaitForEdge (periph's Halt does
// that for character-device lines) until they have all returned.
func (b *Board) stopWatchers(wg *sync.WaitGroup) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		for _, in := range b.inputs {
			_ = in.pin.Halt()
		}
		select {
		case <-done:
			return
		case <-t.C:
		}
	}
}

// watch follows one input: wait for an edge, act on the raw level if it
// is a safety input going active, then wait for the line to be quiet for
// the debounce time and act on the stable level.
func (b *Board) watch(ctx context.Context, in *input) {
	for ctx.Err() == nil {
		in.pin.WaitForEdge(b.resync)
		if ctx.Err() != nil {
			return
		}
		first := time.Now()
		b.onRaw(in, in.readActive())
		for in.pin.WaitForEdge(b.debounce) {
			if ctx.Err() != nil {
				return
			}
			b.onRaw(in, in.readActive())
		}
		if ctx.Err() != nil {
			return
		}
		b.onStable(in, in.readActive(), first)
	}
}

// onRaw is the fast path: a safety input reading active trips at once.
func (b *Board) onRaw(in *input, active bool) {
	if in.fault == nil || !active {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.running {
		b.tripLocked(in)
	}
}

// onStable records a debounced level and reacts to it.
func (b *Board) onStable(in *input, active bool, first time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.running {
		return
	}
	if active != in.level {
		in.level = active
		in.changedAt = first
	}
	switch {
	case in == b.fb:
		b.evalFeedbackLocked()
	case in.fault != nil && active:
		b.tripLocked(in)
	case in.kind != 0 && active != in.reported:
		in.reported = active
		b.log.Info("hal: input changed", "input", in.field, "pin", in.cfg.Name, "active", active)
		b.emitLocked(Event{Kind: in.kind, Active: active, Pin: in.cfg.Name})
	}
	b.signalLocked()
}

// SetLED selects the status LED pattern. A latched fault shows LEDFault
// whatever is selected; the selection returns when the fault is cleared.
// Without an LED pin it only records the choice.
func (b *Board) SetLED(p LEDPattern) {
	b.mu.Lock()
	b.ledPattern = p
	b.mu.Unlock()
	b.wakeLED()
}

func (b *Board) wakeLED() {
	select {
	case b.ledWake <- struct{}{}:
	default:
	}
}

func (b *Board) effectiveLED() LEDPattern {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fault != nil {
		return LEDFault
	}
	return b.ledPattern
}

// runLED plays the effective pattern until ctx ends.
func (b *Board) runLED(ctx context.Context) {
	for {
		steps := b.effectiveLED().steps()
		for i := 0; ; i = (i + 1) % len(steps) {
			_ = b.led.Out(b.cfg.LED.level(steps[i].on))
			t := time.NewTimer(steps[i].dur)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-b.ledWake:
				t.Stop()
			case <-t.C:
				continue
			}
			break
		}
	}
}
