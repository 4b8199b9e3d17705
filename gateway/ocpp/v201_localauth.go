package ocpp

import (
	"context"
	"encoding/json"
)

// Blocks C/D on the 2.0.1 face: SendLocalList, GetLocalListVersion and ClearCache over the
// core's local list (the local_list table, or the appliance's shared list: ShareLocalList) and
// auth_cache table (localauth.go). Entries are keyed by the idToken string; its type is not
// kept.

type authorizationData201 struct {
	IDToken     idTokenType      `json:"idToken"`
	IDTokenInfo *idTokenInfoType `json:"idTokenInfo,omitempty"`
}

type sendLocalList201Req struct {
	VersionNumber          int                    `json:"versionNumber"`
	UpdateType             string                 `json:"updateType"` // Full | Differential
	LocalAuthorizationList []authorizationData201 `json:"localAuthorizationList,omitempty"`
}

// sendLocalList answers SendLocalList (D01/D02): Failed when the list is disabled, an entry is
// malformed or the list would exceed its storage; VersionMismatch for a differential update
// that is not newer.
func (cp *ChargePoint201) sendLocalList(ctx context.Context, req sendLocalList201Req) string {
	if cp.value(compLocalList, "Enabled", "") != "true" || len(req.LocalAuthorizationList) > sendListMax || req.VersionNumber < 0 {
		return "Failed"
	}
	entries := make([]authorizationData, 0, len(req.LocalAuthorizationList))
	for _, e := range req.LocalAuthorizationList {
		if e.IDToken.IDToken == "" || (req.UpdateType == "Full" && e.IDTokenInfo == nil) {
			return "Failed"
		}
		d := authorizationData{IDTag: e.IDToken.IDToken}
		if e.IDTokenInfo != nil {
			info := e.IDTokenInfo.tagInfo()
			d.IDTagInfo = &info
		}
		entries = append(entries, d)
	}
	if req.UpdateType == "Differential" {
		cur, err := cp.base.localListVersion(ctx)
		if err != nil {
			cp.log.Error("send local list", "err", err)
			return "Failed"
		}
		if req.VersionNumber <= cur {
			return "VersionMismatch"
		}
	}
	if err := cp.base.applyLocalList(ctx, req.VersionNumber, req.UpdateType == "Full", entries); err != nil {
		cp.log.Error("send local list", "err", err)
		return "Failed"
	}
	return "Accepted"
}

// handleLocalAuth answers SendLocalList, GetLocalListVersion and ClearCache; ok false for
// other actions.
func (cp *ChargePoint201) handleLocalAuth(ctx context.Context, action string, payload json.RawMessage) (res any, cerr *CallError, ok bool) {
	switch action {
	case "SendLocalList":
		var req sendLocalList201Req
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, cerr, true
		}
		return map[string]string{"status": cp.sendLocalList(ctx, req)}, nil, true
	case "GetLocalListVersion":
		var req struct{}
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, cerr, true
		}
		v, err := cp.base.localListVersion(ctx)
		if err != nil {
			return nil, &CallError{Code: "InternalError", Description: err.Error()}, true
		}
		return map[string]int{"versionNumber": v}, nil, true
	case "ClearCache":
		var req struct{}
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, cerr, true
		}
		if err := cp.q.clearCache(ctx); err != nil {
			return map[string]string{"status": "Rejected"}, nil, true
		}
		return map[string]string{"status": "Accepted"}, nil, true
	}
	return nil, nil, false
}
