package sim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chargegate/chargegate/meter"
)

// Options configures a simulator.
type Options struct {
	Model   string       // model name (see ModelNames); default "sdm630"
	Unit    uint8        // first unit ID, default 1
	Meters  int          // number of meters, default 1; more than 247 spread over several buses
	Serial  string       // serial of the first meter; numeric serials count up for the next ones
	Clock   Clock        // default: wall clock (ScaledClock(1))
	Seed    uint64       // seed for noise and random faults; 0 = 1
	Profile Profile      // load profile of every meter (defaults: 11 kW, 3 phases, 2 kW/s ramp, 230 V, 50 Hz)
	Logger  *slog.Logger // nil = discard
	// ReplyDelay is the meter's turnaround before every reply (Carlo Gavazzi documents
	// typically 40 ms, at most 500 ms); 0 answers at once.
	ReplyDelay time.Duration
}

// unitsPerBus is the number of addressable Modbus slaves (1..247).
const unitsPerBus = 247

// Sim is a set of simulated meters on one or more buses.
type Sim struct {
	clock Clock
	log   *slog.Logger
	model *simModel
	buses []*Bus

	faultMu sync.Mutex
	faults  []*Fault
	nextID  int
	rng     *mrand.Rand // for random faults, under faultMu

	requests   atomic.Int64
	replyDelay time.Duration
}

// Bus is one Modbus bus (a port or a serial line) with up to 247 meters.
type Bus struct {
	sim   *Sim
	index int
	units map[uint8]*Meter

	connMu sync.Mutex
	conns  map[net.Conn]struct{} // open TCP connections, for faults with Drop
}

// Meter is one simulated meter.
type Meter struct {
	mu       sync.Mutex
	bus      int
	unit     uint8
	model    *simModel
	serial   string
	firmware string
	load     load
	rng      *mrand.Rand
	frozenAt *frozenImage // the snapshot served while a "frozen" fault lasts
	stuckAt  *[2]float64  // import, export Wh served while a "stuck" fault lasts
	sign     *signState
}

type frozenImage struct {
	s                  sample
	importWh, exportWh float64
}

// New builds a simulator.
func New(opts Options) (*Sim, error) {
	if opts.Model == "" {
		opts.Model = "sdm630"
	}
	sm, err := lookupModel(opts.Model)
	if err != nil {
		return nil, err
	}
	if opts.Meters <= 0 {
		opts.Meters = 1
	}
	if opts.Unit == 0 {
		opts.Unit = 1
	}
	if opts.Unit > 247 {
		return nil, fmt.Errorf("unit %d: out of range 1..247", opts.Unit)
	}
	if opts.Clock == nil {
		opts.Clock = ScaledClock(1)
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Sim{clock: opts.Clock, log: opts.Logger, model: sm, rng: mrand.New(mrand.NewPCG(opts.Seed, 0x5eed)), replyDelay: opts.ReplyDelay}
	now := s.clock.Now()
	base, numeric := uint64(0), false
	if opts.Serial != "" {
		base, err = strconv.ParseUint(opts.Serial, 10, 32)
		numeric = err == nil
	}
	unit := opts.Unit
	for i := range opts.Meters {
		if i == 0 || unit > unitsPerBus {
			if i > 0 {
				unit = 1
			}
			s.buses = append(s.buses, &Bus{sim: s, index: len(s.buses), units: map[uint8]*Meter{}})
		}
		b := s.buses[len(s.buses)-1]
		serial := strconv.FormatUint(uint64(20250000+i), 10)
		switch {
		case numeric:
			serial = strconv.FormatUint(base+uint64(i), 10)
		case opts.Serial != "" && i == 0:
			serial = opts.Serial
		case opts.Serial != "":
			serial = fmt.Sprintf("%s-%d", opts.Serial, i)
		}
		m := &Meter{
			bus: b.index, unit: unit, model: sm, serial: serial, firmware: "0103",
			rng:  mrand.New(mrand.NewPCG(opts.Seed, uint64(i)+1)),
			load: load{profile: opts.Profile.withDefaults(sm.Phases), last: now},
		}
		if sm.Name == "wm3m4" {
			key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				return nil, fmt.Errorf("generate meter key: %w", err)
			}
			m.sign = &signState{key: key, regs: map[uint16]uint16{meter.IskraRegSigStatus: 1, meter.IskraRegState: 0}}
			raw, err := key.PublicKey.Bytes()
			if err != nil {
				return nil, fmt.Errorf("encode meter key: %w", err)
			}
			m.sign.putBytes(meter.IskraRegPublicKey, raw[1:])
		}
		b.units[unit] = m
		unit++
	}
	return s, nil
}

