package ocpp

import (
	"context"
	"encoding/json"
	"time"

	"github.com/chargegate/chargegate/gateway"
)

// Block K on the 2.0.1 face, as far as a contactor allows: SetChargingProfile,
// ClearChargingProfile and GetCompositeSchedule over the core's profile store and stacking
// (smartcharging.go). A 2.0.1 profile is stored in the core's form: ChargingStationMaxProfile
// as ChargePointMaxProfile on connector 0, EVSE 1 as connector 1, its one chargingSchedule;
// the core pauses at a limit of 0 and resumes when it is positive again. The face keeps the
// core's session state (status, running transaction and its begin) current for it.

type chargingSchedule201 struct {
	ID                     int                      `json:"id"`
	StartSchedule          *Time                    `json:"startSchedule,omitempty"`
	Duration               *int                     `json:"duration,omitempty"`
	ChargingRateUnit       string                   `json:"chargingRateUnit"`
	ChargingSchedulePeriod []chargingSchedulePeriod `json:"chargingSchedulePeriod"`
	MinChargingRate        *float64                 `json:"minChargingRate,omitempty"`
}

type chargingProfile201 struct {
	ID                     int                   `json:"id"`
	StackLevel             int                   `json:"stackLevel"`
	ChargingProfilePurpose string                `json:"chargingProfilePurpose"`
	ChargingProfileKind    string                `json:"chargingProfileKind"`
	RecurrencyKind         string                `json:"recurrencyKind,omitempty"`
	ValidFrom              *Time                 `json:"validFrom,omitempty"`
	ValidTo                *Time                 `json:"validTo,omitempty"`
	TransactionID          string                `json:"transactionId,omitempty"`
	ChargingSchedule       []chargingSchedule201 `json:"chargingSchedule"`
}

type setChargingProfile201Req struct {
	EVSEID          int                `json:"evseId"`
	ChargingProfile chargingProfile201 `json:"chargingProfile"`
}

type clearChargingProfile201Req struct {
	ChargingProfileID       *int `json:"chargingProfileId,omitempty"`
	ChargingProfileCriteria *struct {
		EVSEID                 *int   `json:"evseId,omitempty"`
		ChargingProfilePurpose string `json:"chargingProfilePurpose,omitempty"`
		StackLevel             *int   `json:"stackLevel,omitempty"`
	} `json:"chargingProfileCriteria,omitempty"`
}

type getCompositeSchedule201Req struct {
	Duration         int    `json:"duration"`
	ChargingRateUnit string `json:"chargingRateUnit,omitempty"`
	EVSEID           int    `json:"evseId"`
}

const purposeStationMax = "ChargingStationMaxProfile"

// coreProfile converts a 2.0.1 profile with one schedule to the core's form.
func coreProfile(p chargingProfile201) chargingProfile {
	s := p.ChargingSchedule[0]
	return chargingProfile{ChargingProfileID: p.ID, StackLevel: p.StackLevel, ChargingProfilePurpose: p.ChargingProfilePurpose,
		ChargingProfileKind: p.ChargingProfileKind, RecurrencyKind: p.RecurrencyKind, ValidFrom: p.ValidFrom, ValidTo: p.ValidTo,
		ChargingSchedule: chargingSchedule{Duration: s.Duration, StartSchedule: s.StartSchedule, ChargingRateUnit: s.ChargingRateUnit,
			ChargingSchedulePeriod: s.ChargingSchedulePeriod, MinChargingRate: s.MinChargingRate}}
}

// setChargingProfile answers SetChargingProfile (K01): Rejected for another EVSE, a
// ChargingStationMaxProfile not on EVSE 0, a TxProfile without the running transaction,
// ChargingStationExternalConstraints, more than one schedule, or what the core refuses.
func (cp *ChargePoint201) setChargingProfile(ctx context.Context, req setChargingProfile201Req) string {
	p := req.ChargingProfile
	if req.EVSEID < 0 || req.EVSEID > evseOne || len(p.ChargingSchedule) != 1 {
		return "Rejected"
	}
	core := coreProfile(p)
	switch p.ChargingProfilePurpose {
	case purposeStationMax:
		if req.EVSEID != 0 {
			return "Rejected"
		}
		core.ChargingProfilePurpose = purposeMax
	case purposeTxDefault:
	case purposeTx:
		cp.mu.Lock()
		current := cp.current
		cp.mu.Unlock()
		if req.EVSEID != evseOne || current == "" || (p.TransactionID != "" && p.TransactionID != current) {
			return "Rejected"
		}
	default:
		return "Rejected"
	}
	if !validProfile(core) {
		return "Rejected"
	}
	return cp.base.installProfile(ctx, req.EVSEID, core)
}

