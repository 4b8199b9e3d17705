package mqtt_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway"
	"github.com/chargegate/chargegate/gateway/mqtt"
	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ota"
)

var update = flag.Bool("update", false, "rewrite the golden payloads in testdata/")

// Fixed example keys: the device's entry key and an operator's command key.
var (
	deviceKey   = ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	operatorKey = seededKey("example operator")
	device      = ledger.DeviceID(deviceKey.Public().(ed25519.PublicKey))
	t0          = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
)

func seededKey(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte(name))
	return ed25519.NewKeyFromSeed(seed[:])
}

// golden compares what the wire type marshals to with testdata/name.json (indented there for
// people; indentation changes no byte of a value, so equal indented forms mean equal payloads).
func golden(t *testing.T, name string, wire []byte) {
	t.Helper()
	var got bytes.Buffer
	if err := json.Indent(&got, wire, "", "  "); err != nil {
		t.Fatalf("%s: not JSON: %v", name, err)
	}
	got.WriteByte('\n')
	path := filepath.Join("testdata", name+".json")
	if *update {
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden payload (run go test -update to create): %v", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("%s payload changed — receivers parse it; if intended, run go test -update and document it in doc.go\n got: %s\nwant: %s", name, got.Bytes(), want)
	}
}

func marshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func exampleEntry() ledger.Entry {
	e := ledger.Entry{
		Version: ledger.Version, DeviceKey: deviceKey.Public().(ed25519.PublicKey), Seq: 43,
		Record: ledger.Record{
			Time: t0, TimeStatus: ledger.TimeSynchronised, Kind: ledger.KindSessionEnd, SessionID: "8f3a6c0d2b1e4a57",
			MeterSerial: "71000001", ImportMWh: 1_234_567, ExportMWh: 12,
		},
	}
	e.Sign(deviceKey)
	return e
}

func ptr[T any](v T) *T { return &v }

// signedCommand builds the envelope an operator publishes on cmd/{name}.
func signedCommand(t *testing.T, name string, c gateway.Command) (payload, envelope []byte) {
	payload = marshal(t, c)
	sig := ed25519.Sign(operatorKey, gateway.CommandSigningInput(device, name, payload))
	return payload, marshal(t, gateway.SignedCommand{
		Payload: base64.StdEncoding.EncodeToString(payload), Sig: base64.StdEncoding.EncodeToString(sig),
	})
}

