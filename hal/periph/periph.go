package periph

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3"
	"periph.io/x/host/v3/gpioioctl"
)

// ErrNoPin means no GPIO character-device line has the requested name.
var ErrNoPin = errors.New("no gpio line with that name")

// ErrNotCharDev means the name resolves to a line that is not served by the
// GPIO character device (for example the deprecated sysfs interface); hal
// refuses it, because sysfs cannot set bias and loses edges.
var ErrNotCharDev = errors.New("gpio line is not a character-device line")

// Host supplies the host's GPIO lines through periph.io. It implements
// hal.Pins.
type Host struct {
	lookup func(name string) gpio.PinIO
}

// Open initialises periph's host drivers (host.Init; its gpioioctl driver
// opens /dev/gpiochip*, sysfs is never used for hal's lines) and returns the
// host's pins. It fails when no GPIO character device is present. host.Init
// keeps its state process-wide, so calling Open again is cheap.
func Open() (*Host, error) {
	if _, err := host.Init(); err != nil {
		return nil, fmt.Errorf("init periph host drivers: %w", err)
	}
	if len(gpioioctl.Chips) == 0 {
		return nil, errors.New("init periph host drivers: no GPIO character device (/dev/gpiochip*) found")
	}
	return &Host{lookup: gpioreg.ByName}, nil
}

// Pin implements hal.Pins: it returns the character-device line registered
// under name in gpioreg (on a Raspberry Pi "GPIO17" and so on; aliases are
// followed). It fails with ErrNoPin for an unknown name and ErrNotCharDev
// for a line served by another driver.
func (h *Host) Pin(name string) (gpio.PinIO, error) {
	p := h.lookup(name)
	if p == nil {
		return nil, fmt.Errorf("look up %q: %w (known: %s)", name, ErrNoPin, known())
	}
	real := p
	for {
		r, ok := real.(gpio.RealPin)
		if !ok {
			break
		}
		real = r.Real()
	}
	line, ok := real.(*gpioioctl.GPIOLine)
	if !ok {
		return nil, fmt.Errorf("look up %q: %w (it is %T)", name, ErrNotCharDev, real)
	}
	return &safeLine{GPIOLine: line}, nil
}

// known lists a few registered line names for error messages.
func known() string {
	all := gpioreg.All()
	if len(all) == 0 {
		return "none"
	}
	names := make([]string, 0, 8)
	for i, p := range all {
		if i == 8 {
			names = append(names, "...")
			break
		}
		names = append(names, p.Name())
	}
	return strings.Join(names, ", ")
}

// safeLine adapts a character-device line to what hal relies on:
//   - periph's contract says a negative WaitForEdge timeout waits forever,
//     but gpioioctl treats 0 as forever and a negative one as already
//     expired; safeLine maps a negative timeout to 0 so the contract holds
//     (hal itself only passes positive timeouts);
//   - gpioioctl's Read on an output line silently reconfigures it as an
//     input with a pull-up, which would let the relay coil float. safeLine
//     answers Read on an output with the level last driven instead.
type safeLine struct {
	*gpioioctl.GPIOLine

	mu     sync.Mutex
	output bool
	last   gpio.Level
}

// WaitForEdge implements gpio.PinIn with periph's timeout contract.
func (l *safeLine) WaitForEdge(timeout time.Duration) bool {
	if timeout < 0 {
		timeout = 0
	}
	return l.GPIOLine.WaitForEdge(timeout)
}

// Out implements gpio.PinOut and remembers the level for Read.
func (l *safeLine) Out(v gpio.Level) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.GPIOLine.Out(v); err != nil {
		return err
	}
	l.output, l.last = true, v
	return nil
}

// In implements gpio.PinIn.
func (l *safeLine) In(pull gpio.Pull, edge gpio.Edge) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.output = false
	return l.GPIOLine.In(pull, edge)
}

// Read implements gpio.PinIn without ever reconfiguring an output.
func (l *safeLine) Read() gpio.Level {
	l.mu.Lock()
	out, last := l.output, l.last
	l.mu.Unlock()
	if out {
		return last
	}
	return l.GPIOLine.Read()
}
