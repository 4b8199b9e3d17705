package ocpp_test

import (
	"cmp"
	"context"
	"io/fs"
	"sync"
	"testing"

	"github.com/chargegate/chargegate/gateway/ocpp"
	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/ocmf"
)

// memState is an in-memory ocmf.StateStore.
type memState struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (s *memState) GetState(_ context.Context, k string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.m[k]; ok {
		return v, nil
	}
	return nil, fs.ErrNotExist
}

func (s *memState) PutState(_ context.Context, k string, v []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[k] = v
	return nil
}

// With SampledDataSignReadings true, each periodic MeterValues carries an OCMF record of the
// begin and that reading as SignedData, which verifies with the published key; off, none.
func TestSignedValuesPerSample(t *testing.T) {
	c := startCSMS(t, "--interval", "30")
	g := newStandIn(t)
	cp, _, _ := startCP(t, c, g, t.TempDir(), withSampleSigner(t, g, func(s ocpp.Sample) []ocmf.Reading {
		return []ocmf.Reading{{Time: s.Start, TimeStatus: 'S', TX: "B", EnergyMWh: s.BeginMWh}, {Time: s.Time, TimeStatus: 'S', TX: "C", EnergyMWh: s.ImportMWh}}
	}))
	c.WaitFor("online", cp.Online)
	if got := c.Status("ChangeConfiguration", map[string]string{"key": "SampledDataSignReadings", "value": "true"}); got != "Accepted" {
		t.Fatalf("ChangeConfiguration SampledDataSignReadings = %s", got)
	}
	g.startLocal("SIGNTAG")
	for range 3 {
		g.tick(1_000_000)
	}
	g.end(ledger.EndLocal)
	c.WaitCalls("StopTransaction", 1)
	n := 0
	for _, l := range c.Calls("MeterValues") {
		m := params[struct{ MeterValue []meterValue }](t, l)
		for _, mv := range m.MeterValue {
			var signed, raw []sampledValue
			for _, sv := range mv.SampledValue {
				if sv.Format == "SignedData" {
					signed = append(signed, sv)
				} else {
					raw = append(raw, sv)
				}
			}
			if len(signed) != 1 || len(raw) != 1 {
				t.Fatalf("meter value %+v: want one raw and one signed value", mv)
			}
			if err := ocmf.Verify(signed[0].Value, g.spki()); err != nil {
				t.Errorf("signed sample does not verify: %v", err)
			}
			rec, err := ocmf.Parse(signed[0].Value)
			if err != nil {
				t.Fatal(err)
			}
			if last := rec.Data.RD[len(rec.Data.RD)-1]; last.TX != "C" {
				t.Errorf("signed sample's last reading TX %q, want C", last.TX)
			}
			n++
		}
	}
	if n < 2 {
		t.Errorf("%d signed samples, want one per periodic sample", n)
	}
}

// withSampleSigner signs samples (Config.SignSample) as the appliance does: an OCMF record by
// the stand-in's key, identified by the sample's idTag, holding the readings readings picks.
func withSampleSigner(t *testing.T, g *standIn, readings func(ocpp.Sample) []ocmf.Reading) cpOpt {
	t.Helper()
	signer, err := ocmf.NewSigner(g.key, &memState{m: map[string][]byte{}}, 3)
	if err != nil {
		t.Fatal(err)
	}
	return func(c *ocpp.Config) {
		c.SignSample = func(ctx context.Context, s ocpp.Sample) (string, error) {
			return signer.Sign(ctx, ocmf.Session{GatewayID: "chargegate", GatewaySerial: "TEST", MeterSerial: cmp.Or(s.MeterSerial, "SIM-1"),
				IdentStatus: true, IdentType: "CENTRAL", IdentData: s.IDTag, Readings: readings(s)})
		}
	}
}
