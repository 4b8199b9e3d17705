package mfrc522_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/chargegate/chargegate/hal"
	"github.com/chargegate/chargegate/hal/mfrc522"
)

// field stands in for the chip and the cards in front of it: each ReadUID answers the next step
// of a script, and the fake clock advances by one poll per call, as the chip's wait would.
type field struct {
	mu     sync.Mutex
	steps  []step
	now    time.Time
	halted bool
	done   chan struct{}
}

type step struct {
	uid []byte
	err error
}

var errTimeout = errors.New("mfrc522: timeout waiting for IRQ edge: 100ms") // periph's text

func (f *field) ReadUID(timeout time.Duration) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(timeout)
	if len(f.steps) == 0 {
		select {
		case <-f.done:
		default:
			close(f.done)
		}
		return nil, errTimeout
	}
	s := f.steps[0]
	f.steps = f.steps[1:]
	return s.uid, s.err
}

func (f *field) Halt() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.halted = true
	return nil
}

func (f *field) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func repeat(n int, s step) []step {
	out := make([]step, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestReaderDeliversEachPresentationOnce(t *testing.T) {
	a, b := []byte{0x04, 0xA1, 0xB2, 0xC3}, []byte{0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66}
	var script []step
	script = append(script, repeat(5, step{uid: a})...)                          // held: one card
	script = append(script, repeat(2, step{err: errTimeout})...)                 // a flicker of 200 ms
	script = append(script, step{uid: a})                                        // still the same presentation
	script = append(script, repeat(12, step{err: errTimeout})...)                // taken away for 1.2 s
	script = append(script, step{uid: a}, step{uid: b})                          // tapped again, then another card
	script = append(script, repeat(3, step{err: errors.New("CRC mismatch")})...) // a card at the edge
	script = append(script, step{uid: []byte{1, 2, 3, 4, 5}})                    // within the hold: not reported again
	f := &field{steps: script, now: time.Unix(1_767_225_600, 0), done: make(chan struct{})}
	r := mfrc522.New(f, mfrc522.Options{Poll: 100 * time.Millisecond, Hold: time.Second, Now: f.clock})
	<-f.done
	if err := r.Halt(); err != nil {
		t.Fatal(err)
	}
	if !f.halted {
		t.Error("Halt did not power the chip down")
	}
	var got []hal.Card
	for c := range r.Cards() {
		got = append(got, c)
	}
	want := []string{"04A1B2C3", "04A1B2C3", "04112233445566", "error"}
	if len(got) != len(want) {
		t.Fatalf("got %d cards %v, want %v", len(got), got, want)
	}
	for i, c := range got {
		name := c.IDToken()
		if c.Err != nil {
			name = "error"
			if !errors.Is(c.Err, hal.ErrCardRead) {
				t.Errorf("card %d: error %v does not wrap hal.ErrCardRead", i, c.Err)
			}
		}
		if name != want[i] {
			t.Errorf("card %d = %s, want %s", i, name, want[i])
		}
	}
	if err := r.Halt(); err != nil {
		t.Errorf("second Halt: %v", err)
	}
}

// pins hands out gpiotest lines by name; unknown names fail as hal/periph's do.
type pins map[string]*gpiotest.Pin

func (p pins) Pin(name string) (gpio.PinIO, error) {
	if l, ok := p[name]; ok {
		return l, nil
	}
	return nil, fmt.Errorf("no line %q", name)
}

func TestOpenNamesWhatIsMissing(t *testing.T) {
	lines := pins{"GPIO25": {N: "GPIO25"}, "GPIO6": {N: "GPIO6"}}
	for _, c := range []struct {
		cfg  mfrc522.Config
		says string
	}{
		{mfrc522.Config{IRQ: "GPIO6"}, "reset and irq"},
		{mfrc522.Config{Reset: "GPIO99", IRQ: "GPIO6"}, "reset line"},
		{mfrc522.Config{Reset: "GPIO25", IRQ: "GPIO98"}, "irq line"},
		// No host drivers in a test: no SPI port is registered.
		{mfrc522.Config{SPI: "/dev/spidev9.9", Reset: "GPIO25", IRQ: "GPIO6"}, "open SPI port"},
	} {
		r, err := mfrc522.Open(c.cfg, lines, mfrc522.Options{})
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("Open(%+v) = %v, %v; want an error saying %q", c.cfg, r, err, c.says)
		}
	}
}
