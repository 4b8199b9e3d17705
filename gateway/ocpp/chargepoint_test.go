package ocpp_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway"
	"github.com/chargegate/chargegate/gateway/ocpp"
	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/ocmf"
)

// standIn plays the gateway's control loop towards the charge point: it starts and stops
// sessions, feeds telemetry and status, and signs each finished session as a real OCMF
// record with its own P-256 key, as gateway.NewOCMFSigner does.
type standIn struct {
	t   *testing.T
	key *ecdsa.PrivateKey

	mu        sync.Mutex
	cp        face
	importMWh int64
	session   *gateway.SessionRecord
	alarms    map[string]string
	held      bool
	n         int
	now       time.Time
}

func newStandIn(t *testing.T) *standIn {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &standIn{t: t, key: key, importMWh: 1_234_567_890, alarms: map[string]string{}, now: time.Now().Truncate(time.Second)}
}

func (g *standIn) spki() []byte {
	der, _ := x509.MarshalPKIXPublicKey(&g.key.PublicKey)
	return der
}

// face is what the stand-in drives: the 1.6 ChargePoint or the 2.0.1 ChargePoint201.
type face interface {
	Status(gateway.Status)
	Telemetry(gateway.Telemetry)
	Session(gateway.SessionRecord)
	SessionStarted(ocpp.SessionStart)
}

func (g *standIn) attach(cp face) {
	g.mu.Lock()
	g.cp = cp
	g.mu.Unlock()
	g.publish()
}

// publish sends the current status to the charge point, as the appliance's poll does.
func (g *standIn) publish() {
	g.mu.Lock()
	st := gateway.Status{Time: time.Now(), Meter: gateway.MeterStatus{ImportMWh: g.importMWh, Readable: true}, Alarms: map[string]string{}}
	for k, v := range g.alarms {
		st.Alarms[k] = v
	}
	if s := g.session; s != nil {
		st.RelayClosed = true
		st.Session = &gateway.SessionStatus{ID: s.ID, State: "charging", StartedAt: s.Start, EnergyMWh: g.importMWh - s.BeginMWh}
	}
	cp := g.cp
	g.mu.Unlock()
	cp.Status(st)
}

// Start implements ocpp.Sessions.
func (g *standIn) Start(ctx context.Context, idTag string) (string, error) {
	g.mu.Lock()
	if g.session != nil {
		g.mu.Unlock()
		return "", gateway.ErrSessionRunning
	}
	if g.held {
		g.mu.Unlock()
		return "", gateway.ErrUpdating
	}
	g.n++
	g.now = g.now.Add(time.Second)
	g.session = &gateway.SessionRecord{ID: fmt.Sprintf("s%d-%d", g.n, time.Now().UnixNano()), IDToken: idTag, MeterSerial: "SIM-1",
		Start: g.now, StartStatus: byte(ledger.TimeSynchronised), BeginMWh: g.importMWh}
	id := g.session.ID
	g.mu.Unlock()
	g.tick(0)
	g.publish()
	return id, nil
}

// Hold implements ocpp.Sessions as gateway.Controller.Hold does.
func (g *standIn) Hold(ctx context.Context) (func(), error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.session != nil {
		return nil, gateway.ErrSessionRunning
	}
	g.held = true
	return func() { g.mu.Lock(); g.held = false; g.mu.Unlock() }, nil
}

// Stop implements ocpp.Sessions: an operator stop.
func (g *standIn) Stop(ctx context.Context, sessionID string) error {
	g.mu.Lock()
	running := g.session != nil && g.session.ID == sessionID
	g.mu.Unlock()
	if !running {
		return gateway.ErrNoSession
	}
	g.end(ledger.EndRemote)
	return nil
}

// startLocal starts a session at the charger and announces it, as the appliance's wiring does
// for a start command it ran.
func (g *standIn) startLocal(idTag string) {
	id, err := g.Start(context.Background(), idTag)
	if err != nil {
		g.t.Fatal(err)
	}
	g.mu.Lock()
	s := *g.session
	cp := g.cp
	g.mu.Unlock()
	cp.SessionStarted(ocpp.SessionStart{ID: id, IDTag: idTag, Time: s.Start, MeterMWh: s.BeginMWh})
}

// tick advances the meter by mwh and the clock by a second, and sends a telemetry sample.
func (g *standIn) tick(mwh int64) {
	g.mu.Lock()
	g.importMWh += mwh
	g.now = g.now.Add(time.Second)
	t := gateway.Telemetry{Time: g.now, Serial: "SIM-1", ImportMWh: g.importMWh, PowerW: 7200, VoltageV: []float64{230.1}, CurrentA: []float64{31.3}, FrequencyHz: 50, RelayClosed: g.session != nil}
	if g.session != nil {
		t.SessionID = g.session.ID
	}
	cp := g.cp
	g.mu.Unlock()
	cp.Telemetry(t)
}