// Buses returns the simulator's buses; serve each on a listener or serial line of its own.
func (s *Sim) Buses() []*Bus { return s.buses }

// Requests is the number of requests answered or dropped so far.
func (s *Sim) Requests() int64 { return s.requests.Load() }

// Meter returns the meter at unit on bus.
func (s *Sim) Meter(bus int, unit uint8) (*Meter, bool) {
	if bus < 0 || bus >= len(s.buses) {
		return nil, false
	}
	m, ok := s.buses[bus].units[unit]
	return m, ok
}

// Units lists the unit IDs on the bus in ascending order.
func (b *Bus) Units() []uint8 {
	var out []uint8
	for u := range 256 {
		if _, ok := b.units[uint8(u)]; ok {
			out = append(out, uint8(u))
		}
	}
	return out
}

// SetLoad connects or disconnects the meter's load. With lease > 0 the load stays
// connected only while SetLoad is called again within lease (simulated time).
func (m *Meter) SetLoad(now time.Time, connected bool, lease time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.load.connect(now, connected, lease)
}

// SetProfile changes the load profile; energy so far is kept.
func (m *Meter) SetProfile(now time.Time, p Profile) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.load.advance(now)
	if m.load.following() {
		m.load.retarget(now)
	}
	m.load.profile = p.withDefaults(m.model.Phases)
}

// SetSetpoint makes the load follow an EVSE's allowed current: while connected, its power
// ramps (at the profile's RampWPerS, up or down) towards min(MaxW, amps × VoltageV ×
// Phases); at 0 A it ramps down to nothing and stays there. nil removes the setpoint: the
// load ramps to MaxW as without one (the default). Energy so far is kept.
func (m *Meter) SetSetpoint(now time.Time, amps *float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.load.advance(now)
	if m.load.following() {
		m.load.retarget(now)
	} else if amps != nil {
		// Start following from the power the old ramp reached.
		m.load.p0, m.load.t0 = m.load.power(now), now
	}
	if amps != nil {
		a := *amps
		amps = &a
	}
	m.load.setpointA = amps
}

// State is a meter's state as the control interface reports it.
type State struct {
	Bus       int     `json:"bus"`
	Unit      uint8   `json:"unit"`
	Model     string  `json:"model"`
	Serial    string  `json:"serial"`
	Connected bool    `json:"connected"`
	PowerW    float64 `json:"power_w"`
	ImportWh  float64 `json:"energy_import_wh"`
	ExportWh  float64 `json:"energy_export_wh"`
	ImportMWh int64   `json:"energy_import_mwh"`
	ExportMWh int64   `json:"energy_export_mwh"`
	Profile   Profile `json:"profile"`
	// SetpointA is the EVSE current the load follows (absent: none, it ramps to MaxW).
	SetpointA *float64 `json:"setpoint_a,omitempty"`
	Faults    []Fault  `json:"faults"`
}

// State reports the meter at simulated time now.
func (m *Meter) State(now time.Time) State {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.load.advance(now)
	p := m.load.power(now)
	if m.load.profile.Export {
		p = -p
	}
	return State{
		Bus: m.bus, Unit: m.unit, Model: m.model.Name, Serial: m.serial, Connected: m.load.connected,
		PowerW: p, ImportWh: m.load.importWh, ExportWh: m.load.exportWh,
		ImportMWh: int64(m.load.importWh * 1000), ExportMWh: int64(m.load.exportWh * 1000),
		Profile: m.load.profile, SetpointA: m.load.setpointA,
	}
}
