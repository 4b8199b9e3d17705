package ota_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chargegate/chargegate/ota"
	"github.com/chargegate/chargegate/ota/bundle"
	"github.com/chargegate/chargegate/ota/durable"
	"github.com/chargegate/chargegate/ota/durable/crashfs"
	"github.com/chargegate/chargegate/ota/slot"
	"github.com/chargegate/chargegate/ota/slot/fakefw"
)

// testKey is a fixed release key so that bundles are reproducible.
func testKey(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("chargegate ota test key " + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

func trusted(keys ...ed25519.PrivateKey) map[string]ed25519.PublicKey {
	m := map[string]ed25519.PublicKey{}
	for _, k := range keys {
		pub := k.Public().(ed25519.PublicKey)
		m[bundle.KeyID(pub)] = pub
	}
	return m
}

// payload returns deterministic bytes standing for a rootfs image of a version.
func payload(version string, size int) []byte {
	b := make([]byte, size)
	seed := sha256.Sum256([]byte(version))
	for i := 0; i < size; i += len(seed) {
		copy(b[i:], seed[:])
		seed = sha256.Sum256(seed[:])
	}
	return b
}

type bundleSpec struct {
	version    string
	secVersion uint64
	compatible []string
	size       int
	chunk      int64
	typ        string
	keys       []ed25519.PrivateKey
}

func makeBundle(t testing.TB, s bundleSpec) ([]byte, bundle.Manifest) {
	t.Helper()
	if s.compatible == nil {
		s.compatible = []string{"rpi4", "rpi5"}
	}
	if s.chunk == 0 {
		s.chunk = 1024
	}
	if s.typ == "" {
		s.typ = bundle.TypeRootfs
	}
	if s.keys == nil {
		s.keys = []ed25519.PrivateKey{testKey("release")}
	}
	var buf bytes.Buffer
	m, err := bundle.Create(&buf, bundle.Meta{Version: s.version, SecurityVersion: s.secVersion, Compatible: s.compatible},
		[]bundle.Input{{Name: s.typ, Type: s.typ, Data: bytes.NewReader(payload(s.version, s.size))}}, s.chunk, s.keys)
	if err != nil {
		t.Fatalf("create bundle: %v", err)
	}
	return buf.Bytes(), m
}

// serve serves b with http.ServeContent (Range, If-Range, ETag) unless a handler wraps it.
func serve(t testing.TB, b []byte, wrap func(http.Handler) http.Handler) *httptest.Server {
	t.Helper()
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		http.ServeContent(w, r, "update.bundle", time.Unix(0, 0), bytes.NewReader(b))
	})
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// charging stands for the gateway's control loop, the other side of ota.Inhibitor: one
// mutex makes "start a session unless held" and "hold unless a session runs" atomic, as
// the control loop's single goroutine does.
type charging struct {
	mu      sync.Mutex
	session bool
	held    int
	holds   atomic.Int64 // holds granted
	busy    atomic.Int64 // holds refused for a session
}

var errHeld = errors.New("sessions refused: an update is being activated")

func (c *charging) Hold(context.Context) (func(), error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.session {
		c.busy.Add(1)
		return nil, fmt.Errorf("hold: %w", ota.ErrCharging)
	}
	c.held++
	c.holds.Add(1)
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			c.held--
			c.mu.Unlock()
		})
	}, nil
}

// start starts a session unless the agent holds the inhibitor.
func (c *charging) start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held > 0 {
		return errHeld
	}
	c.session = true
	return nil
}

// set forces the session state (a session that was running before the agent started).
func (c *charging) set(on bool) {
	c.mu.Lock()
	c.session = on
	c.mu.Unlock()
}

// restart is a new process: holds of the previous one are gone (the agent keeps its hold
// through a successful switch, as the process is going down).
func (c *charging) restart() {
	c.mu.Lock()
	c.held = 0
	c.mu.Unlock()
}

// state reports whether a session runs and whether a hold is taken.
func (c *charging) state() (session bool, held bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session, c.held > 0
}

