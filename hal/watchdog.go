package hal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultDeviceInterval is the feed period for a /dev/watchdog device when
// systemd gives none; hardware watchdogs on Raspberry Pi boards time out
// after at most 15 s.
const DefaultDeviceInterval = 5 * time.Second

// notifyTimeout bounds each datagram to systemd.
const notifyTimeout = time.Second

// WatchdogOptions configure a Watchdog. The zero value is a watchdog that
// does nothing; EnvWatchdogOptions fills it from systemd's environment.
type WatchdogOptions struct {
	// NotifySocket is systemd's notification socket ($NOTIFY_SOCKET): a
	// path, or an abstract name starting with "@". Empty disables sd_notify.
	NotifySocket string
	// Interval is the feed period. systemd kills the service when no
	// WATCHDOG=1 arrives within WatchdogSec; feed at half of it
	// (EnvWatchdogOptions does). Zero disables feeding over sd_notify and
	// uses DefaultDeviceInterval for the device.
	Interval time.Duration
	// Device is a watchdog device such as /dev/watchdog (empty: none).
	// Opening it arms the hardware timer; a clean Run exit disarms it
	// with the magic close ("V").
	Device string
	// Logger receives stalls and send failures (nil: discarded).
	Logger *slog.Logger
}

// EnvWatchdogOptions reads systemd's NOTIFY_SOCKET, WATCHDOG_USEC and
// WATCHDOG_PID through getenv (os.Getenv in production). The interval is
// half of WATCHDOG_USEC; a WATCHDOG_PID naming another process disables it,
// as sd_watchdog_enabled(3) does.
func EnvWatchdogOptions(getenv func(string) string) (WatchdogOptions, error) {
	opts := WatchdogOptions{NotifySocket: getenv("NOTIFY_SOCKET")}
	usec := getenv("WATCHDOG_USEC")
	if usec == "" {
		return opts, nil
	}
	n, err := strconv.ParseUint(usec, 10, 63)
	if err != nil || n == 0 || n > uint64(math.MaxInt64/int64(time.Microsecond)) {
		return opts, fmt.Errorf("parse WATCHDOG_USEC %q: not a positive number of microseconds that fits a time.Duration", usec)
	}
	if pid := getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return opts, nil
	}
	opts.Interval = time.Duration(n) * time.Microsecond / 2
	return opts, nil
}

// Watchdog tells systemd (and optionally a hardware watchdog) that the
// gateway is alive — but only while its control loop makes progress: Run
// feeds at each interval only if Progress was called since the last feed.
// A hung loop therefore stops the feeding and gets the service restarted
// (or the board reset), where a free-running timer would hide it.
type Watchdog struct {
	opts     WatchdogOptions
	log      *slog.Logger
	conn     *net.UnixConn
	dev      io.WriteCloser
	progress atomic.Bool
	mu       sync.Mutex // serialises writes to conn
	stalled  bool
}

// NewWatchdog connects to the notification socket and opens the device, as
// configured. Without either it returns a Watchdog whose methods do nothing.
func NewWatchdog(opts WatchdogOptions) (*Watchdog, error) {
	w := &Watchdog{opts: opts, log: opts.Logger}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	if opts.Interval < 0 {
		return nil, fmt.Errorf("new watchdog: interval %v is negative", opts.Interval)
	}
	if opts.NotifySocket != "" {
		c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: opts.NotifySocket, Net: "unixgram"})
		if err != nil {
			return nil, fmt.Errorf("new watchdog: connect to notify socket %s: %w", opts.NotifySocket, err)
		}
		w.conn = c
	}
	if opts.Device != "" {
		f, err := os.OpenFile(opts.Device, os.O_WRONLY, 0)
		if err != nil {
			if w.conn != nil {
				_ = w.conn.Close()
			}
			return nil, fmt.Errorf("new watchdog: open %s: %w", opts.Device, err)
		}
		w.dev = f
	}
	return w, nil
}

// Ready tells systemd that start-up finished (READY=1; Type=notify units).
func (w *Watchdog) Ready() error { return w.notify("READY=1") }

// Stopping tells systemd that the service is shutting down (STOPPING=1).
func (w *Watchdog) Stopping() error { return w.notify("STOPPING=1") }

// Status sets the one-line status systemctl shows (STATUS=...).
func (w *Watchdog) Status(s string) error {
	for i := range len(s) {
		if s[i] == '\n' {
			s = s[:i]
			break
		}
	}
	return w.notify("STATUS=" + s)
}

// Progress records that the control loop completed an iteration. It is
// cheap and safe from any goroutine.
func (w *Watchdog) Progress() { w.progress.Store(true) }

// Run feeds the watchdog every interval if Progress was called since the
// previous feed, until ctx ends; then it disarms the device with the magic
// close. It returns nil on cancellation and an error
// if the device cannot be fed (the board will then reset).
func (w *Watchdog) Run(ctx context.Context) error {
	defer w.close()
	interval := w.opts.Interval
	if interval == 0 {
		if w.dev == nil {
			<-ctx.Done()
			return nil
		}
		interval = DefaultDeviceInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if !w.progress.Swap(false) {
			if !w.stalled {
				w.stalled = true
				w.log.Warn("hal: watchdog not fed: no progress from the control loop", "interval", interval)
			}
			continue
		}
		if w.stalled {
			w.stalled = false
			w.log.Info("hal: control loop progressing again; feeding the watchdog")
		}
		if err := w.feed(); err != nil {
			return err
		}
	}
}

// feed sends WATCHDOG=1 (when systemd asked for it) and kicks the device.
func (w *Watchdog) feed() error {
	if w.opts.Interval > 0 {
		if err := w.notify("WATCHDOG=1"); err != nil {
			w.log.Warn("hal: sd_notify WATCHDOG=1 failed", "err", err)
		}
	}
	if w.dev != nil {
		if _, err := w.dev.Write([]byte{'1'}); err != nil {
			return fmt.Errorf("feed watchdog device %s: %w", w.opts.Device, err)
		}
	}
	return nil
}

// notify sends one sd_notify datagram; without a socket it does nothing.
func (w *Watchdog) notify(msg string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conn == nil {
		return nil
	}
	if err := w.conn.SetWriteDeadline(time.Now().Add(notifyTimeout)); err != nil {
		return fmt.Errorf("sd_notify %s: %w", msg, err)
	}
	if _, err := w.conn.Write([]byte(msg)); err != nil {
		return fmt.Errorf("sd_notify %s: %w", msg, err)
	}
	return nil
}

// Close closes the notification socket; call it after Stopping. It does
// not touch the device, which Run disarms when it returns.
func (w *Watchdog) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conn == nil {
		return nil
	}
	err := w.conn.Close()
	w.conn = nil
	return err
}

// close disarms the device with the magic close: writing "V" before
// closing tells the kernel driver this is a deliberate stop (unless the
// kernel was built with nowayout). A crashed process closes without "V"
// and the board resets.
func (w *Watchdog) close() {
	var errs []error
	if w.dev != nil {
		if _, err := w.dev.Write([]byte{'V'}); err != nil {
			errs = append(errs, err)
		}
		errs = append(errs, w.dev.Close())
		w.dev = nil
	}
	if err := errors.Join(errs...); err != nil {
		w.log.Warn("hal: close watchdog device", "err", err)
	}
}
