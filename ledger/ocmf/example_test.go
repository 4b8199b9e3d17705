package ocmf_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"io/fs"
	"time"

	"github.com/chargegate/chargegate/ledger/ocmf"
)

// memState is a StateStore for the example; the gateway passes its ledger/sqlite Store.
type memState map[string][]byte

func (m memState) GetState(_ context.Context, k string) ([]byte, error) {
	v, ok := m[k]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return v, nil
}

func (m memState) PutState(_ context.Context, k string, v []byte) error { m[k] = v; return nil }

// The gateway signs a session record; anyone verifies it with the published key.
func Example() {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signer, _ := ocmf.NewSigner(key, memState{}, 2)
	begin := time.Date(2026, 7, 1, 9, 30, 0, 0, time.UTC)
	record, err := signer.Sign(context.Background(), ocmf.Session{
		GatewayID: "chargegate", GatewaySerial: "cg-0001", MeterSerial: "EM-77",
		Readings: []ocmf.Reading{
			{Time: begin, TimeStatus: 'S', TX: "B", EnergyMWh: 12_340_000},
			{Time: begin.Add(time.Hour), TimeStatus: 'S', TX: "E", EnergyMWh: 23_456_789},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(record[:len("OCMF|{\"FV\":\"1.0\",\"GI\":\"chargegate\",\"GS\":\"cg-0001\",\"PG\":\"T1\"")])

	parsed, _ := ocmf.Parse(record)
	fmt.Println("verify:", parsed.Verify(signer.PublicKey()))
	fmt.Println("begin", string(parsed.Data.RD[0].RV), "end", string(parsed.Data.RD[1].RV), parsed.Data.RD[1].RU)
	// Output:
	// OCMF|{"FV":"1.0","GI":"chargegate","GS":"cg-0001","PG":"T1"
	// verify: <nil>
	// begin 12.34 end 23.45 kWh
}