// device is a Raspberry Pi in memory: crashfs for the SD card, the fake firmware, the
// tryboot backend, slot A holding version 1.0.0.
type device struct {
	t        testing.TB
	fs       *crashfs.FS
	fw       *fakefw.Firmware
	slots    *slot.Tryboot
	inhibit  *charging
	health   func(context.Context) error
	payloads map[string][]byte // sha256 of valid slot contents → version
	modify   func(*ota.Config)
	request  string // update to request once the agent can take it
	// keepUnsynced: a power cut keeps everything written before it (default: loses all
	// that was not synced).
	keepUnsynced bool
	secondCut    int // after the first power cut, cut again at this operation
	lastURL      string
	commits      atomic.Int64 // OnCommit calls, over all boots

	mu     sync.Mutex
	cancel context.CancelFunc
}

const (
	autobootPath = "/boot/autoboot.txt"
	stateDir     = "/data/ota"
	oldVersion   = "1.0.0"
	slotSize     = 3000
)

func newDevice(t testing.TB) *device {
	t.Helper()
	fs := crashfs.New()
	d := &device{t: t, fs: fs, inhibit: &charging{}, health: func(context.Context) error { return nil }, payloads: map[string][]byte{}}
	d.fw = &fakefw.Firmware{FS: fs, Autoboot: autobootPath, BootloaderDir: filepath.Join(t.TempDir(), "chosen", "bootloader")}
	d.fw.OnReboot = func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.cancel != nil {
			d.cancel()
		}
	}
	d.slots = &slot.Tryboot{
		FS: fs, Autoboot: autobootPath, BootloaderDir: d.fw.BootloaderDir, Reboot: d.fw.Reboot,
		Slots: [2]slot.Partition{{Name: "A", Number: 2, TargetDir: "/slots/a"}, {Name: "B", Number: 3, TargetDir: "/slots/b"}},
	}
	for _, dir := range []string{"/boot", "/slots/a", "/slots/b", stateDir} {
		must(t, fs.MkdirAll(dir, 0o755))
	}
	must(t, durable.WriteFile(fs, autobootPath, slot.FormatAutoboot(2, 3), 0o644))
	old := payload(oldVersion, slotSize)
	must(t, durable.WriteFile(fs, "/slots/a/rootfs", old, 0o644))
	d.valid(old)
	fs.Reboot()
	return d
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// valid records b as a payload that came from a verified bundle.
func (d *device) valid(b []byte) {
	sum := sha256.Sum256(b)
	d.payloads[string(sum[:])] = b
}

func (d *device) config() ota.Config {
	cfg := ota.Config{
		StateDir: stateDir, Slots: d.slots, TrustedKeys: trusted(testKey("release")), Hardware: "rpi4",
		Version: oldVersion, HealthCheck: func(ctx context.Context) error { return d.health(ctx) },
		HealthDeadline: 2 * time.Second, FS: d.fs, StallTimeout: 2 * time.Second,
		RetryDelay: time.Millisecond, MaxAttempts: 5, PollInterval: time.Millisecond,
		OnCommit: func(string, uint64) { d.commits.Add(1) },
	}
	if d.modify != nil {
		d.modify(&cfg)
	}
	return cfg
}

// boot runs the fake firmware and checks that the started slot holds a verified payload.
func (d *device) boot() (name string, trial bool) {
	d.t.Helper()
	part, trial, err := d.fw.Boot()
	if err != nil {
		d.t.Fatalf("boot: %v (files %v)", err, d.fs.Names())
	}
	d.inhibit.restart()
	name = map[int]string{2: "A", 3: "B"}[part]
	b, err := durable.ReadFile(d.fs, "/slots/"+map[string]string{"A": "a", "B": "b"}[name]+"/rootfs")
	if err != nil {
		d.t.Fatalf("boot slot %s: %v", name, err)
	}
	sum := sha256.Sum256(b)
	if _, ok := d.payloads[string(sum[:])]; !ok {
		d.t.Fatalf("booted slot %s (trial %v) holds %d bytes that match no verified bundle", name, trial, len(b))
	}
	return name, trial
}