// end finishes the running session with reason and hands its signed record to the charge point.
func (g *standIn) end(reason string) gateway.SessionRecord {
	g.mu.Lock()
	s := g.session
	g.session = nil
	g.now = g.now.Add(time.Second)
	s.End, s.EndStatus, s.EndMWh, s.Reason = g.now, byte(ledger.TimeSynchronised), g.importMWh, reason
	s.EnergyMWh = s.EndMWh - s.BeginMWh
	payload, err := ocmf.BuildPayload(ocmf.Session{GatewayID: "chargegate", GatewaySerial: "TEST", MeterSerial: s.MeterSerial,
		IdentStatus: true, IdentType: "CENTRAL", IdentData: s.IDToken, CurrentType: "AC",
		Readings: []ocmf.Reading{{Time: s.Start, TimeStatus: 'S', TX: "B", EnergyMWh: s.BeginMWh}, {Time: s.End, TimeStatus: 'S', TX: "L", EnergyMWh: s.EndMWh}}}, uint64(g.n), 3)
	if err != nil {
		g.t.Fatal(err)
	}
	if s.OCMF, err = ocmf.SignPayload(payload, g.key); err != nil {
		g.t.Fatal(err)
	}
	s.OCMFSigner = "gateway"
	cp := g.cp
	g.mu.Unlock()
	cp.Session(*s)
	g.publish()
	return *s
}

type cpOpt func(*ocpp.Config)

// startCP opens the queue in dir and runs a charge point against c until the test ends or the
// returned stop is called.
func startCP(t *testing.T, c *csms, g *standIn, dir string, opts ...cpOpt) (cp *ocpp.ChargePoint, q *ocpp.Queue, stop func()) {
	t.Helper()
	q, err := ocpp.OpenQueue(context.Background(), filepath.Join(dir, "ocpp.db"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := ocpp.Config{
		URL: c.URL(), Identity: "CG-TEST-1", Vendor: "chargegate", Model: "chargegate-test", SerialNumber: "TEST-1",
		FirmwareVersion: "test", MeterPublicKey: hex.EncodeToString(g.spki()),
		HeartbeatInterval: time.Second, MeterValueSampleInterval: time.Second, RetryInterval: time.Second, BootRetry: time.Second,
		CallTimeout: 5 * time.Second, ReconnectMin: 100 * time.Millisecond, ReconnectMax: 500 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, o := range opts {
		o(&cfg)
	}
	cp, err = ocpp.New(cfg, q, g)
	if err != nil {
		t.Fatal(err)
	}
	g.attach(cp)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cp.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
			q.Close()
		})
	}
	t.Cleanup(stop)
	return cp, q, stop
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	if os.Getenv("OCPP_TEST_LOG") != "" {
		w.t.Logf("%s", p)
	}
	return len(p), nil
}

func params[T any](t *testing.T, l csmsLine) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(l.Params, &v); err != nil {
		t.Fatalf("decode %s params %s: %v", l.Action, l.Params, err)
	}
	return v
}

type statusNote struct {
	ConnectorID int    `json:"connectorId"`
	ErrorCode   string `json:"errorCode"`
	Status      string `json:"status"`
	Info        string `json:"info"`
}