// TestGoldenPayloads freezes every payload the link carries, marshalled by the real Go types.
func TestGoldenPayloads(t *testing.T) {
	reading, err := mqtt.EncodeReading(exampleEntry())
	if err != nil {
		t.Fatal(err)
	}
	var root, block [32]byte
	for i := range root {
		root[i], block[i] = byte(i), byte(0xa0+i)
	}
	authorize := gateway.Command{RequestID: "op-0001", IDToken: "04A2B3C4D5E6F7", IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	cmdPayload, cmdEnvelope := signedCommand(t, gateway.CmdAuthorize, authorize)

	cases := []struct {
		name string
		wire []byte
	}{
		{"status_online", marshal(t, mqtt.Presence{Device: device, State: mqtt.StateOnline})},
		{"status_offline", marshal(t, mqtt.Presence{Device: device, State: mqtt.StateOffline})},
		{"telemetry", marshal(t, gateway.Telemetry{
			Time: t0, Serial: "71000001", ImportMWh: 1_234_567, ExportMWh: 12, PowerW: 11040.5,
			VoltageV: []float64{230.1, 229.8, 231}, CurrentA: []float64{16, 16.1, 15.9}, FrequencyHz: 50.01,
			RelayClosed: true, SessionID: "8f3a6c0d2b1e4a57",
		})},
		{"telemetry_evse", marshal(t, gateway.Telemetry{
			EVSE: 2, Time: t0, Serial: "71000043", ImportMWh: 523_400, PowerW: 5934,
			VoltageV: []float64{230, 230, 230}, CurrentA: []float64{8.6, 8.6, 8.6},
			RelayClosed: true, SessionID: "8f3a6c0d2b1e4a58", AllowedA: ptr(8.6), AllowedReason: "site_limit",
		})},
		{"cmd_limit_payload", marshal(t, gateway.Command{RequestID: "op-0002", EVSE: 2, Amps: ptr(10.0), Until: t0.Add(2 * time.Hour)})},
		{"readings", reading},
		{"sessions", marshal(t, gateway.SessionRecord{
			ID: "8f3a6c0d2b1e4a57", EVSEID: "DE*ABC*E123", IDToken: "04A2B3C4D5E6F7", MeterSerial: "71000001",
			Start: t0.Add(-time.Hour), StartStatus: 'S', End: t0, EndStatus: 'S',
			BeginMWh: 1_223_567, EndMWh: 1_234_567, EnergyMWh: 11_000, Reason: ledger.EndRemote,
			BeginSeq: 1, EndSeq: 43, OCMF: `OCMF|{"FV":"1.0"}|{"SA":"ECDSA-secp256r1-SHA256","SD":"3045"}`, OCMFSigner: "gateway",
		})},
		{"anchors", marshal(t, mqtt.NewAnchorMessage(ledger.AnchorRecord{
			First: 1, Last: 43, Root: root, BlockID: block, State: ledger.AnchorConfirmed, Milestone: 5120, UpdatedAt: t0,
		}))},
		{"update", marshal(t, ota.Status{
			State: ota.StateWaiting, Percent: 100, Version: "1.4.0", TargetVersion: "1.5.0", SecurityFloor: 3, Slot: "b",
			WaitingFor: "charging session", Error: "", UpdatedAt: t0,
		})},
		{"cmd_authorize_payload", cmdPayload},
		{"cmd_authorize", cmdEnvelope},
		{"reply_ok", marshal(t, mqtt.Reply{
			RequestID: "op-0001", OK: true, Result: gateway.Result{"session_id": "8f3a6c0d2b1e4a57", "begin_seq": 1}, Time: t0,
		})},
		{"reply_error", marshal(t, mqtt.Reply{
			RequestID: "op-0002", Error: &mqtt.ReplyError{Code: gateway.ErrorCode(gateway.ErrNoSession), Message: gateway.ErrNoSession.Error()}, Time: t0,
		})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { golden(t, c.name, c.wire) })
	}
}

// TestGoldenCommandVerifies reads the golden signed command as the device does: it opens under
// the operator's key for this device and this name only, and parses to the command signed.
func TestGoldenCommandVerifies(t *testing.T) {
	env, err := os.ReadFile(filepath.Join("testdata", "cmd_authorize.json"))
	if err != nil {
		t.Fatal(err)
	}
	keys := []ed25519.PublicKey{operatorKey.Public().(ed25519.PublicKey)}
	inner, err := gateway.NewCommandVerifier(device, keys).Open(gateway.CmdAuthorize, env)
	if err != nil {
		t.Fatalf("open golden command: %v", err)
	}
	got, err := gateway.ParseCommand(gateway.CmdAuthorize, inner)
	if err != nil {
		t.Fatalf("parse golden command: %v", err)
	}
	if want := (gateway.Command{Name: gateway.CmdAuthorize, RequestID: "op-0001", IDToken: "04A2B3C4D5E6F7", IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}); !reflect.DeepEqual(got, want) {
		t.Errorf("golden command = %+v, want %+v", got, want)
	}
	for _, wrong := range []struct{ device, name string }{
		{device, gateway.CmdStart},                 // another command
		{"0000000000000000", gateway.CmdAuthorize}, // another charger
	} {
		if _, err := gateway.NewCommandVerifier(wrong.device, keys).Open(wrong.name, env); err == nil {
			t.Errorf("golden command for %s/%s opened as %s/%s", device, gateway.CmdAuthorize, wrong.device, wrong.name)
		}
	}
}

// TestCodesDocumented checks that every reply code is listed in the package documentation's
// table, once, and that the list has no duplicates.
func TestCodesDocumented(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	codes := gateway.ErrorCodes()
	if len(slices.Compact(slices.Sorted(slices.Values(codes)))) != len(codes) {
		t.Errorf("gateway.ErrorCodes() has duplicates: %v", codes)
	}
	for _, c := range codes {
		if n := strings.Count(string(doc), "\n//\t"+c+" "); n != 1 {
			t.Errorf("code %q appears %d times in doc.go's table, want 1", c, n)
		}
	}
}
