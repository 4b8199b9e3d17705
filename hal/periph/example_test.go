package periph_test

import (
	"context"
	"log/slog"
	"os"

	"github.com/chargegate/chargegate/hal"
	"github.com/chargegate/chargegate/hal/periph"
)

// Opening the real board on a Raspberry Pi; pin names are the GPIO
// character device's line names. (Not run: it needs GPIO hardware.)
func Example() {
	host, err := periph.Open()
	if err != nil {
		slog.Error("no gpio", "err", err)
		return
	}
	cfg := hal.Config{
		Relay:    hal.Pin{Name: "GPIO17"},
		Feedback: &hal.Pin{Name: "GPIO27"},
		EStop:    &hal.Pin{Name: "GPIO22"},
		RCD:      &hal.Pin{Name: "GPIO23"},
		Lid:      &hal.Pin{Name: "GPIO24"},
		LED:      &hal.Pin{Name: "GPIO5"},
	}
	board, err := hal.Open(cfg, host, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		slog.Error("open board", "err", err)
		return
	}
	defer board.Halt()
	_ = board.Run(context.Background())
}
