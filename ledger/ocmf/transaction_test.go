package ocmf_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/chargegate/chargegate/ledger/ocmf"
)

func TestCheckTransaction(t *testing.T) {
	vs := loadVectors(t, "testdata/vectors.json")
	byName := map[string]string{}
	for _, v := range vs {
		byName[v.Name] = v.OCMF
	}
	mr, err := ocmf.Parse(byName["keba_kcp30_MR"])
	if err != nil {
		t.Fatal(err)
	}
	if err := mr.CheckTransaction(); err != nil {
		t.Errorf("KEBA MR record: %v", err)
	}
	sr, _ := ocmf.Parse(byName["bauer_bsm_ws36a_SR_begin"])
	if err := sr.CheckTransaction(); !errors.Is(err, ocmf.ErrTransaction) {
		t.Errorf("begin-only SR record: %v", err)
	}

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signer, _ := ocmf.NewSigner(key, memState{}, 3)
	for name, tc := range map[string]struct {
		mut  func(*ocmf.Session)
		want bool
	}{
		"ok":             {func(*ocmf.Session) {}, true},
		"power failure":  {func(s *ocmf.Session) { s.Readings[1].TX = "P" }, true},
		"end below":      {func(s *ocmf.Session) { s.Readings[1].EnergyMWh = 1 }, false},
		"time backwards": {func(s *ocmf.Session) { s.Readings[1].Time = s.Readings[0].Time.Add(-1) }, false},
		"status":         {func(s *ocmf.Session) { s.Readings[1].Status = "M" }, false},
		"energy flag":    {func(s *ocmf.Session) { s.Readings[0].ErrorFlags = "E" }, false},
		"relative begin": {func(s *ocmf.Session) { s.Readings[0].TimeStatus = 'R' }, false},
		"no end":         {func(s *ocmf.Session) { s.Readings = s.Readings[:1] }, false},
		"two begins":     {func(s *ocmf.Session) { s.Readings[1].TX = "B" }, false},
		"bad IL":         {func(s *ocmf.Session) { s.IdentLevel = "MISMATCH" }, false},
	} {
		sess := session()
		tc.mut(&sess)
		rec, err := signer.Sign(context.Background(), sess)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		r, _ := ocmf.Parse(rec)
		err = r.CheckTransaction()
		if tc.want != (err == nil) || (err != nil && !errors.Is(err, ocmf.ErrTransaction)) {
			t.Errorf("%s: CheckTransaction = %v", name, err)
		}
	}
}

func TestParseTime(t *testing.T) {
	tm, st, err := ocmf.ParseTime("2018-07-24T13:22:04,000+0200 S")
	if err != nil || st != 'S' || tm.UTC().Hour() != 11 {
		t.Fatalf("ParseTime = %v %c %v", tm, st, err)
	}
	for _, bad := range []string{"", "2018-07-24T13:22:04,000+0200", "2018-07-24T13:22:04,000+0200 X", "2018-07-24 13:22:04 S"} {
		if _, _, err := ocmf.ParseTime(bad); err == nil || !strings.Contains(err.Error(), "TM") {
			t.Errorf("ParseTime(%q) = %v", bad, err)
		}
	}
}
