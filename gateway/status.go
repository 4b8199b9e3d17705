package gateway

import (
	"maps"
	"time"

	"github.com/chargegate/chargegate/meter"
)

// Telemetry is one live sample, published on the telemetry topic after every poll.
type Telemetry struct {
	// EVSE names the charging point on a box with several (absent on a box with one).
	EVSE        uint8     `json:"evse,omitempty"`
	Time        time.Time `json:"time"`
	Serial      string    `json:"meter_serial"`
	ImportMWh   int64     `json:"energy_import_mwh"`
	ExportMWh   int64     `json:"energy_export_mwh"`
	PowerW      float64   `json:"power_w"`
	VoltageV    []float64 `json:"voltage_v,omitempty"`
	CurrentA    []float64 `json:"current_a,omitempty"`
	FrequencyHz float64   `json:"frequency_hz,omitempty"`
	RelayClosed bool      `json:"relay_closed"`
	SessionID   string    `json:"session_id,omitempty"`
	// AllowedA and AllowedReason are the current the EVSE may draw per phase (0: paused) and
	// the rule that set it (gateway/site), where load management runs.
	AllowedA      *float64 `json:"allowed_a,omitempty"`
	AllowedReason string   `json:"allowed_reason,omitempty"`
}

// Status is a snapshot of the control loop for the local API, metrics and the status topic.
type Status struct {
	Time time.Time `json:"time"`
	// EVSE and EVSEID name the charging point on a box with several (EVSE 0: the box's only one).
	EVSE        uint8             `json:"evse,omitempty"`
	EVSEID      string            `json:"evse_id,omitempty"`
	Meter       MeterStatus       `json:"meter"`
	RelayClosed bool              `json:"relay_closed"`
	HALFault    string            `json:"hal_fault,omitempty"`
	Session     *SessionStatus    `json:"session,omitempty"`
	LastSession *SessionRecord    `json:"last_session,omitempty"`
	Entries     uint64            `json:"entries"` // head sequence number
	Alarms      map[string]string `json:"alarms"`
	PollErrors  int64             `json:"poll_errors"`
	// CP is the control pilot's state (A … F) where the EVSE has one.
	CP string `json:"cp,omitempty"`
	// AllowedA and AllowedReason: as in Telemetry.
	AllowedA      *float64 `json:"allowed_a,omitempty"`
	AllowedReason string   `json:"allowed_reason,omitempty"`
}

// MeterStatus is the last poll as shown to people.
type MeterStatus struct {
	Model       string    `json:"model"`
	Serial      string    `json:"serial"`
	Time        time.Time `json:"time"`
	ImportMWh   int64     `json:"energy_import_mwh"`
	ExportMWh   int64     `json:"energy_export_mwh"`
	PowerW      float64   `json:"power_w"`
	PhasePowerW []float64 `json:"phase_power_w,omitempty"`
	VoltageV    []float64 `json:"voltage_v,omitempty"`
	CurrentA    []float64 `json:"current_a,omitempty"`
	FrequencyHz float64   `json:"frequency_hz,omitempty"`
	Readable    bool      `json:"readable"`
}

// SessionStatus is the running session as shown to people.
type SessionStatus struct {
	ID        string    `json:"id"`
	State     string    `json:"state"`
	StartedAt time.Time `json:"started_at"`
	EnergyMWh int64     `json:"energy_mwh"`
	// BeginSeq is the begin entry (its detail says how the session was authorized); 0 until
	// it is written. MaxEnergyWh and MaxDurationS are the session's limits (0: none).
	BeginSeq     uint64 `json:"begin_seq,omitempty"`
	MaxEnergyWh  int64  `json:"max_energy_wh,omitempty"`
	MaxDurationS int64  `json:"max_duration_s,omitempty"`
}

// Status returns the latest snapshot; safe from any goroutine.
func (g *Controller) Status() Status {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.status
	s.Alarms = maps.Clone(s.Alarms)
	return s
}

func (g *Controller) publishStatus() {
	r := g.lastPoll
	st := Status{
		Time: g.opt.Now(), EVSE: g.opt.EVSE, EVSEID: g.opt.EVSEID,
		Meter: MeterStatus{
			Model: r.Model, Serial: r.Serial, Time: r.Time, ImportMWh: r.ImportMWh, ExportMWh: r.ExportMWh,
			PowerW: r.PowerW, PhasePowerW: r.PhasePowerW, VoltageV: r.VoltageV, CurrentA: r.CurrentA, FrequencyHz: r.FrequencyHz,
			Readable: g.alarms[AlarmMeterLost] == "" && !g.lastGoodPoll.IsZero(),
		},
		RelayClosed: g.board.RelayClosed(),
		LastSession: g.lastSession,
		Alarms:      maps.Clone(g.alarms),
		PollErrors:  g.pollErrors,
	}
	if err := g.board.Fault(); err != nil {
		st.HALFault = err.Error()
	}
	if g.opt.Pilot != nil {
		st.CP = g.cp.CP.String()
	}
	st.AllowedA, st.AllowedReason = g.allowed()
	if s := g.session; s != nil {
		st.Session = &SessionStatus{ID: s.ID, State: s.State, StartedAt: s.StartedAt, EnergyMWh: s.LastImportMWh - s.BeginMWh,
			BeginSeq: s.BeginSeq, MaxEnergyWh: s.MaxEnergyWh, MaxDurationS: int64(s.MaxDuration / time.Second)}
	}
	st.Entries, _ = g.store.Head()
	g.mu.Lock()
	g.status = st
	g.mu.Unlock()
}

func (g *Controller) telemetry(r meter.Reading) Telemetry {
	t := Telemetry{
		EVSE: g.opt.EVSE, Time: r.Time, Serial: r.Serial, ImportMWh: r.ImportMWh, ExportMWh: r.ExportMWh, PowerW: r.PowerW,
		VoltageV: r.VoltageV, CurrentA: r.CurrentA, FrequencyHz: r.FrequencyHz, RelayClosed: g.board.RelayClosed(),
	}
	if g.session != nil {
		t.SessionID = g.session.ID
	}
	t.AllowedA, t.AllowedReason = g.allowed()
	return t
}

// allowed is the current the EVSE may draw (Options.Allowed), nil while none is known.
func (g *Controller) allowed() (*float64, string) {
	if g.opt.Allowed == nil {
		return nil, ""
	}
	a, ok := g.opt.Allowed()
	if !ok {
		return nil, ""
	}
	return &a.CurrentA, a.Reason
}
