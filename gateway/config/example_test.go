package config_test

import (
	"fmt"

	"github.com/chargegate/chargegate/gateway/config"
)

func ExampleParse() {
	_, err := config.Parse([]byte(`meter:
  url: tcp://192.0.2.10:502
  urll: tcp://192.0.2.11:502
  poll_interval: fast
hal:
  backend: sim
`))
	fmt.Println(err)

	cfg, err := config.Parse([]byte("meter:\n  url: tcp://192.0.2.10:502\nhal:\n  backend: sim\n"))
	fmt.Println(cfg.Meter.PollInterval, cfg.HTTP.MaxConcurrent, err)
	// Output:
	// meter.urll: unknown field (line 3); did you mean "url"?
	// meter.poll_interval: expected a duration like "1s" or "500ms", got "fast" (line 4)
	// 1s 8 <nil>
}
