package gateway_test

import (
	"fmt"

	"github.com/chargegate/chargegate/gateway"
)

func ExampleParseConfig() {
	cfg, err := gateway.ParseConfig([]byte(`
meter:
  url: tcp://192.0.2.10:502
  model: sdm630
hal:
  backend: sim
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Meter.Model, cfg.Meter.PollInterval, cfg.Meter.RecordIntervalIdle, cfg.Sessions.Mode)

	_, err = gateway.ParseConfig([]byte("meter:\n  url: tpc://192.0.2.10:502\nhal:\n  backend: sim\n"))
	fmt.Println(err)
	// Output:
	// sdm630 1s 1m0s authorized
	// meter.url: unsupported scheme "tpc" (want tcp, rtu, rtuovertcp)
}

func ExampleParseCommand() {
	c, err := gateway.ParseCommand("start", []byte(`{"request_id":"42","id_token":"04A1B2C3D4E5F6"}`))
	fmt.Println(c.Name, c.RequestID, c.IDToken, err)
	_, err = gateway.ParseCommand("start", []byte(`{"request_id":"43","power_kw":22}`))
	fmt.Println(err)
	// Output:
	// start 42 04A1B2C3D4E5F6 <nil>
	// bad command: json: unknown field "power_kw"
}
