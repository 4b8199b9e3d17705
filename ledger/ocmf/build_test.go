package ocmf_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chargegate/chargegate/ledger/ocmf"
	"github.com/chargegate/chargegate/ledger/sqlite"
)

func session() ocmf.Session {
	begin := time.Date(2026, 7, 1, 9, 30, 0, 0, time.FixedZone("CEST", 2*3600))
	return ocmf.Session{
		GatewayID: "chargegate gateway", GatewaySerial: "cg-0001", GatewayVersion: "1.0.0",
		MeterVendor: "Acme", MeterModel: "EM3", MeterSerial: "EM-77",
		IdentStatus: true, IdentLevel: "VERIFIED", IdentFlags: []string{"RFID_PLAIN", "OCPP_AUTH"},
		IdentType: "ISO14443", IdentData: "1F2E3D4C",
		ChargePointIDType: "EVSEID", ChargePointID: "DE*CGW*E0001*1",
		Readings: []ocmf.Reading{
			{Time: begin, TimeStatus: 'S', TX: "B", EnergyMWh: 1_234_500_000},
			{Time: begin.Add(time.Hour), TimeStatus: 'S', TX: "E", EnergyMWh: 1_245_678_901},
		},
	}
}

func openStore(t *testing.T, dir string) *sqlite.Store {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	s, err := sqlite.Open(context.Background(), dir, sqlite.Options{Key: key, Ballast: -1})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSignerRecordsVerifyAndPaginate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	store := openStore(t, dir)
	defer store.Close()
	signer, err := ocmf.NewSigner(key, store, 3)
	if err != nil {
		t.Fatal(err)
	}
	rec1, err := signer.Sign(ctx, session())
	if err != nil {
		t.Fatal(err)
	}
	want := `OCMF|{"FV":"1.0","GI":"chargegate gateway","GS":"cg-0001","GV":"1.0.0","PG":"T1","MV":"Acme","MM":"EM3","MS":"EM-77","IS":true,"IL":"VERIFIED","IF":["RFID_PLAIN","OCPP_AUTH"],"IT":"ISO14443","ID":"1F2E3D4C","CT":"EVSEID","CI":"DE*CGW*E0001*1","RD":[{"TM":"2026-07-01T09:30:00,000+0200 S","TX":"B","RV":1234.500,"RI":"01-00:01.08.00*FF","RU":"kWh","RT":"AC","EF":"","ST":"G"},{"TM":"2026-07-01T10:30:00,000+0200 S","TX":"E","RV":1245.678,"RI":"01-00:01.08.00*FF","RU":"kWh","RT":"AC","EF":"","ST":"G"}]}|`
	if !strings.HasPrefix(rec1, want) {
		t.Fatalf("record:\n got %s\nwant %s…", rec1, want)
	}
	if err := ocmf.Verify(rec1, signer.PublicKey()); err != nil {
		t.Fatalf("own record does not verify: %v", err)
	}
	r, err := ocmf.Parse(rec1)
	if err != nil || len(r.Data.RD) != 2 || string(r.Data.RD[1].RV) != "1245.678" || r.Data.PG != "T1" {
		t.Fatalf("parsed = %+v, %v", r, err)
	}
	rec2, _ := signer.Sign(ctx, session())
	if r2, _ := ocmf.Parse(rec2); r2.Data.PG != "T2" {
		t.Fatalf("second record PG = %s", r2.Data.PG)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestPaginationSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	seed := ed25519.NewKeyFromSeed(make([]byte, 32))
	for i := 1; i <= 3; i++ {
		s, err := sqlite.Open(ctx, dir, sqlite.Options{Key: seed, Ballast: -1})
		if err != nil {
			t.Fatal(err)
		}
		signer, _ := ocmf.NewSigner(key, s, 2)
		rec, err := signer.Sign(ctx, session())
		if err != nil {
			t.Fatal(err)
		}
		r, _ := ocmf.Parse(rec)
		if want := "T" + string(rune('0'+i)); r.Data.PG != want {
			t.Fatalf("start %d: PG %s, want %s", i, r.Data.PG, want)
		}
		s.Close()
	}
}

// failingState loses the write: a record must then not be produced.
type failingState struct{}

func (failingState) GetState(context.Context, string) ([]byte, error) { return []byte("4"), nil }
func (failingState) PutState(context.Context, string, []byte) error {
	return errors.New("disk I/O error")
}

func TestSignerNeedsPersistedPagination(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signer, _ := ocmf.NewSigner(key, failingState{}, 3)
	if rec, err := signer.Sign(context.Background(), session()); err == nil {
		t.Fatalf("record %q emitted without persisting its pagination", rec)
	}
}

func TestBuildRejects(t *testing.T) {
	cases := map[string]func(s *ocmf.Session){
		"pipe":         func(s *ocmf.Session) { s.IdentData = "a|b" },
		"non-ASCII":    func(s *ocmf.Session) { s.MeterModel = "Zähler" },
		"control":      func(s *ocmf.Session) { s.MeterSerial = "a\nb" },
		"no serial":    func(s *ocmf.Session) { s.MeterSerial = "" },
		"no readings":  func(s *ocmf.Session) { s.Readings = nil },
		"time status":  func(s *ocmf.Session) { s.Readings[0].TimeStatus = 'X' },
		"TX":           func(s *ocmf.Session) { s.Readings[0].TX = "Q" },
		"negative":     func(s *ocmf.Session) { s.Readings[0].EnergyMWh = -1 },
		"CT":           func(s *ocmf.Session) { s.ChargePointIDType = "OTHER" },
		"RT":           func(s *ocmf.Session) { s.CurrentType = "3P" },
		"too many IF":  func(s *ocmf.Session) { s.IdentFlags = []string{"a", "b", "c", "d", "e"} },
		"long tariff ": func(s *ocmf.Session) { s.IdentData = strings.Repeat("x", 251) },
	}
	for name, mut := range cases {
		s := session()
		mut(&s)
		if _, err := ocmf.BuildPayload(s, 1, 3); !errors.Is(err, ocmf.ErrField) {
			t.Errorf("%s: err = %v, want ErrField", name, err)
		}
	}
	s := session()
	s.IdentData = `quote " and \ backslash`
	p, err := ocmf.BuildPayload(s, 1, 3)
	if err != nil || !strings.Contains(string(p), `"ID":"quote \" and \\ backslash"`) {
		t.Fatalf("escaping: %s, %v", p, err)
	}
}

func TestRenderKWh(t *testing.T) {
	for _, tc := range []struct {
		mwh  int64
		dec  int
		want string
	}{
		{0, 2, "0.00"},
		{1_234_567_890, 2, "1234.56"},
		{1_234_567_890, 3, "1234.567"},
		{1_234_567_890, 6, "1234.567890"},
		{1_234_567_890, 0, "1234"},
		{999_999, 3, "0.999"},
		{1_000_000, 4, "1.0000"},
	} {
		got, err := ocmf.RenderKWh(tc.mwh, tc.dec)
		if err != nil || got != tc.want {
			t.Errorf("RenderKWh(%d, %d) = %q, %v; want %q", tc.mwh, tc.dec, got, err, tc.want)
		}
	}
}
