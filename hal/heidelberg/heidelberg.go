package heidelberg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/simonvetter/modbus"
	"periph.io/x/conn/v3/physic"

	"github.com/chargegate/chargegate/hal"
)

// Register map of the Heidelberg Energy Control (doc.go has the table and
// its sources). Input registers are read with FC04, holding registers with
// FC03 and written with FC16.
const (
	RegLayoutVersion   uint16 = 4   // input: register layout version (e.g. 0x0108)
	RegChargingState   uint16 = 5   // input: charging state, see ChargingState
	RegCurrentL1       uint16 = 6   // input: 6, 7, 8: RMS current per phase, 0.1 A
	RegPower           uint16 = 14  // input: power L1+L2+L3, VA
	RegHWMaxCurrent    uint16 = 100 // input: maximum current set by the rotary switch, A
	RegHWMinCurrent    uint16 = 101 // input: minimum current, A
	RegWatchdog        uint16 = 257 // holding: watchdog timeout, ms; 0 switches it off
	RegStandby         uint16 = 258 // holding: standby function, 0 enabled, 4 disabled
	RegRemoteLock      uint16 = 259 // holding: 0 locked, 1 unlocked
	RegMaxCurrent      uint16 = 261 // holding: current limit, 0.1 A: 0, or 60 … 160
	RegFailsafeCurrent uint16 = 262 // holding: limit after a watchdog timeout, 0.1 A
)

// StandbyDisabled is RegStandby's value that keeps the box awake: in
// standby it stops answering on the bus.
const StandbyDisabled = 4

// ChargingState is register 5.
type ChargingState uint16

// Values of ChargingState: IEC 61851-1 states, x1 = the box does not allow
// charging, x2 = it does.
const (
	StateA1       ChargingState = 2
	StateA2       ChargingState = 3
	StateB1       ChargingState = 4
	StateB2       ChargingState = 5
	StateC1       ChargingState = 6
	StateC2       ChargingState = 7
	StateDerating ChargingState = 8 // charging, current reduced for temperature
	StateE        ChargingState = 9
	StateF        ChargingState = 10 // locked or not ready
	StateError    ChargingState = 11
)

// Errors callers branch on with errors.Is.
var (
	// ErrDeviceError: the box reports its error state (11).
	ErrDeviceError = errors.New("wallbox reports an error (charging state 11)")
	// ErrPilotError: the box reports state E (a control-pilot error).
	ErrPilotError = errors.New("wallbox reports a control-pilot error (state E)")
	// ErrLocked: the box is locked (state F: remote lock or not ready).
	ErrLocked = errors.New("wallbox locked or not ready (state F)")
	// ErrUnknownState: register 5 holds a value the register table does not define.
	ErrUnknownState = errors.New("unknown charging state")
	// ErrTimeout: the box did not answer within Config.Timeout, retries included.
	ErrTimeout = errors.New("wallbox did not answer")
)

// Config says where the box is and how to set it up.
type Config struct {
	// URL is the link: rtu:///dev/ttyUSB0 (the box speaks Modbus RTU on
	// RS-485; ?baud=19200&parity=even&stop=1 are the defaults), tcp://host:502
	// (an RTU-to-TCP gateway, or the simulator) or rtuovertcp://host:port.
	URL string
	// Unit is the box's Modbus address, set with its DIP switches (default 1).
	Unit uint8
	// Timeout bounds each request (default 1 s).
	Timeout time.Duration
	// Retries is the number of extra attempts after a timeout or a broken
	// link (0: the default, 2; negative: none), with backoff/v5's jittered
	// exponential backoff.
	Retries int
	// Watchdog, when not 0, is written to register 257: without a request
	// for that long the box falls back to Failsafe. The gateway must then
	// call State more often than that.
	Watchdog time.Duration
	// Failsafe is written to register 262 with Watchdog: the current after a
	// watchdog timeout (0, or 6 A up to the hardware maximum).
	Failsafe physic.ElectricCurrent
	// KeepStandby leaves the box's standby function enabled (by default it
	// is disabled: a sleeping box does not answer).
	KeepStandby bool
}

