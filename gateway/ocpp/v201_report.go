package ocpp

import (
	"context"
	"encoding/json"
	"slices"
)

// GetReport (B08) on the 2.0.1 face: the device model's variables selected by component and
// variable, or by component criteria, reported in NotifyReports as GetBaseReport's are.

type componentVariableType struct {
	Component componentType `json:"component"`
	Variable  *variableType `json:"variable,omitempty"`
}

type getReportReq struct {
	RequestID         int                     `json:"requestId"`
	ComponentCriteria []string                `json:"componentCriteria,omitempty"`
	ComponentVariable []componentVariableType `json:"componentVariable,omitempty"`
}

// report selects the FullInventory items that match req: any of its componentVariable entries
// (the component by name — the device model's components have no instance or EVSE, so an
// entry naming one matches nothing —, and the variable by name and, when given, instance), and
// each of its componentCriteria (a component is Enabled, Active, Available or has a Problem
// when its variable of that name is "true"; only Enabled exists here).
func (cp *ChargePoint201) report(req getReportReq) []reportData {
	all := cp.baseReport("FullInventory")
	value := map[string]string{} // component/variable → Actual value, for the criteria
	for _, d := range all {
		if d.Variable.Instance == "" {
			value[d.Component.Name+"/"+d.Variable.Name] = d.VariableAttribute[0].Value
		}
	}
	return slices.DeleteFunc(all, func(d reportData) bool {
		for _, c := range req.ComponentCriteria {
			if value[d.Component.Name+"/"+c] != "true" {
				return true
			}
		}
		if len(req.ComponentVariable) == 0 {
			return false
		}
		return !slices.ContainsFunc(req.ComponentVariable, func(cv componentVariableType) bool {
			if cv.Component.Name != d.Component.Name || cv.Component.Instance != "" || cv.Component.EVSE != nil {
				return false
			}
			v := cv.Variable
			return v == nil || (v.Name == d.Variable.Name && (v.Instance == "" || v.Instance == d.Variable.Instance))
		})
	})
}

// getReport answers GetReport: Accepted and the NotifyReports after the answer, or
// EmptyResultSet when nothing matches.
func (cp *ChargePoint201) getReport(ctx context.Context, req getReportReq) (string, func()) {
	cp.refreshSecurityVars(ctx)
	data := cp.report(req)
	if len(data) == 0 {
		return "EmptyResultSet", nil
	}
	return "Accepted", func() { cp.bg.Go(func() { cp.notifyReport(ctx, req.RequestID, data) }) }
}

// handleReport answers GetReport; ok false for other actions.
func (cp *ChargePoint201) handleReport(ctx context.Context, action string, payload json.RawMessage) (res any, after func(), cerr *CallError, ok bool) {
	if action != "GetReport" {
		return nil, nil, nil, false
	}
	var req getReportReq
	if cerr := decodeStrict(payload, &req); cerr != nil {
		return nil, nil, cerr, true
	}
	status, after := cp.getReport(ctx, req)
	return map[string]string{"status": status}, after, nil, true
}
