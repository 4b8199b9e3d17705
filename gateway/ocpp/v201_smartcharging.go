package ocpp

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
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
	return cp.base.install(ctx, storedProfile{Connector: req.EVSEID, Received: time.Now(), Profile: core, ScheduleID: p.ChargingSchedule[0].ID})
}

// startProfile checks the chargingProfile of a RequestStartTransaction (F01, K05): a
// TxProfile without a transactionId (the transaction does not exist yet), one schedule, one the
// core accepts. It returns the profile as the core stores it on EVSE 1, nil when the request
// has none; ok false means the request is Rejected.
func startProfile(p *chargingProfile201) (sp *storedProfile, ok bool) {
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
	return &storedProfile{Connector: evseOne, Profile: c, ScheduleID: p.ChargingSchedule[0].ID}, true
}

// installStartProfile installs a started transaction's TxProfile from its
// RequestStartTransaction on EVSE 1; it ends with the transaction, as any TxProfile.
func (cp *ChargePoint201) installStartProfile(ctx context.Context, sp *storedProfile) {
	if sp == nil {
		return
	}
	p := *sp
	p.Received = time.Now()
	if st := cp.base.install(ctx, p); st != "Accepted" {
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

type getChargingProfilesReq struct {
	RequestID       int  `json:"requestId"`
	EVSEID          *int `json:"evseId,omitempty"`
	ChargingProfile struct {
		ChargingProfilePurpose string   `json:"chargingProfilePurpose,omitempty"`
		StackLevel             *int     `json:"stackLevel,omitempty"`
		ChargingProfileID      []int    `json:"chargingProfileId,omitempty"`
		ChargingLimitSource    []string `json:"chargingLimitSource,omitempty"`
	} `json:"chargingProfile"`
}

type reportChargingProfilesReq struct {
	RequestID           int                  `json:"requestId"`
	ChargingLimitSource string               `json:"chargingLimitSource"`
	ChargingProfile     []chargingProfile201 `json:"chargingProfile"`
	TBC                 bool                 `json:"tbc,omitempty"`
	EVSEID              int                  `json:"evseId"`
}

// limitSourceCSO is the source of every profile here: the CSMS set it.
const limitSourceCSO = "CSO"

// chargingProfiles answers GetChargingProfiles (K09): the installed profiles matching the
// criteria, reported after the answer in one ReportChargingProfiles per EVSE (0 first), all
// with chargingLimitSource CSO; NoProfiles when none matches.
func (cp *ChargePoint201) chargingProfiles(ctx context.Context, req getChargingProfilesReq) (string, func()) {
	c := req.ChargingProfile
	cp.mu.Lock()
	current := cp.current
	cp.mu.Unlock()
	cp.base.mu.Lock()
	stored := slices.Clone(cp.base.profiles)
	cp.base.mu.Unlock()
	byEVSE := map[int][]chargingProfile201{}
	for _, sp := range stored {
		p := profile201(sp, current)
		switch {
		case req.EVSEID != nil && *req.EVSEID != sp.Connector,
			c.ChargingProfilePurpose != "" && c.ChargingProfilePurpose != p.ChargingProfilePurpose,
			c.StackLevel != nil && *c.StackLevel != p.StackLevel,
			len(c.ChargingProfileID) > 0 && !slices.Contains(c.ChargingProfileID, p.ID),
			len(c.ChargingLimitSource) > 0 && !slices.Contains(c.ChargingLimitSource, limitSourceCSO):
			continue
		}
		byEVSE[sp.Connector] = append(byEVSE[sp.Connector], p)
	}
	if len(byEVSE) == 0 {
		return "NoProfiles", nil
	}
	evses := slices.Sorted(maps.Keys(byEVSE))
	return "Accepted", func() {
		cp.bg.Go(func() {
			for i, evse := range evses {
				r := reportChargingProfilesReq{RequestID: req.RequestID, ChargingLimitSource: limitSourceCSO,
					ChargingProfile: byEVSE[evse], TBC: i < len(evses)-1, EVSEID: evse}
				cp.mu.Lock()
				conn := cp.conn
				cp.mu.Unlock()
				if conn == nil {
					return
				}
				if err := conn.call(ctx, "", "ReportChargingProfiles", r, nil); err != nil {
					cp.log.Warn("report charging profiles", "request", req.RequestID, "err", err)
					return
				}
			}
		})
	}
}

// profile201 is a stored profile as 2.0.1 reports it: ChargePointMaxProfile as
// ChargingStationMaxProfile, a TxProfile with the running transaction's id.
func profile201(sp storedProfile, transactionID string) chargingProfile201 {
	p := sp.Profile
	s := p.ChargingSchedule
	out := chargingProfile201{ID: p.ChargingProfileID, StackLevel: p.StackLevel, ChargingProfilePurpose: p.ChargingProfilePurpose,
		ChargingProfileKind: p.ChargingProfileKind, RecurrencyKind: p.RecurrencyKind, ValidFrom: p.ValidFrom, ValidTo: p.ValidTo,
		ChargingSchedule: []chargingSchedule201{{ID: sp.ScheduleID, StartSchedule: s.StartSchedule, Duration: s.Duration,
			ChargingRateUnit: s.ChargingRateUnit, ChargingSchedulePeriod: s.ChargingSchedulePeriod, MinChargingRate: s.MinChargingRate}}}
	switch p.ChargingProfilePurpose {
	case purposeMax:
		out.ChargingProfilePurpose = purposeStationMax
	case purposeTx:
		out.TransactionID = transactionID
	}
	return out
}

// handleSmartCharging answers the K messages; ok false for other actions.
func (cp *ChargePoint201) handleSmartCharging(ctx context.Context, action string, payload json.RawMessage) (res any, after func(), cerr *CallError, ok bool) {
	switch action {
	case "SetChargingProfile":
		var req setChargingProfile201Req
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, nil, cerr, true
		}
		return map[string]string{"status": cp.setChargingProfile(ctx, req)}, nil, nil, true
	case "ClearChargingProfile":
		var req clearChargingProfile201Req
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, nil, cerr, true
		}
		return map[string]string{"status": cp.clearChargingProfile(ctx, req)}, nil, nil, true
	case "GetChargingProfiles":
		var req getChargingProfilesReq
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, nil, cerr, true
		}
		status, after := cp.chargingProfiles(ctx, req)
		return map[string]string{"status": status}, after, nil, true
	case "GetCompositeSchedule":
		var req getCompositeSchedule201Req
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, nil, cerr, true
		}
		return cp.compositeSchedule(req), nil, nil, true
	}
	return nil, nil, nil, false
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
