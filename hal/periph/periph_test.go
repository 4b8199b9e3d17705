package periph

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// These tests run without GPIO hardware: they cover name resolution and
// the refusal of lines that are not character-device lines.

func TestPinUnknownName(t *testing.T) {
	h := &Host{lookup: func(string) gpio.PinIO { return nil }}
	_, err := h.Pin("GPIO99")
	if !errors.Is(err, ErrNoPin) || !strings.Contains(err.Error(), `"GPIO99"`) {
		t.Fatalf("Pin(GPIO99) = %v, want ErrNoPin naming the pin", err)
	}
}

func TestPinRefusesOtherDrivers(t *testing.T) {
	// A gpiotest pin stands for any line not served by gpioioctl (sysfs,
	// a memory-mapped driver).
	h := &Host{lookup: func(string) gpio.PinIO { return &gpiotest.Pin{N: "GPIO17"} }}
	_, err := h.Pin("GPIO17")
	if !errors.Is(err, ErrNotCharDev) || !strings.Contains(err.Error(), "gpiotest.Pin") {
		t.Fatalf("Pin(GPIO17) = %v, want ErrNotCharDev naming the type", err)
	}
}

func TestOpenWithoutHardware(t *testing.T) {
	if chips, _ := filepath.Glob("/dev/gpiochip*"); len(chips) > 0 {
		h, err := Open()
		if err != nil {
			t.Fatalf("open with %v present: %v", chips, err)
		}
		if _, err := h.Pin("no-such-line"); !errors.Is(err, ErrNoPin) {
			t.Fatalf("Pin(no-such-line) = %v, want ErrNoPin", err)
		}
		return
	}
	_, err := Open()
	if err == nil || !strings.Contains(err.Error(), "/dev/gpiochip") {
		t.Fatalf("Open() without GPIO chips = %v, want an error naming /dev/gpiochip", err)
	}
	if _, statErr := os.Stat("/sys/class/gpio"); statErr == nil {
		t.Log("sysfs GPIO present but unused, as intended")
	}
}