func TestBootPendingThenAcceptedHeartbeatStatus(t *testing.T) {
	c := startCSMS(t, "--boot", "Pending,Accepted", "--interval", "1")
	g := newStandIn(t)
	startCP(t, c, g, t.TempDir())

	boots := c.WaitCalls("BootNotification", 2)
	b := params[map[string]string](t, boots[0])
	if b["chargePointVendor"] != "chargegate" || b["chargePointModel"] != "chargegate-test" {
		t.Errorf("BootNotification = %v", b)
	}
	c.WaitCalls("Heartbeat", 2)
	// Nothing but BootNotification before the CSMS accepted (OCPP 1.6 §4.2.1).
	for _, l := range c.All() {
		if l.Type == "call" {
			if l.Action != "BootNotification" {
				t.Errorf("%s sent while the boot was pending", l.Action)
			}
			if l.Action == "BootNotification" && len(c.Calls("BootNotification")) >= 2 && l.ID == boots[1].ID {
				break
			}
		}
	}
	c.WaitFor("Available on connectors 0 and 1", func() bool {
		seen := map[int]string{}
		for _, l := range c.Calls("StatusNotification") {
			s := params[statusNote](t, l)
			seen[s.ConnectorID] = s.Status + "/" + s.ErrorCode
		}
		return seen[0] == "Available/NoError" && seen[1] == "Available/NoError"
	})

	// A welded contactor: connector 1 Faulted with PowerSwitchFailure; connector 0 stays.
	g.mu.Lock()
	g.alarms[gateway.AlarmRelay] = "welded"
	g.mu.Unlock()
	g.publish()
	c.WaitFor("connector 1 Faulted", func() bool {
		n := c.Calls("StatusNotification")
		s := params[statusNote](t, n[len(n)-1])
		return s.ConnectorID == 1 && s.Status == "Faulted" && s.ErrorCode == "PowerSwitchFailure" && s.Info == "relay_fault: welded"
	})
	// Faulted: a remote start is refused.
	if got := c.Status("RemoteStartTransaction", map[string]any{"idTag": "TAG"}); got != "Rejected" {
		t.Errorf("RemoteStartTransaction while Faulted = %s, want Rejected", got)
	}
	g.mu.Lock()
	delete(g.alarms, gateway.AlarmRelay)
	g.mu.Unlock()
	g.publish()
	c.WaitFor("connector 1 Available again", func() bool {
		n := c.Calls("StatusNotification")
		s := params[statusNote](t, n[len(n)-1])
		return s.ConnectorID == 1 && s.Status == "Available"
	})
}

func TestConfigurationAndDataTransfer(t *testing.T) {
	c := startCSMS(t, "--interval", "30")
	g := newStandIn(t)
	dir := t.TempDir()
	cp, _, stop := startCP(t, c, g, dir)
	c.WaitFor("online", cp.Online)

	for _, tc := range []struct{ key, value, want string }{
		{"HeartbeatInterval", "45", "Accepted"},
		{"HeartbeatInterval", "-3", "Rejected"},
		{"MeterValuesSampledData", "Energy.Active.Import.Register,Power.Active.Import", "Accepted"},
		{"MeterValuesSampledData", "SoC", "Rejected"},
		{"NumberOfConnectors", "2", "Rejected"},
		{"MeterPublicKey1", "00", "Rejected"},
		{"NoSuchKey", "1", "NotSupported"},
		{"AuthorizeRemoteTxRequests", "maybe", "Rejected"},
	} {
		if got := c.Status("ChangeConfiguration", map[string]string{"key": tc.key, "value": tc.value}); got != tc.want {
			t.Errorf("ChangeConfiguration %s=%s: %s, want %s", tc.key, tc.value, got, tc.want)
		}
	}
	res, err := c.Call("GetConfiguration", map[string]any{"key": []string{"HeartbeatInterval", "NumberOfConnectors", "MeterPublicKey1", "Bogus"}})
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		ConfigurationKey []struct {
			Key      string
			Readonly bool
			Value    string
		}
		UnknownKey []string
	}
	json.Unmarshal(res, &conf)
	got := map[string]string{}
	for _, k := range conf.ConfigurationKey {
		got[k.Key] = k.Value + "/" + strconv.FormatBool(k.Readonly)
	}
	want := map[string]string{"HeartbeatInterval": "45/false", "NumberOfConnectors": "1/true", "MeterPublicKey1": hex.EncodeToString(g.spki()) + "/true"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("GetConfiguration %s = %q, want %q", k, got[k], v)
		}
	}
	if !slices.Equal(conf.UnknownKey, []string{"Bogus"}) {
		t.Errorf("unknownKey = %v, want [Bogus]", conf.UnknownKey)
	}
	// All keys: no key is left out, and every one is within the 500-character value limit.
	res, err = c.Call("GetConfiguration", map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(res, &conf)
	if len(conf.ConfigurationKey) < 20 {
		t.Errorf("GetConfiguration without keys returned %d keys", len(conf.ConfigurationKey))
	}

	if got := c.Status("DataTransfer", map[string]string{"vendorId": "com.example", "data": "x"}); got != "UnknownVendorId" {
		t.Errorf("DataTransfer = %s, want UnknownVendorId", got)
	}
	// FTP is refused clearly: no file name, and UploadFailed.
	if res, err := c.Call("GetDiagnostics", map[string]any{"location": "ftp://diagnostics.example/"}); err != nil || string(res) != "{}" {
		t.Errorf("GetDiagnostics to ftp:// = %s, %v; want {} (no file)", res, err)
	}
	c.WaitFor("DiagnosticsStatusNotification UploadFailed", func() bool {
		n := c.Calls("DiagnosticsStatusNotification")
		return len(n) == 1 && strings.Contains(string(n[0].Params), `"UploadFailed"`)
	})

	// A changed key survives a restart of the charge point.
	stop()
	cp, _, _ = startCP(t, c, g, dir)
	c.WaitFor("online again", cp.Online)
	res, _ = c.Call("GetConfiguration", map[string]any{"key": []string{"MeterValuesSampledData", "HeartbeatInterval"}})
	json.Unmarshal(res, &conf)
	// HeartbeatInterval is the CSMS's BootNotification interval again (OCPP 1.6 §4.2).
	if len(conf.ConfigurationKey) != 2 || conf.ConfigurationKey[0].Value != "Energy.Active.Import.Register,Power.Active.Import" || conf.ConfigurationKey[1].Value != "30" {
		t.Errorf("after a restart: %+v, want the changed MeterValuesSampledData and HeartbeatInterval 30", conf.ConfigurationKey)
	}
	// A changed HeartbeatInterval applies at once: with 30 s from the boot no heartbeat would
	// come within the test's wait.
	if got := c.Status("ChangeConfiguration", map[string]string{"key": "HeartbeatInterval", "value": "1"}); got != "Accepted" {
		t.Fatal(got)
	}
	c.WaitCalls("Heartbeat", 2)
}

