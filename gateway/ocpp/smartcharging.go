package ocpp

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"
)

// Smart Charging, minimal (OCPP 1.6 §3.13, §5.16 SetChargingProfile, §5.4 ClearChargingProfile,
// §5.7 GetCompositeSchedule). Profiles are kept in ocpp.db (table charging_profile) and stacked
// per the spec: on connector 1 the TxProfile of the running transaction overrides the
// TxDefaultProfile (connector 0 or 1); within a purpose the highest stackLevel whose schedule
// is in force wins; the ChargePointMaxProfile (connector 0) caps the result. The hardware can
// only switch the contactor, so the limit in force only decides between charging (positive)
// and pausing (0): Config.Pause is called when it crosses between the two, and Limit shows it.
// A and W are converted at 230 V per phase (numberPhases, default 3).

// Limits published as the Smart Charging configuration keys.
const (
	maxStackLevel      = 10
	maxPeriods         = 24
	maxProfiles        = 10
	voltsPerPhase      = 230.0
	defaultPhases      = 3
	purposeMax         = "ChargePointMaxProfile"
	purposeTxDefault   = "TxDefaultProfile"
	purposeTx          = "TxProfile"
	profileKindAbs     = "Absolute"
	profileKindRecur   = "Recurring"
	profileKindRelativ = "Relative"
)

type chargingSchedulePeriod struct {
	StartPeriod  int     `json:"startPeriod"`
	Limit        float64 `json:"limit"`
	NumberPhases *int    `json:"numberPhases,omitempty"`
}

type chargingSchedule struct {
	Duration               *int                     `json:"duration,omitempty"`
	StartSchedule          *Time                    `json:"startSchedule,omitempty"`
	ChargingRateUnit       string                   `json:"chargingRateUnit"` // A | W
	ChargingSchedulePeriod []chargingSchedulePeriod `json:"chargingSchedulePeriod"`
	MinChargingRate        *float64                 `json:"minChargingRate,omitempty"`
}

type chargingProfile struct {
	ChargingProfileID      int              `json:"chargingProfileId"`
	TransactionID          *int64           `json:"transactionId,omitempty"`
	StackLevel             int              `json:"stackLevel"`
	ChargingProfilePurpose string           `json:"chargingProfilePurpose"`
	ChargingProfileKind    string           `json:"chargingProfileKind"`
	RecurrencyKind         string           `json:"recurrencyKind,omitempty"` // Daily | Weekly
	ValidFrom              *Time            `json:"validFrom,omitempty"`
	ValidTo                *Time            `json:"validTo,omitempty"`
	ChargingSchedule       chargingSchedule `json:"chargingSchedule"`
}

type setChargingProfileReq struct {
	ConnectorID        int             `json:"connectorId"`
	CsChargingProfiles chargingProfile `json:"csChargingProfiles"`
}

type clearChargingProfileReq struct {
	ID                     *int   `json:"id,omitempty"`
	ConnectorID            *int   `json:"connectorId,omitempty"`
	ChargingProfilePurpose string `json:"chargingProfilePurpose,omitempty"`
	StackLevel             *int   `json:"stackLevel,omitempty"`
}

type getCompositeScheduleReq struct {
	ConnectorID      int    `json:"connectorId"`
	Duration         int    `json:"duration"`
	ChargingRateUnit string `json:"chargingRateUnit,omitempty"`
}

type getCompositeScheduleConf struct {
	Status           string            `json:"status"`
	ConnectorID      *int              `json:"connectorId,omitempty"`
	ScheduleStart    *Time             `json:"scheduleStart,omitempty"`
	ChargingSchedule *chargingSchedule `json:"chargingSchedule,omitempty"`
}

// storedProfile is one installed profile and the connector it was set on; received is when it
// arrived (the start of an Absolute schedule without startSchedule).
type storedProfile struct {
	Connector int             `json:"connector"`
	Received  time.Time       `json:"received"`
	Profile   chargingProfile `json:"profile"`
	// ScheduleID is a 2.0.1 profile's chargingSchedule id (1.6 schedules have none).
	ScheduleID int `json:"scheduleId,omitempty"`
}

// loadProfiles reads the installed profiles.
func (q *Queue) loadProfiles(ctx context.Context) ([]storedProfile, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT profile FROM charging_profile ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("read charging profiles: %w", err)
	}
	defer rows.Close()
	var out []storedProfile
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("read charging profiles: %w", err)
		}
		var p storedProfile
		if json.Unmarshal(b, &p) == nil {
			out = append(out, p)
		}
	}
	return out, rows.Err()
}