// lifeEnd says how one boot of the device ended.
type lifeEnd int

const (
	settled  lifeEnd = iota // the agent reached a final state and stays there
	rebooted                // the agent asked for a reboot
	powerCut                // the filesystem lost power
)

// life boots the device, starts the agent (asking for url if it is set) and waits until
// the agent settles, reboots or loses power. It then shuts the agent down.
func (d *device) life(url string) (lifeEnd, ota.Status) {
	d.t.Helper()
	if url != d.lastURL {
		d.request, d.lastURL = url, url
	}
	booted, trial := d.boot()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d.mu.Lock()
	d.cancel = cancel
	d.mu.Unlock()
	reboots := d.fw.RebootRequests()
	a, err := ota.New(d.config(), d.inhibit)
	if err != nil {
		d.t.Fatalf("new agent: %v", err)
	}
	done := make(chan error, 1)
	if d.request != "" && !trial {
		switch err := a.Update(ctx, d.request); {
		case err == nil, errors.Is(err, ota.ErrBusy):
			d.request = "" // persisted (or an earlier request was)
		case !isPowerCut(d.fs):
			d.t.Fatalf("update: %v", err)
		}
	}
	go func() { done <- a.Run(ctx) }()
	deadline := time.After(20 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	end := settled
wait:
	for {
		select {
		case <-d.fs.Cut():
			end = powerCut
			break wait
		case <-ctx.Done():
			if d.fw.RebootRequests() > reboots {
				end = rebooted
				break wait
			}
		case err := <-done:
			if isPowerCut(d.fs) {
				end = powerCut
			} else if d.fw.RebootRequests() > reboots {
				end = rebooted
			} else {
				d.t.Fatalf("agent stopped on its own (booted %s, trial %v): %v", booted, trial, err)
			}
			done <- err
			break wait
		case <-tick.C:
			s := a.Status()
			if isFinal(s.State) && !s.Activating && !(trial && s.State == ota.StateRolledBack) {
				break wait
			}
		case <-deadline:
			d.t.Fatalf("agent did not settle (booted %s, trial %v): %+v", booted, trial, a.Status())
		}
	}
	cancel()
	<-done
	s := a.Status()
	switch end {
	case powerCut:
		d.fw.PowerCut()
		if d.keepUnsynced {
			d.fs.PowerCycleKeeping()
		} else {
			d.fs.PowerCycle()
		}
		if d.secondCut > 0 { // cut again, this time during the recovery
			d.fs.CutAt(d.secondCut)
			d.secondCut = 0
		}
	default:
		d.fs.Reboot()
	}
	return end, s
}

func isPowerCut(fs *crashfs.FS) bool {
	select {
	case <-fs.Cut():
		return true
	default:
		return false
	}
}

func isFinal(s ota.State) bool {
	return s == ota.StateCommitted || s == ota.StateRolledBack || s == ota.StateFailed
}

// runToEnd lives until the agent settles (at most max boots) and returns the final status
// and the slot that then boots.
func (d *device) runToEnd(url string, maxBoots int) (ota.Status, string) {
	d.t.Helper()
	for range maxBoots {
		end, s := d.life(url)
		if end == settled {
			name, _ := d.boot()
			return s, name
		}
	}
	d.t.Fatalf("no final state after %d boots", maxBoots)
	return ota.Status{}, ""
}

// start boots the device and runs a fresh agent in the background until the test ends or
// the agent asks for a reboot; done receives what Run returns.
func (d *device) start(t testing.TB) (a *ota.Agent, ctx context.Context, done <-chan error) {
	t.Helper()
	d.boot()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	d.mu.Lock()
	d.cancel = cancel
	d.mu.Unlock()
	a, err := ota.New(d.config(), d.inhibit)
	must(t, err)
	ch := make(chan error, 1)
	go func() { ch <- a.Run(ctx) }()
	return a, ctx, ch
}