type sampledValue struct {
	Value     string `json:"value"`
	Context   string `json:"context"`
	Format    string `json:"format"`
	Measurand string `json:"measurand"`
	Unit      string `json:"unit"`
}

type meterValue struct {
	Timestamp    string         `json:"timestamp"`
	SampledValue []sampledValue `json:"sampledValue"`
}

type stopTx struct {
	IDTag           string       `json:"idTag"`
	MeterStop       int64        `json:"meterStop"`
	TransactionID   int64        `json:"transactionId"`
	Reason          string       `json:"reason"`
	TransactionData []meterValue `json:"transactionData"`
}

type startTx struct {
	ConnectorID int    `json:"connectorId"`
	IDTag       string `json:"idTag"`
	MeterStart  int64  `json:"meterStart"`
}

func transactionIDs(t *testing.T, c *csms) []int64 {
	var ids []int64
	for _, l := range c.All() {
		if l.Type == "reply" && l.Action == "StartTransaction" {
			var r struct{ TransactionID int64 }
			json.Unmarshal(l.Result, &r)
			ids = append(ids, r.TransactionID)
		}
	}
	return ids
}

// signedData returns the SignedData values of a StopTransaction's transactionData.
func signedData(st stopTx) []sampledValue {
	var out []sampledValue
	for _, mv := range st.TransactionData {
		for _, sv := range mv.SampledValue {
			if sv.Format == "SignedData" {
				out = append(out, sv)
			}
		}
	}
	return out
}

