package main

import (
	"path/filepath"
	"testing"

	"github.com/chargegate/chargegate/gateway/rig"
	"github.com/chargegate/chargegate/ledger"
)

// An operator pauses and resumes a session over MQTT against the real daemon: the relay opens
// and the session goes on, the chain records both events and a single end.
func TestPauseAndResumeOverMQTT(t *testing.T) {
	s := rig.StartStack(t, rig.StackOptions{Broker: true, NoNode: true})
	dir := t.TempDir()
	g := startGateway(t, dir, testConfig(s, filepath.Join(dir, "data"), ""))
	op := rig.ConnectOperator(t, s.Broker)
	op.WaitOnline(g.Device)
	if rep := op.Command(g.Device, "pause", `{"request_id":"p0"}`); rep["ok"] != false || errCode(rep) != "no_session" {
		t.Errorf("pause without a session answered %v, want no_session", rep)
	}
	start := op.Command(g.Device, "start", `{"request_id":"p1","id_token":"TOKEN1"}`)
	if start["ok"] != true {
		t.Fatalf("start: %v", start)
	}
	if rep := op.Command(g.Device, "pause", `{"request_id":"p2"}`); rep["ok"] != true {
		t.Fatalf("pause: %v", rep)
	}
	st := g.Status(t)
	if st.Session == nil || st.Session.State != "paused" || st.RelayClosed {
		t.Fatalf("after pause: session %+v, relay closed %t", st.Session, st.RelayClosed)
	}
	if rep := op.Command(g.Device, "pause", `{"request_id":"p3"}`); errCode(rep) != "session_state" {
		t.Errorf("second pause answered %v, want session_state", rep)
	}
	if rep := op.Command(g.Device, "resume", `{"request_id":"p4"}`); rep["ok"] != true {
		t.Fatalf("resume: %v", rep)
	}
	if st := g.Status(t); st.Session == nil || st.Session.State != "charging" || !st.RelayClosed {
		t.Fatalf("after resume: session %+v, relay closed %t", st.Session, st.RelayClosed)
	}
	if rep := op.Command(g.Device, "stop", `{"request_id":"p5"}`); rep["ok"] != true {
		t.Fatalf("stop: %v", rep)
	}
	g.StopClean(t)
	var paused, resumed, ends int
	for _, e := range chain(t, g.DataDir) {
		switch {
		case e.Kind == ledger.KindEvent && e.Event == ledger.EventSessionPaused && e.Detail == "by=operator":
			paused++
		case e.Kind == ledger.KindEvent && e.Event == ledger.EventSessionResumed && e.Detail == "by=operator":
			resumed++
		case e.Kind == ledger.KindSessionEnd:
			ends++
		}
	}
	if paused != 1 || resumed != 1 || ends != 1 {
		t.Errorf("chain holds %d pause, %d resume and %d end entries, want one of each", paused, resumed, ends)
	}
	rig.MustVerify(t, g.DataDir)
}

// errCode is the error code of a command reply, "" when it has none.
func errCode(rep map[string]any) string {
	e, _ := rep["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}