// Controller is one Heidelberg Energy Control on a Modbus link. It
// implements hal.CurrentControl. Methods are safe for concurrent use; they
// are serialised on the link.
type Controller struct {
	cfg    Config
	log    *slog.Logger
	min    physic.ElectricCurrent
	max    physic.ElectricCurrent
	layout uint16

	mu     sync.Mutex
	client *modbus.ModbusClient
	open   bool
}

// Open connects to the box, reads its register-layout version and current
// range, and writes the standby, watchdog and fail-safe settings. logger may
// be nil.
func Open(ctx context.Context, cfg Config, logger *slog.Logger) (*Controller, error) {
	if cfg.Unit == 0 {
		cfg.Unit = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Second
	}
	if cfg.Retries < 0 {
		cfg.Retries = 0
	} else if cfg.Retries == 0 {
		cfg.Retries = 2
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	conf, err := clientConfig(cfg)
	if err != nil {
		return nil, err
	}
	mc, err := modbus.NewClient(conf)
	if err != nil {
		return nil, fmt.Errorf("configure modbus client for %s: %w", cfg.URL, err)
	}
	c := &Controller{cfg: cfg, log: logger, client: mc}
	regs, err := c.read(ctx, modbus.INPUT_REGISTER, RegLayoutVersion, 1)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("open wallbox at %s unit %d: %w", cfg.URL, cfg.Unit, err)
	}
	c.layout = regs[0]
	rng, err := c.read(ctx, modbus.INPUT_REGISTER, RegHWMaxCurrent, 2)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("open wallbox: read current range: %w", err)
	}
	c.max, c.min = physic.ElectricCurrent(rng[0])*physic.Ampere, physic.ElectricCurrent(rng[1])*physic.Ampere
	if c.min < hal.MinCurrent || c.max < c.min || c.max > hal.MaxCurrent {
		c.Close()
		return nil, fmt.Errorf("open wallbox: current range %s…%s: %w", c.min, c.max, hal.ErrCurrentRange)
	}
	if !cfg.KeepStandby {
		if err := c.write(ctx, RegStandby, StandbyDisabled); err != nil {
			c.Close()
			return nil, fmt.Errorf("open wallbox: disable standby: %w", err)
		}
	}
	if cfg.Watchdog > 0 {
		fs, err := c.tenths(cfg.Failsafe)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("open wallbox: fail-safe current: %w", err)
		}
		ms := cfg.Watchdog.Milliseconds()
		if ms > 0xFFFF {
			c.Close()
			return nil, fmt.Errorf("open wallbox: watchdog %s longer than the register holds (65.535 s)", cfg.Watchdog)
		}
		if err := c.write(ctx, RegFailsafeCurrent, fs); err != nil {
			c.Close()
			return nil, fmt.Errorf("open wallbox: set fail-safe current: %w", err)
		}
		if err := c.write(ctx, RegWatchdog, uint16(ms)); err != nil {
			c.Close()
			return nil, fmt.Errorf("open wallbox: set watchdog: %w", err)
		}
	}
	logger.Info("wallbox ready", "url", cfg.URL, "unit", cfg.Unit, "layout", fmt.Sprintf("0x%04x", c.layout), "min", c.min, "max", c.max)
	return c, nil
}