func TestSessionWithSignedMeterValues(t *testing.T) {
	c := startCSMS(t, "--interval", "30", "--txid-start", "7001")
	g := newStandIn(t)
	cp, q, _ := startCP(t, c, g, t.TempDir())
	c.WaitFor("online", cp.Online)

	// Every measurand the charge point offers, so that the strict CSMS checks each unit.
	all := "Energy.Active.Import.Register,Energy.Active.Export.Register,Power.Active.Import,Current.Import,Voltage"
	if got := c.Status("ChangeConfiguration", map[string]string{"key": "MeterValuesSampledData", "value": all}); got != "Accepted" {
		t.Fatal(got)
	}
	g.startLocal("04A1B2C3D4E5F6")
	for range 4 {
		g.tick(2_500_000) // 2.5 kWh a sample
	}
	rec := g.end(ledger.EndLocal)
	stops := c.WaitCalls("StopTransaction", 1)
	c.WaitFor("the outbox to empty", func() bool { n, _ := q.Backlog(context.Background()); return n == 0 })

	start := params[startTx](t, c.Calls("StartTransaction")[0])
	if start.ConnectorID != 1 || start.IDTag != "04A1B2C3D4E5F6" || start.MeterStart != rec.BeginMWh/1000 {
		t.Errorf("StartTransaction = %+v, want connector 1, tag 04A1B2C3D4E5F6, meterStart %d", start, rec.BeginMWh/1000)
	}
	mvs := c.Calls("MeterValues")
	if len(mvs) < 3 {
		t.Fatalf("%d MeterValues, want a sample per second of the session", len(mvs))
	}
	var last int64
	for _, l := range mvs {
		m := params[struct {
			ConnectorID   int          `json:"connectorId"`
			TransactionID int64        `json:"transactionId"`
			MeterValue    []meterValue `json:"meterValue"`
		}](t, l)
		if m.TransactionID != 7001 || m.ConnectorID != 1 {
			t.Errorf("MeterValues for transaction %d connector %d, want 7001 on 1", m.TransactionID, m.ConnectorID)
		}
		sv := m.MeterValue[0].SampledValue[0]
		wh, _ := strconv.ParseInt(sv.Value, 10, 64)
		if sv.Measurand != "Energy.Active.Import.Register" || sv.Unit != "Wh" || sv.Context != "Sample.Periodic" || wh <= last {
			t.Errorf("sampled value %+v after %d Wh: want a rising Energy.Active.Import.Register in Wh", sv, last)
		}
		last = wh
		var got []string
		for _, sv := range m.MeterValue[0].SampledValue {
			got = append(got, sv.Measurand+"/"+sv.Unit+"="+sv.Value)
		}
		if want := []string{"Energy.Active.Import.Register/Wh=" + sv.Value, "Energy.Active.Export.Register/Wh=0", "Power.Active.Import/W=7200.0", "Current.Import/A=31.30", "Voltage/V=230.1"}; !slices.Equal(got, want) {
			t.Errorf("sampled values %v, want %v", got, want)
		}
	}
	st := params[stopTx](t, stops[0])
	if st.TransactionID != 7001 || st.Reason != "Local" || st.MeterStop != rec.EndMWh/1000 || st.IDTag != "04A1B2C3D4E5F6" {
		t.Errorf("StopTransaction = %+v, want transaction 7001, Local, meterStop %d", st, rec.EndMWh/1000)
	}
	sd := signedData(st)
	if len(sd) != 1 || sd[0].Context != "Transaction.End" || sd[0].Value != rec.OCMF {
		t.Fatalf("signed values %+v, want the session's OCMF record once, at Transaction.End", sd)
	}
	if err := ocmf.Verify(sd[0].Value, g.spki()); err != nil {
		t.Errorf("the OCMF record the CSMS received does not verify: %v", err)
	}
	// Tampered in transit it would not.
	if err := ocmf.Verify(sd[0].Value[:20]+"X"+sd[0].Value[21:], g.spki()); err == nil {
		t.Errorf("a changed record verifies")
	}
	c.WaitFor("connector 1 Charging then Available", func() bool {
		var seq []string
		for _, l := range c.Calls("StatusNotification") {
			if s := params[statusNote](t, l); s.ConnectorID == 1 {
				seq = append(seq, s.Status)
			}
		}
		return slices.Contains(seq, "Charging") && seq[len(seq)-1] == "Available"
	})
}

func TestRemoteStartStop(t *testing.T) {
	c := startCSMS(t, "--interval", "30", "--txid-start", "42")
	g := newStandIn(t)
	cp, _, _ := startCP(t, c, g, t.TempDir())
	c.WaitFor("online", cp.Online)

	if got := c.Status("RemoteStartTransaction", map[string]any{"connectorId": 2, "idTag": "REMOTE1"}); got != "Rejected" {
		t.Errorf("RemoteStartTransaction on connector 2 = %s, want Rejected", got)
	}
	if got := c.Status("RemoteStartTransaction", map[string]any{"connectorId": 1, "idTag": "REMOTE1"}); got != "Accepted" {
		t.Fatalf("RemoteStartTransaction = %s, want Accepted", got)
	}
	start := params[startTx](t, c.WaitCalls("StartTransaction", 1)[0])
	if start.IDTag != "REMOTE1" {
		t.Errorf("StartTransaction idTag %q, want REMOTE1", start.IDTag)
	}
	if got := c.Status("RemoteStartTransaction", map[string]any{"idTag": "REMOTE2"}); got != "Rejected" {
		t.Errorf("RemoteStartTransaction while charging = %s, want Rejected", got)
	}
	g.tick(1_000_000)
	if got := c.Status("RemoteStopTransaction", map[string]any{"transactionId": 41}); got != "Rejected" {
		t.Errorf("RemoteStopTransaction of an unknown transaction = %s, want Rejected", got)
	}
	if got := c.Status("RemoteStopTransaction", map[string]any{"transactionId": 42}); got != "Accepted" {
		t.Fatalf("RemoteStopTransaction = %s, want Accepted", got)
	}
	st := params[stopTx](t, c.WaitCalls("StopTransaction", 1)[0])
	if st.TransactionID != 42 || st.Reason != "Remote" || st.IDTag != "REMOTE1" {
		t.Errorf("StopTransaction = %+v, want transaction 42, reason Remote, idTag REMOTE1", st)
	}
	if len(signedData(st)) != 1 || ocmf.Verify(signedData(st)[0].Value, g.spki()) != nil {
		t.Errorf("StopTransaction has no verifying signed value: %+v", st.TransactionData)
	}
}
