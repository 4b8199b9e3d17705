// Package fakefw is a fake Raspberry Pi boot firmware for tests: it implements the tryboot
// rules over a crashfs filesystem (autoboot.txt, slot targets) and writes the fake
// /proc/device-tree/chosen/bootloader tree that slot.Tryboot reads.
//
// Like the real firmware, it clears the tryboot flag before it starts the trial partition,
// so only one boot is a trial; a power cut also clears the flag (it lives in a power
// management register on the Pi 4 rev 1.2+ and Pi 5), unless FlagSurvivesPowerCut is set
// (Pi 4 rev 1.0/1.1 keep it in EEPROM).
package fakefw

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/chargegate/chargegate/ota/durable"
	"github.com/chargegate/chargegate/ota/slot"
)

// Firmware is the fake firmware.
type Firmware struct {
	FS            durable.FS
	Autoboot      string
	BootloaderDir string // a real directory: the fake /proc/device-tree/chosen/bootloader
	// FlagSurvivesPowerCut keeps a requested tryboot across a power cut.
	FlagSurvivesPowerCut bool
	// OnReboot, if set, runs when the system asks to reboot (the test stops the agent).
	OnReboot func()

	mu       sync.Mutex
	tryboot  bool
	requests int
	boots    int
}

// Reboot is the system's reboot command: arg "0 tryboot" requests a one-shot tryboot.
func (f *Firmware) Reboot(_ context.Context, arg string) error {
	f.mu.Lock()
	f.tryboot = arg == "0 tryboot"
	f.requests++
	cb := f.OnReboot
	f.mu.Unlock()
	if cb != nil {
		cb()
	}
	return nil
}

// RebootRequests counts calls of Reboot.
func (f *Firmware) RebootRequests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

// PowerCut forgets a requested tryboot unless the flag survives power cuts.
func (f *Firmware) PowerCut() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.FlagSurvivesPowerCut {
		f.tryboot = false
	}
}

// Boot starts the system: it reads autoboot.txt, picks the partition, clears the tryboot
// flag and writes the bootloader properties. It fails where the real firmware would not
// find a partition to boot.
func (f *Firmware) Boot() (partition int, trial bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := durable.ReadFile(f.FS, f.Autoboot)
	if err != nil {
		return 0, false, fmt.Errorf("firmware: read autoboot.txt: %w", err)
	}
	a, err := slot.ParseAutoboot(b)
	if err != nil {
		return 0, false, fmt.Errorf("firmware: %w", err)
	}
	partition, trial = a.Default, false
	if f.tryboot && a.TrybootAB && a.Tryboot != 0 {
		partition, trial = a.Tryboot, true
	}
	f.tryboot = false // one-shot: cleared before the partition starts
	f.boots++
	if err := os.MkdirAll(f.BootloaderDir, 0o755); err != nil {
		return 0, false, err
	}
	if err := writeU32(filepath.Join(f.BootloaderDir, "partition"), uint32(partition)); err != nil {
		return 0, false, err
	}
	t := uint32(0)
	if trial {
		t = 1
	}
	if err := writeU32(filepath.Join(f.BootloaderDir, "tryboot"), t); err != nil {
		return 0, false, err
	}
	return partition, trial, nil
}

// Boots counts calls of Boot.
func (f *Firmware) Boots() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.boots
}

func writeU32(path string, v uint32) error {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return os.WriteFile(path, b[:], 0o644)
}
