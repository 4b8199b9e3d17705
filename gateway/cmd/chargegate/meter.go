package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/chargegate/chargegate/meter"
)

// meterJSON is one line of `chargegate meter read --json`.
type meterJSON struct {
	Time            string    `json:"time"`
	Model           string    `json:"model"`
	Serial          string    `json:"serial"`
	Firmware        string    `json:"firmware,omitempty"`
	EnergyImportMWh int64     `json:"energy_import_mwh"`
	EnergyExportMWh int64     `json:"energy_export_mwh"`
	PowerW          float64   `json:"power_w"`
	PhasePowerW     []float64 `json:"phase_power_w"`
	VoltageV        []float64 `json:"voltage_v"`
	CurrentA        []float64 `json:"current_a"`
	FrequencyHz     float64   `json:"frequency_hz"`
	Status          string    `json:"status"`
	SignedRecord    string    `json:"signed_record,omitempty"`
}

// cmdMeter implements `chargegate meter read --url URL [--unit N] [--model NAME] [--json]
// [--count N] [--interval D] [--timeout D] [--retries N]`.
func cmdMeter(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "read" {
		fmt.Fprintln(stderr, "usage: chargegate meter read --url URL [--unit N] [--model NAME] [--json] [--count N] [--interval D]")
		return 2
	}
	fs := newFlagSet("meter read", "meter read --url URL [--unit N] [--model NAME] [--json] [--count N] [--interval D]", stderr)
	rawURL := fs.String("url", "", "tcp://host:port, rtu:///dev/ttyX?baud=9600&parity=none&stop=1 or rtuovertcp://host:port")
	unit := fs.Uint("unit", 0, "Modbus unit ID (default 1, or the model's default)")
	model := fs.String("model", "auto", "meter model: "+strings.Join(meter.ModelNames(), ", "))
	asJSON := fs.Bool("json", false, "print one JSON object per reading")
	count := fs.Int("count", 1, "number of readings")
	interval := fs.Duration("interval", time.Second, "time between readings")
	timeout := fs.Duration("timeout", time.Second, "per-request timeout")
	retries := fs.Int("retries", 1, "retries after a timeout or framing error (0 = none)")
	level := fs.logLevel("warn")
	if code, ok := fs.parse(args[1:], 0); !ok {
		return code
	}
	lvl, err := level()
	if err != nil {
		fmt.Fprintln(stderr, "chargegate meter read:", err)
		return 2
	}
	if *rawURL == "" {
		fmt.Fprintln(stderr, "chargegate meter read: --url is required")
		return 2
	}
	if *unit > 247 || *count < 1 || *interval < 0 {
		fmt.Fprintln(stderr, "chargegate meter read: --unit must be 1..247, --count at least 1, --interval not negative")
		return 2
	}
	r := *retries
	if r == 0 {
		r = -1 // Config: negative means none
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	m, err := meter.Open(ctx, meter.Config{URL: *rawURL, Unit: uint8(*unit), Model: *model, Timeout: *timeout, Retries: r, Logger: logger})
	if err != nil {
		fmt.Fprintln(stderr, "chargegate meter read:", describeMeterErr(err))
		return 1
	}
	defer m.Close()

	start := time.Now()
	var ok, failed int
	var lastErr error
	for i := range *count {
		if i > 0 {
			select {
			case <-ctx.Done():
				lastErr = ctx.Err()
			case <-time.After(*interval):
			}
			if ctx.Err() != nil {
				break
			}
		}
		rd, err := m.Read(ctx)
		if err != nil {
			failed++
			lastErr = err
			fmt.Fprintln(stderr, "chargegate meter read:", describeMeterErr(err))
			continue
		}
		ok++
		if *asJSON {
			line := meterJSON{
				Time: rd.Time.UTC().Format(time.RFC3339Nano), Model: rd.Model, Serial: rd.Serial, Firmware: rd.Firmware,
				EnergyImportMWh: rd.ImportMWh, EnergyExportMWh: rd.ExportMWh, PowerW: rd.PowerW,
				PhasePowerW: nonNil(rd.PhasePowerW), VoltageV: nonNil(rd.VoltageV), CurrentA: nonNil(rd.CurrentA),
				FrequencyHz: rd.FrequencyHz, Status: string(rd.Status), SignedRecord: string(rd.SignedRecord),
			}
			b, err := json.Marshal(line)
			if err != nil {
				fmt.Fprintln(stderr, "chargegate meter read: encode:", err)
				return 1
			}
			fmt.Fprintf(stdout, "%s\n", b)
		} else {
			fmt.Fprintln(stdout, rd.String())
		}
	}
	if *count > 1 {
		el := time.Since(start).Seconds()
		fmt.Fprintf(stderr, "%d polls in %.2fs: %.1f polls/s, %d ok, %d errors\n", ok+failed, el, float64(ok+failed)/el, ok, failed)
	}
	if failed > 0 || lastErr != nil {
		return 1
	}
	return 0
}

func nonNil(v []float64) []float64 {
	if v == nil {
		return []float64{}
	}
	return v
}

// describeMeterErr puts what failed first: the operator-visible one-line error.
func describeMeterErr(err error) string {
	var ex *meter.ExceptionError
	var rep *meter.ReplacementError
	switch {
	case errors.As(err, &ex):
		return fmt.Sprintf("exception code %d: %v", ex.Code, err)
	case errors.Is(err, meter.ErrTimeout):
		return "timeout: " + err.Error()
	case errors.Is(err, meter.ErrConnect):
		return "connection: " + err.Error()
	case errors.Is(err, meter.ErrUnknownModel):
		return "unknown model: " + err.Error()
	case errors.Is(err, meter.ErrFrame):
		return "framing: " + err.Error()
	case errors.Is(err, meter.ErrImplausible):
		return "implausible: " + err.Error()
	case errors.As(err, &rep):
		return "meter replaced: " + err.Error()
	}
	return err.Error()
}