// startProfile checks the chargingProfile of a RequestStartTransaction (F01, K05): a
// TxProfile without a transactionId (the transaction does not exist yet), one schedule, one the
// core accepts. It returns the profile in the core's form, nil when the request has none; ok
// false means the request is Rejected.
func startProfile(p *chargingProfile201) (core *chargingProfile, ok bool) {
	if p == nil {
		return nil, true
	}
	if p.ChargingProfilePurpose != purposeTx || p.TransactionID != "" || len(p.ChargingSchedule) != 1 {
		return nil, false
	}
	c := coreProfile(*p)
	if !validProfile(c) {
		return nil, false
	}
	return &c, true
}

// installStartProfile installs a started transaction's TxProfile from its
// RequestStartTransaction on EVSE 1; it ends with the transaction, as any TxProfile.
func (cp *ChargePoint201) installStartProfile(ctx context.Context, p *chargingProfile) {
	if p == nil {
		return
	}
	if st := cp.base.installProfile(ctx, connectorOne, *p); st != "Accepted" {
		cp.log.Warn("the remote start's charging profile was not installed", "status", st)
	}
}

// clearChargingProfile answers ClearChargingProfile (K10): Accepted when a profile was removed.
func (cp *ChargePoint201) clearChargingProfile(ctx context.Context, req clearChargingProfile201Req) string {
	core := clearChargingProfileReq{ID: req.ChargingProfileID}
	if c := req.ChargingProfileCriteria; c != nil && req.ChargingProfileID == nil {
		core.ConnectorID, core.StackLevel, core.ChargingProfilePurpose = c.EVSEID, c.StackLevel, c.ChargingProfilePurpose
		if c.ChargingProfilePurpose == purposeStationMax {
			core.ChargingProfilePurpose = purposeMax
		}
	}
	return cp.base.clearChargingProfile(ctx, core)
}

// compositeSchedule answers GetCompositeSchedule (K08) from the core's stacked limit.
func (cp *ChargePoint201) compositeSchedule(req getCompositeSchedule201Req) any {
	res := cp.base.compositeSchedule(getCompositeScheduleReq{ConnectorID: req.EVSEID, Duration: req.Duration, ChargingRateUnit: req.ChargingRateUnit})
	if res.Status != "Accepted" {
		return map[string]string{"status": "Rejected"}
	}
	s := res.ChargingSchedule
	return map[string]any{"status": "Accepted", "schedule": map[string]any{"evseId": req.EVSEID, "duration": *s.Duration,
		"scheduleStart": res.ScheduleStart, "chargingRateUnit": s.ChargingRateUnit, "chargingSchedulePeriod": s.ChargingSchedulePeriod}}
}

// handleSmartCharging answers the K messages; ok false for other actions.
func (cp *ChargePoint201) handleSmartCharging(ctx context.Context, action string, payload json.RawMessage) (res any, cerr *CallError, ok bool) {
	switch action {
	case "SetChargingProfile":
		var req setChargingProfile201Req
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, cerr, true
		}
		return map[string]string{"status": cp.setChargingProfile(ctx, req)}, nil, true
	case "ClearChargingProfile":
		var req clearChargingProfile201Req
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, cerr, true
		}
		return map[string]string{"status": cp.clearChargingProfile(ctx, req)}, nil, true
	case "GetCompositeSchedule":
		var req getCompositeSchedule201Req
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, cerr, true
		}
		return cp.compositeSchedule(req), nil, true
	}
	return nil, nil, false
}

// coreStatus and coreSession keep the core's view of the running transaction for its limit: the status,
// the session and its begin (Relative profiles).
func (cp *ChargePoint201) coreStatus(st gateway.Status) {
	cp.base.mu.Lock()
	cp.base.status, cp.base.haveStatus = st, true
	cp.base.mu.Unlock()
}

func (cp *ChargePoint201) coreSession(session string, begin time.Time) {
	cp.base.mu.Lock()
	cp.base.current, cp.base.txStart = session, begin
	cp.base.mu.Unlock()
}
