package ocpp_test

import (
	"context"
	"errors"
	"testing"

	"github.com/chargegate/chargegate/gateway"
	"github.com/chargegate/chargegate/gateway/ocpp"
	"github.com/chargegate/chargegate/ledger"
)

// Do runs start and stop as gateway.Controller.Do does, so that the stand-in can sit behind
// the adapters.
func (g *standIn) Do(ctx context.Context, c gateway.Command) (gateway.Result, error) {
	switch c.Name {
	case gateway.CmdStart:
		id, err := g.Start(ctx, c.IDToken)
		if err != nil {
			return nil, err
		}
		return gateway.Result{"session_id": id}, nil
	case gateway.CmdStop:
		g.mu.Lock()
		s := g.session
		g.mu.Unlock()
		if s == nil {
			return nil, gateway.ErrNoSession
		}
		g.end(ledger.EndRemote)
		return gateway.Result{"session_id": s.ID}, nil
	}
	return nil, gateway.ErrBadCommand
}

// Status returns what publish sends.
func (g *standIn) Status() gateway.Status {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := gateway.Status{Meter: gateway.MeterStatus{ImportMWh: g.importMWh}, Alarms: map[string]string{}}
	if s := g.session; s != nil {
		st.Session = &gateway.SessionStatus{ID: s.ID, State: "charging", StartedAt: s.Start, EnergyMWh: g.importMWh - s.BeginMWh}
	}
	return st
}

func TestControllerAdapters(t *testing.T) {
	c := startCSMS(t, "--interval", "30")
	g := newStandIn(t)
	cp, _, _ := startCP(t, c, g, t.TempDir())
	c.WaitFor("online", cp.Online)
	ctx := context.Background()

	// A start through the other links' commander reaches the CSMS with its token on the next
	// status poll.
	cmd := cp.Commander(g)
	if _, err := cmd.Do(ctx, gateway.Command{Name: gateway.CmdStart, RequestID: "r1", IDToken: "RFID-9"}); err != nil {
		t.Fatal(err)
	}
	g.publish()
	start := params[startTx](t, c.WaitCalls("StartTransaction", 1)[0])
	if start.IDTag != "RFID-9" || start.MeterStart != 1_234_567 {
		t.Errorf("StartTransaction %+v, want RFID-9 from 1234567 Wh", start)
	}

	sessions := ocpp.ControllerSessions(g)
	if err := sessions.Stop(ctx, "not-this-one"); !errors.Is(err, gateway.ErrNoSession) {
		t.Errorf("Stop of another session: %v, want ErrNoSession", err)
	}
	if err := sessions.Stop(ctx, g.Status().Session.ID); err != nil {
		t.Fatal(err)
	}
	if st := params[stopTx](t, c.WaitCalls("StopTransaction", 1)[0]); st.Reason != "Remote" || st.IDTag != "RFID-9" {
		t.Errorf("StopTransaction %+v, want Remote for RFID-9", st)
	}

	// A session nobody announced is begun on its second sighting, under FallbackIDTag.
	id, err := sessions.Start(ctx, "")
	if err != nil || id == "" {
		t.Fatalf("Start: %q, %v", id, err)
	}
	g.publish()
	g.publish()
	if start := params[startTx](t, c.WaitCalls("StartTransaction", 2)[1]); start.IDTag != "chargegate" {
		t.Errorf("StartTransaction of an unannounced session: idTag %q, want the fallback", start.IDTag)
	}
}