// clientConfig turns Config.URL into simonvetter/modbus's configuration.
func clientConfig(cfg Config) (*modbus.ClientConfiguration, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("wallbox url %q: %w", cfg.URL, err)
	}
	// simonvetter logs through a *log.Logger (stdout when nil).
	conf := &modbus.ClientConfiguration{Timeout: cfg.Timeout, Logger: log.New(io.Discard, "", 0)}
	switch u.Scheme {
	case "tcp", "rtuovertcp":
		conf.URL = u.Scheme + "://" + u.Host
	case "rtu":
		conf.URL = "rtu://" + u.Path
	default:
		return nil, fmt.Errorf("wallbox url %q: scheme is not rtu, tcp or rtuovertcp", cfg.URL)
	}
	if u.Scheme != "tcp" {
		q := u.Query()
		conf.Speed, conf.DataBits, conf.StopBits, conf.Parity = 19200, 8, 1, modbus.PARITY_EVEN
		if v := q.Get("baud"); v != "" {
			b, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("wallbox url %q: baud: %w", cfg.URL, err)
			}
			conf.Speed = uint(b)
		}
		switch q.Get("parity") {
		case "", "even":
		case "none":
			conf.Parity = modbus.PARITY_NONE
		case "odd":
			conf.Parity = modbus.PARITY_ODD
		default:
			return nil, fmt.Errorf("wallbox url %q: parity is not none, even or odd", cfg.URL)
		}
		if q.Get("stop") == "2" {
			conf.StopBits = 2
		}
	}
	return conf, nil
}

// Range is the current range the box accepts besides 0: its minimum and
// the maximum set on its rotary switch.
func (c *Controller) Range() (min, max physic.ElectricCurrent) { return c.min, c.max }

// tenths encodes a current for registers 261 and 262 (0.1 A), rounding
// down; it fails with hal.ErrCurrentRange outside 0 and min…max.
func (c *Controller) tenths(a physic.ElectricCurrent) (uint16, error) {
	if a != 0 && (a < c.min || a > c.max) {
		return 0, fmt.Errorf("%s: %w (0 or %s…%s)", a, hal.ErrCurrentRange, c.min, c.max)
	}
	return uint16(a / (100 * physic.MilliAmpere)), nil
}

// SetCurrent writes the current limit (register 261): 0 pauses (the box
// signals 100 % duty and opens its contactor), else min…max, rounded down to
// 0.1 A; other values fail with hal.ErrCurrentRange.
func (c *Controller) SetCurrent(ctx context.Context, current physic.ElectricCurrent) error {
	v, err := c.tenths(current)
	if err != nil {
		return fmt.Errorf("set wallbox current: %w", err)
	}
	if err := c.write(ctx, RegMaxCurrent, v); err != nil {
		return fmt.Errorf("set wallbox current to %s: %w", current, err)
	}
	return nil
}

// State reads the charging state (register 5) and the current limit
// (register 261). The box switches its own contactor: ContactorAllowed
// reports C2 (or derating), Offered the limit while the box allows
// charging. A read also feeds the box's watchdog.
func (c *Controller) State(ctx context.Context) (hal.ControlState, error) {
	st, err := c.read(ctx, modbus.INPUT_REGISTER, RegChargingState, 1)
	if err != nil {
		return hal.ControlState{}, fmt.Errorf("read wallbox state: %w", err)
	}
	lim, err := c.read(ctx, modbus.HOLDING_REGISTER, RegMaxCurrent, 1)
	if err != nil {
		return hal.ControlState{}, fmt.Errorf("read wallbox current limit: %w", err)
	}
	s, err := Decode(ChargingState(st[0]), lim[0])
	if err != nil {
		return hal.ControlState{}, fmt.Errorf("read wallbox state: %w", err)
	}
	return s, nil
}