// saveProfiles replaces the installed profiles with ps.
func (q *Queue) saveProfiles(ctx context.Context, ps []storedProfile) error {
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store charging profiles: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM charging_profile`); err != nil {
		return fmt.Errorf("store charging profiles: %w", err)
	}
	for _, p := range ps {
		b, _ := json.Marshal(p)
		if _, err := tx.ExecContext(ctx, `INSERT INTO charging_profile(id, profile) VALUES(?, ?)`, p.Profile.ChargingProfileID, b); err != nil {
			return fmt.Errorf("store charging profiles: %w", err)
		}
	}
	return tx.Commit()
}

func validProfile(p chargingProfile) bool {
	s := p.ChargingSchedule
	switch {
	case p.StackLevel < 0 || p.StackLevel > maxStackLevel:
		return false
	case !slices.Contains([]string{purposeMax, purposeTxDefault, purposeTx}, p.ChargingProfilePurpose):
		return false
	case !slices.Contains([]string{profileKindAbs, profileKindRecur, profileKindRelativ}, p.ChargingProfileKind):
		return false
	case p.ChargingProfileKind == profileKindRecur && (s.StartSchedule == nil || (p.RecurrencyKind != "Daily" && p.RecurrencyKind != "Weekly")):
		return false
	case s.ChargingRateUnit != "A" && s.ChargingRateUnit != "W":
		return false
	case len(s.ChargingSchedulePeriod) == 0 || len(s.ChargingSchedulePeriod) > maxPeriods || s.ChargingSchedulePeriod[0].StartPeriod != 0:
		return false
	}
	for i, pe := range s.ChargingSchedulePeriod {
		if pe.Limit < 0 || (i > 0 && pe.StartPeriod <= s.ChargingSchedulePeriod[i-1].StartPeriod) {
			return false
		}
	}
	return true
}

// setChargingProfile answers SetChargingProfile.
func (cp *ChargePoint) setChargingProfile(ctx context.Context, req setChargingProfileReq) string {
	p := req.CsChargingProfiles
	if req.ConnectorID < 0 || req.ConnectorID > connectorOne || !validProfile(p) {
		return "Rejected"
	}
	switch p.ChargingProfilePurpose {
	case purposeMax:
		if req.ConnectorID != 0 {
			return "Rejected"
		}
	case purposeTx:
		// §5.16.3: a TxProfile only for a running transaction on a connector.
		txID, ok := cp.runningTransaction(ctx)
		if req.ConnectorID != connectorOne || !ok || (p.TransactionID != nil && *p.TransactionID != txID) {
			return "Rejected"
		}
		p.TransactionID = &txID
	}
	return cp.installProfile(ctx, req.ConnectorID, p)
}

// installProfile stores p on connector, replacing per §3.13.2, and applies the new limit.
func (cp *ChargePoint) installProfile(ctx context.Context, connector int, p chargingProfile) string {
	return cp.install(ctx, storedProfile{Connector: connector, Received: time.Now(), Profile: p})
}

// install stores sp, replacing what it replaces, and applies the new limit.
func (cp *ChargePoint) install(ctx context.Context, sp storedProfile) string {
	connector, p := sp.Connector, sp.Profile
	cp.mu.Lock()
	next := slices.DeleteFunc(slices.Clone(cp.profiles), func(s storedProfile) bool {
		// §3.13.2: the same id, or the same stackLevel and purpose on the connector, is replaced.
		return s.Profile.ChargingProfileID == p.ChargingProfileID ||
			(s.Connector == connector && s.Profile.StackLevel == p.StackLevel && s.Profile.ChargingProfilePurpose == p.ChargingProfilePurpose)
	})
	next = append(next, sp)
	cp.mu.Unlock()
	if len(next) > maxProfiles {
		return "Rejected"
	}
	if err := cp.q.saveProfiles(ctx, next); err != nil {
		cp.log.Error("set charging profile", "err", err)
		return "Rejected"
	}
	cp.mu.Lock()
	cp.profiles = next
	cp.mu.Unlock()
	cp.applyLimit()
	return "Accepted"
}

// clearChargingProfile answers ClearChargingProfile: Accepted when a profile was removed.
func (cp *ChargePoint) clearChargingProfile(ctx context.Context, req clearChargingProfileReq) string {
	cp.mu.Lock()
	next := slices.DeleteFunc(slices.Clone(cp.profiles), func(s storedProfile) bool {
		if req.ID != nil {
			return s.Profile.ChargingProfileID == *req.ID
		}
		return (req.ConnectorID == nil || *req.ConnectorID == s.Connector) &&
			(req.ChargingProfilePurpose == "" || req.ChargingProfilePurpose == s.Profile.ChargingProfilePurpose) &&
			(req.StackLevel == nil || *req.StackLevel == s.Profile.StackLevel)
	})
	removed := len(next) != len(cp.profiles)
	cp.mu.Unlock()
	if !removed {
		return "Unknown"
	}
	if err := cp.q.saveProfiles(ctx, next); err != nil {
		cp.log.Error("clear charging profile", "err", err)
		return "Unknown"
	}
	cp.mu.Lock()
	cp.profiles = next
	cp.mu.Unlock()
	cp.applyLimit()
	return "Accepted"
}

// dropTxProfiles removes the TxProfiles of a transaction that ended (§3.13.3).
func (cp *ChargePoint) dropTxProfiles(ctx context.Context) {
	cp.mu.Lock()
	next := slices.DeleteFunc(slices.Clone(cp.profiles), func(s storedProfile) bool { return s.Profile.ChargingProfilePurpose == purposeTx })
	changed := len(next) != len(cp.profiles)
	cp.mu.Unlock()
	if !changed {
		return
	}
	if err := cp.q.saveProfiles(ctx, next); err != nil {
		cp.log.Error("drop TxProfiles", "err", err)
		return
	}
	cp.mu.Lock()
	cp.profiles = next
	cp.mu.Unlock()
	cp.applyLimit()
}

// runningTransaction returns the transactionId of the running session, if the CSMS gave one.
func (cp *ChargePoint) runningTransaction(ctx context.Context) (int64, bool) {
	cp.mu.Lock()
	session := cp.current
	cp.mu.Unlock()
	if session == "" {
		return 0, false
	}
	id, ok, err := cp.q.transactionID(ctx, session)
	return id, ok && err == nil
}

// scheduleStart returns when p's schedule began as of t (txStart: the running transaction's
// begin, zero when none), or false when it has not begun.
func scheduleStart(s storedProfile, t, txStart time.Time) (time.Time, bool) {
	p := s.Profile
	switch p.ChargingProfileKind {
	case profileKindRelativ:
		return txStart, !txStart.IsZero() && !txStart.After(t)
	case profileKindRecur:
		start := p.ChargingSchedule.StartSchedule.Time
		period := 24 * time.Hour
		if p.RecurrencyKind == "Weekly" {
			period *= 7
		}
		if t.Before(start) {
			return start, false
		}
		return start.Add(t.Sub(start) / period * period), true
	}
	start := s.Received
	if p.ChargingSchedule.StartSchedule != nil {
		start = p.ChargingSchedule.StartSchedule.Time
	}
	return start, !start.After(t)
}

// profileLimit returns the limit p sets at t in A, or false when it sets none then.
func profileLimit(s storedProfile, t, txStart time.Time) (float64, bool) {
	p := s.Profile
	if (p.ValidFrom != nil && t.Before(p.ValidFrom.Time)) || (p.ValidTo != nil && !t.Before(p.ValidTo.Time)) {
		return 0, false
	}
	start, ok := scheduleStart(s, t, txStart)
	if !ok {
		return 0, false
	}
	off := t.Sub(start)
	if d := p.ChargingSchedule.Duration; d != nil && off >= time.Duration(*d)*time.Second {
		return 0, false
	}
	var pe *chargingSchedulePeriod
	for i := range p.ChargingSchedule.ChargingSchedulePeriod {
		if time.Duration(p.ChargingSchedule.ChargingSchedulePeriod[i].StartPeriod)*time.Second <= off {
			pe = &p.ChargingSchedule.ChargingSchedulePeriod[i]
		}
	}
	if pe == nil {
		return 0, false
	}
	if p.ChargingSchedule.ChargingRateUnit == "W" {
		phases := defaultPhases
		if pe.NumberPhases != nil && *pe.NumberPhases > 0 {
			phases = *pe.NumberPhases
		}
		return pe.Limit / (voltsPerPhase * float64(phases)), true
	}
	return pe.Limit, true
}

// limitAt returns the stacked limit in A on connector 1 at t, or false when no profile limits.
func limitAt(ps []storedProfile, t, txStart time.Time, txRunning bool) (float64, bool) {
	best := func(purpose string) (float64, bool) {
		level, limit, found := -1, 0.0, false
		for _, s := range ps {
			if s.Profile.ChargingProfilePurpose != purpose || s.Profile.StackLevel < level {
				continue
			}
			if l, ok := profileLimit(s, t, txStart); ok && (s.Profile.StackLevel > level || s.Connector == connectorOne) {
				level, limit, found = s.Profile.StackLevel, l, true
			}
		}
		return limit, found
	}
	limit, ok := 0.0, false
	if txRunning {
		limit, ok = best(purposeTx)
	}
	if !ok {
		limit, ok = best(purposeTxDefault)
	}
	if m, mok := best(purposeMax); mok && (!ok || m < limit) {
		limit, ok = m, true
	}
	return limit, ok
}

// Limit returns the charging limit in force on the connector in A (W profiles converted at
// 230 V per phase), or false when no charging profile limits it.
func (cp *ChargePoint) Limit() (amps float64, limited bool) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return limitAt(cp.profiles, time.Now(), cp.txStart, cp.current != "")
}

// applyLimit calls Config.Pause when the limit in force crosses between 0 and positive.
func (cp *ChargePoint) applyLimit() {
	l, ok := cp.Limit()
	want := ok && l <= 0
	cp.mu.Lock()
	changed := want != cp.paused
	cp.paused = want
	var session, state string
	if s := cp.status.Session; cp.haveStatus && s != nil {
		session, state = s.ID, s.State
	}
	// Pause each charging session once while the limit is 0 (one that starts under it too);
	// resume only what this limit paused, never a pause another link asked for.
	var call, pause bool
	switch {
	case want && session != "" && state == "charging" && cp.limitPaused != session:
		cp.limitPaused, call, pause = session, true, true
	case !want && cp.limitPaused != "":
		cp.limitPaused, call = "", true
	}
	cp.mu.Unlock()
	if changed {
		cp.log.Info("charging limit", "paused", want, "limit_a", l)
	}
	if call && cp.cfg.Pause != nil {
		cp.cfg.Pause(pause)
	}
}

// compositeSchedule answers GetCompositeSchedule for connector 1 (or 0: the same outlet).
func (cp *ChargePoint) compositeSchedule(req getCompositeScheduleReq) getCompositeScheduleConf {
	unit := req.ChargingRateUnit
	if unit == "" {
		unit = "A"
	}
	if req.ConnectorID < 0 || req.ConnectorID > connectorOne || req.Duration <= 0 || (unit != "A" && unit != "W") {
		return getCompositeScheduleConf{Status: "Rejected"}
	}
	cp.mu.Lock()
	ps := slices.Clone(cp.profiles)
	txStart, running := cp.txStart, cp.current != ""
	cp.mu.Unlock()
	now := time.Now().Truncate(time.Second)
	end := now.Add(time.Duration(req.Duration) * time.Second)
	// The limit changes only at a schedule's period boundaries, its end, and validFrom/To.
	points := []time.Time{now}
	add := func(t time.Time) {
		if t.After(now) && t.Before(end) {
			points = append(points, t)
		}
	}
	addSchedule := func(p chargingProfile, start time.Time) {
		add(start)
		for _, pe := range p.ChargingSchedule.ChargingSchedulePeriod {
			add(start.Add(time.Duration(pe.StartPeriod) * time.Second))
		}
		if d := p.ChargingSchedule.Duration; d != nil {
			add(start.Add(time.Duration(*d) * time.Second))
		}
	}
	for _, s := range ps {
		p := s.Profile
		if p.ValidFrom != nil {
			add(p.ValidFrom.Time)
		}
		if p.ValidTo != nil {
			add(p.ValidTo.Time)
		}
		start, _ := scheduleStart(s, now, txStart)
		switch p.ChargingProfileKind {
		case profileKindRelativ:
			if running {
				addSchedule(p, txStart)
			}
		case profileKindRecur:
			period := 24 * time.Hour
			if p.RecurrencyKind == "Weekly" {
				period *= 7
			}
			for st := start; st.Before(end); st = st.Add(period) {
				addSchedule(p, st)
			}
		default:
			addSchedule(p, start)
		}
	}
	sort.Slice(points, func(i, j int) bool { return points[i].Before(points[j]) })
	var periods []chargingSchedulePeriod
	for _, t := range points {
		l, ok := limitAt(ps, t, txStart, running)
		if !ok {
			l = cp.cfg.MaxCurrentA
		}
		if unit == "W" {
			l *= voltsPerPhase * defaultPhases
		}
		// Whole A or W, rounded down: the schema's multipleOf 0.1 is checked in floating point
		// by the CSMS's validator (15.9 / 0.1 is not a whole number there; integers are).
		l = math.Floor(l + 1e-9)
		off := int(t.Sub(now) / time.Second)
		if n := len(periods); n > 0 && (periods[n-1].Limit == l || periods[n-1].StartPeriod == off) {
			continue // no change, or the same second
		}
		periods = append(periods, chargingSchedulePeriod{StartPeriod: off, Limit: l})
	}
	conn, dur := req.ConnectorID, req.Duration
	return getCompositeScheduleConf{Status: "Accepted", ConnectorID: &conn, ScheduleStart: &Time{now},
		ChargingSchedule: &chargingSchedule{Duration: &dur, StartSchedule: &Time{now}, ChargingRateUnit: unit, ChargingSchedulePeriod: periods}}
}
