package mqtt_test

import (
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/chargegate/chargegate/gateway/mqtt"
	"github.com/chargegate/chargegate/ledger"
)

func ExampleEncodeReading() {
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)) // a fixed example key
	e := ledger.Entry{
		Version: ledger.Version, DeviceKey: key.Public().(ed25519.PublicKey), Seq: 7,
		Record: ledger.Record{
			Time: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC), TimeStatus: ledger.TimeSynchronised,
			Kind: ledger.KindReading, MeterSerial: "71000001", ImportMWh: 1234567,
		},
	}
	e.Sign(key)
	b, err := mqtt.EncodeReading(e)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(b))
	// Output:
	// {"device":"139e3940e64b5491","seq":7,"kind":"reading","time":"2026-11-24T12:00:00Z","time_status":"S","meter_serial":"71000001","energy_import_mwh":1234567,"energy_export_mwh":0,"hash":"f7c3af36e2b388f8637749ffcfd0d6d591b8ebe94db3011336be641962690042","entry":"AQFTO2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ikAAAAAAAAABwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAGOr5YdKKgAAAAAAAABLWhwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAACDcxMDAwMDAxAAAArIobPxXdMduIHwVcbfdkfVZB2LQ+agp3B+P0DUhhRduB4oDj4K7gI75jApUy4kyS0IifGF2M2TIHm7Pqv2x+CQ=="}
}