// Decode maps register 5 (charging state) and register 261 (limit, 0.1 A)
// to a hal.ControlState. It fails only for an undefined state value; the
// box's error and lock states come back as the state's Fault.
func Decode(state ChargingState, limit uint16) (hal.ControlState, error) {
	setpoint := physic.ElectricCurrent(limit) * 100 * physic.MilliAmpere
	s := hal.ControlState{Setpoint: setpoint}
	allows := false
	switch state {
	case StateA1, StateA2:
		s.CP, allows = hal.CPStateA, state == StateA2
	case StateB1, StateB2:
		s.CP, allows = hal.CPStateB, state == StateB2
	case StateC1, StateC2, StateDerating:
		s.CP, allows = hal.CPStateC, state != StateC1
	case StateE:
		s.CP, s.Fault = hal.CPStateE, ErrPilotError
	case StateF:
		s.CP, s.Fault = hal.CPStateF, ErrLocked
	case StateError:
		s.Fault = ErrDeviceError
	default:
		return hal.ControlState{}, fmt.Errorf("%w: %d", ErrUnknownState, state)
	}
	if allows {
		s.Offered = setpoint
	}
	s.ContactorAllowed = s.CP == hal.CPStateC && allows
	return s, nil
}

// Close closes the link.
func (c *Controller) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.open {
		return nil
	}
	c.open = false
	return c.client.Close()
}

// read reads n registers of kind t at addr.
func (c *Controller) read(ctx context.Context, t modbus.RegType, addr, n uint16) ([]uint16, error) {
	var regs []uint16
	fc := 4
	if t == modbus.HOLDING_REGISTER {
		fc = 3
	}
	err := c.do(ctx, func(mc *modbus.ModbusClient) error {
		var err error
		regs, err = mc.ReadRegisters(addr, n, t)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read %d registers at %d (FC%02d): %w", n, addr, fc, err)
	}
	return regs, nil
}

// write writes one holding register with FC16, as the box's register table
// and evcc's driver do.
func (c *Controller) write(ctx context.Context, addr, v uint16) error {
	err := c.do(ctx, func(mc *modbus.ModbusClient) error { return mc.WriteRegisters(addr, []uint16{v}) })
	if err != nil {
		return fmt.Errorf("write %d to register %d (FC16): %w", v, addr, err)
	}
	return nil
}

// do runs req on the link, (re)connecting first. Timeouts and broken links
// are retried Config.Retries times with jittered exponential backoff, the
// link reopened in between (a late reply would otherwise be taken for the
// next request's); Modbus exceptions are answers and are returned at once.
func (c *Controller) do(ctx context.Context, req func(*modbus.ModbusClient) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	op := func() (struct{}, error) {
		if err := ctx.Err(); err != nil {
			return struct{}{}, backoff.Permanent(err)
		}
		if !c.open {
			if err := c.client.Open(); err != nil {
				return struct{}{}, fmt.Errorf("connect: %w", err)
			}
			if err := c.client.SetUnitId(c.cfg.Unit); err != nil {
				_ = c.client.Close()
				return struct{}{}, backoff.Permanent(err)
			}
			c.open = true
		}
		err := req(c.client)
		switch {
		case err == nil:
			return struct{}{}, nil
		case isException(err):
			return struct{}{}, backoff.Permanent(err)
		}
		_ = c.client.Close()
		c.open = false
		if errors.Is(err, modbus.ErrRequestTimedOut) {
			err = fmt.Errorf("%w: %w", ErrTimeout, err)
		}
		return struct{}{}, err
	}
	b := &backoff.ExponentialBackOff{InitialInterval: 50 * time.Millisecond, RandomizationFactor: 0.5, Multiplier: 2, MaxInterval: time.Second}
	_, err := backoff.Retry(ctx, op, backoff.WithBackOff(b), backoff.WithMaxTries(uint(c.cfg.Retries)+1), backoff.WithMaxElapsedTime(0))
	return err
}

// isException reports whether err is a Modbus exception reply.
func isException(err error) bool {
	for _, e := range []error{modbus.ErrIllegalFunction, modbus.ErrIllegalDataAddress, modbus.ErrIllegalDataValue,
		modbus.ErrServerDeviceFailure, modbus.ErrAcknowledge, modbus.ErrServerDeviceBusy, modbus.ErrMemoryParityError,
		modbus.ErrGWPathUnavailable, modbus.ErrGWTargetFailedToRespond} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
