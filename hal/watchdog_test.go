package hal

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// notifySocket is a stand-in for systemd's notification socket.
func notifySocket(t *testing.T) (*net.UnixConn, string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "sdn") // short: socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, path
}

// recv returns the next datagram, or "" if none arrives within d.
func recv(t *testing.T, c *net.UnixConn, d time.Duration) string {
	t.Helper()
	buf := make([]byte, 256)
	if err := c.SetReadDeadline(time.Now().Add(d)); err != nil {
		t.Fatal(err)
	}
	n, err := c.Read(buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return ""
		}
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestWatchdogNotify(t *testing.T) {
	srv, path := notifySocket(t)
	w, err := NewWatchdog(WatchdogOptions{NotifySocket: path})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, step := range []struct {
		send func() error
		want string
	}{
		{w.Ready, "READY=1"},
		{func() error { return w.Status("charging\nsecond line dropped") }, "STATUS=charging"},
		{w.Stopping, "STOPPING=1"},
	} {
		if err := step.send(); err != nil {
			t.Fatal(err)
		}
		if got := recv(t, srv, 5*time.Second); got != step.want {
			t.Fatalf("got %q, want %q", got, step.want)
		}
	}
}

func TestWatchdogFedOnlyOnProgress(t *testing.T) {
	srv, path := notifySocket(t)
	const interval = 20 * time.Millisecond
	w, err := NewWatchdog(WatchdogOptions{NotifySocket: path, Interval: interval})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()

	// No progress: several intervals pass without a WATCHDOG=1.
	if got := recv(t, srv, 8*interval); got != "" {
		t.Fatalf("fed without progress: %q", got)
	}
	// One Progress buys exactly one feed.
	w.Progress()
	if got := recv(t, srv, 5*time.Second); got != "WATCHDOG=1" {
		t.Fatalf("after progress got %q, want WATCHDOG=1", got)
	}
	if got := recv(t, srv, 5*interval); got != "" {
		t.Fatalf("fed twice for one progress: %q", got)
	}
	// A loop that keeps making progress keeps it fed.
	stop := make(chan struct{})
	go func() {
		tick := time.NewTicker(interval / 4)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				w.Progress()
			}
		}
	}()
	for i := range 3 {
		if got := recv(t, srv, 5*time.Second); got != "WATCHDOG=1" {
			t.Fatalf("feed %d: got %q", i, got)
		}
	}
	close(stop)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestWatchdogDevice(t *testing.T) {
	dev := filepath.Join(t.TempDir(), "watchdog")
	if err := os.WriteFile(dev, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := NewWatchdog(WatchdogOptions{Device: dev, Interval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	deadline := time.After(5 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for fed := 0; fed < 2; {
		w.Progress()
		select {
		case <-deadline:
			t.Fatal("device never fed")
		case <-tick.C:
		}
		b, _ := os.ReadFile(dev)
		fed = strings.Count(string(b), "1")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	b, _ := os.ReadFile(dev)
	if !strings.HasSuffix(string(b), "V") {
		t.Fatalf("device content %q: no magic close", b)
	}
}

func TestWatchdogErrors(t *testing.T) {
	if _, err := NewWatchdog(WatchdogOptions{NotifySocket: filepath.Join(t.TempDir(), "absent")}); err == nil {
		t.Error("connected to a missing socket")
	}
	if _, err := NewWatchdog(WatchdogOptions{Device: filepath.Join(t.TempDir(), "absent")}); err == nil {
		t.Error("opened a missing device")
	}
	if _, err := NewWatchdog(WatchdogOptions{Interval: -1}); err == nil {
		t.Error("accepted a negative interval")
	}
	// The zero value does nothing and does not fail.
	w, err := NewWatchdog(WatchdogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Ready(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestEnvWatchdogOptions(t *testing.T) {
	me := strconv.Itoa(os.Getpid())
	cases := []struct {
		env     map[string]string
		want    WatchdogOptions
		wantErr bool
	}{
		{map[string]string{}, WatchdogOptions{}, false},
		{map[string]string{"NOTIFY_SOCKET": "@sd"}, WatchdogOptions{NotifySocket: "@sd"}, false},
		{map[string]string{"NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "10000000"}, WatchdogOptions{NotifySocket: "/run/n", Interval: 5 * time.Second}, false},
		{map[string]string{"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": me}, WatchdogOptions{Interval: 2 * time.Second}, false},
		{map[string]string{"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"}, WatchdogOptions{}, false},
		{map[string]string{"WATCHDOG_USEC": "soon"}, WatchdogOptions{}, true},
		{map[string]string{"WATCHDOG_USEC": "0"}, WatchdogOptions{}, true},
		{map[string]string{"WATCHDOG_USEC": "9227000000000000"}, WatchdogOptions{}, true}, // overflows time.Duration
	}
	for _, tc := range cases {
		got, err := EnvWatchdogOptions(func(k string) string { return tc.env[k] })
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("env %v: got %+v, %v; want %+v, error %t", tc.env, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestWatchdogAbstractSocket(t *testing.T) {
	name := "@chargegate-test-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	srv, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	w, err := NewWatchdog(WatchdogOptions{NotifySocket: name})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Ready(); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, srv, 5*time.Second); got != "READY=1" {
		t.Fatalf("got %q", got)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Stopping(); err != nil {
		t.Fatalf("notify after Close: %v, want a silent no-op", err)
	}
}

// FuzzEnvWatchdogOptions feeds arbitrary systemd environments: no panic,
// and an accepted WATCHDOG_USEC always yields a positive interval of half
// its value.
func FuzzEnvWatchdogOptions(f *testing.F) {
	f.Add("/run/systemd/notify", "30000000", "")
	f.Add("@abstract", "1", strconv.Itoa(os.Getpid()))
	f.Add("", "-5", "")
	f.Add("", "18446744073709551616", "")
	f.Fuzz(func(t *testing.T, socket, usec, pid string) {
		env := map[string]string{"NOTIFY_SOCKET": socket, "WATCHDOG_USEC": usec, "WATCHDOG_PID": pid}
		opts, err := EnvWatchdogOptions(func(k string) string { return env[k] })
		if opts.NotifySocket != socket {
			t.Fatalf("socket %q became %q", socket, opts.NotifySocket)
		}
		if err != nil || opts.Interval == 0 {
			return
		}
		n, perr := strconv.ParseUint(usec, 10, 63)
		if perr != nil || opts.Interval != time.Duration(n)*time.Microsecond/2 || opts.Interval <= 0 {
			t.Fatalf("usec %q gave interval %v", usec, opts.Interval)
		}
	})
}
