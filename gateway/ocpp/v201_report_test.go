package ocpp_test

import (
	"slices"
	"testing"
)

// B08: GetReport reports the variables its componentVariable entries select (a component, or
// one of its variables, every instance unless one is named) and that its componentCriteria
// allow (Enabled: the component's Enabled variable is true), in NotifyReports under its
// requestId; nothing matching is EmptyResultSet.
func TestV201GetReport(t *testing.T) {
	c := startCSMS201(t, "--interval", "30")
	cp, _, _ := startCP201(t, c, newStandIn(t), t.TempDir())
	c.WaitFor("online", cp.Online)
	if s := setVars(t, c, varReq("AuthCacheCtrlr", "Enabled", "", "false")); s[0].AttributeStatus != "Accepted" {
		t.Fatalf("SetVariables = %+v", s)
	}
	type item struct {
		Component         struct{ Name string }
		Variable          struct{ Name, Instance string }
		VariableAttribute []struct{ Value string }
	}
	reported := func(requestID int) []string {
		var out []string
		for _, l := range c.Calls("NotifyReport") {
			r := params[struct {
				RequestID  int
				ReportData []item
			}](t, l)
			if r.RequestID != requestID {
				continue
			}
			for _, d := range r.ReportData {
				k := d.Component.Name + "." + d.Variable.Name
				if d.Variable.Instance != "" {
					k += "[" + d.Variable.Instance + "]"
				}
				out = append(out, k+"="+d.VariableAttribute[0].Value)
			}
		}
		slices.Sort(out)
		return out
	}
	ask := func(requestID int, req map[string]any) string {
		t.Helper()
		req["requestId"] = requestID
		return c.Status("GetReport", req)
	}
	comp := func(name string, variable ...string) map[string]any {
		cv := map[string]any{"component": map[string]any{"name": name}}
		if len(variable) > 0 {
			v := map[string]any{"name": variable[0]}
			if len(variable) > 1 {
				v["instance"] = variable[1]
			}
			cv["variable"] = v
		}
		return cv
	}

	for _, tc := range []struct {
		req  map[string]any
		want []string
	}{
		{map[string]any{"componentVariable": []any{comp("AuthCacheCtrlr")}}, []string{"AuthCacheCtrlr.Enabled=false", "AuthCacheCtrlr.LifeTime=86400"}},
		{map[string]any{"componentVariable": []any{comp("OCPPCommCtrlr", "MessageAttempts"), comp("FiscalMetering", "PublicKey")}},
			[]string{"FiscalMetering.PublicKey=" + getVars(t, c, varReq("FiscalMetering", "PublicKey", ""))[0].AttributeValue, "OCPPCommCtrlr.MessageAttempts[TransactionEvent]=3"}},
		{map[string]any{"componentVariable": []any{comp("DeviceDataCtrlr", "ItemsPerMessage", "GetReport")}}, []string{"DeviceDataCtrlr.ItemsPerMessage[GetReport]=20"}},
		{map[string]any{"componentCriteria": []string{"Enabled"}, "componentVariable": []any{comp("AuthCtrlr", "Enabled"), comp("AuthCacheCtrlr", "Enabled")}},
			[]string{"AuthCtrlr.Enabled=true"}},
	} {
		id := len(c.Calls("NotifyReport")) + 100
		if s := ask(id, tc.req); s != "Accepted" {
			t.Errorf("GetReport %v = %s, want Accepted", tc.req, s)
			continue
		}
		c.WaitFor("the report", func() bool { return len(reported(id)) > 0 })
		if got := reported(id); !slices.Equal(got, tc.want) {
			t.Errorf("GetReport %v reported %v, want %v", tc.req, got, tc.want)
		}
	}
	for _, req := range []map[string]any{
		{"componentVariable": []any{comp("NoSuchCtrlr")}},
		{"componentVariable": []any{comp("AuthCtrlr", "NoSuchVariable")}},
		{"componentVariable": []any{map[string]any{"component": map[string]any{"name": "AuthCtrlr", "instance": "2"}}}},
		{"componentCriteria": []string{"Problem"}},
	} {
		if s := ask(999, req); s != "EmptyResultSet" {
			t.Errorf("GetReport %v = %s, want EmptyResultSet", req, s)
		}
	}
	if n := len(reported(999)); n != 0 {
		t.Errorf("%d items reported for requests that matched nothing", n)
	}
	if s := ask(7, map[string]any{}); s != "Accepted" {
		t.Fatalf("GetReport without criteria = %s", s)
	}
	c.WaitFor("the full report", func() bool { return len(reported(7)) > 40 })
}
