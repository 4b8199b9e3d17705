package ocpp_test

import (
	"fmt"

	"github.com/chargegate/chargegate/gateway/ocpp"
	"github.com/chargegate/chargegate/ledger"
)

// The OCPP 1.6 StopTransaction reason a finished session reports.
func ExampleStopReason() {
	for _, end := range []string{ledger.EndLocal, ledger.EndRemote, ledger.EndPowerFailure, ledger.EndShutdown, ledger.EndMeterLost} {
		fmt.Println(end, "→", ocpp.StopReason(end))
	}
	// Output:
	// local → Local
	// remote → Remote
	// power_failure → PowerLoss
	// shutdown → Reboot
	// meter_lost → Other
}
