package ocpp

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"

	"github.com/chargegate/chargegate/ledger"
)

// endReasons201 maps every chargegate end reason (ledger End*) to the OCPP 2.0.1
// TransactionEvent Ended's triggerReason (TriggerReasonEnumType) and stoppedReason
// (ReasonEnumType); doc.go shows the table. Unknown reasons: AbnormalCondition / Other.
var endReasons201 = map[string][2]string{
	ledger.EndLocal:            {"StopAuthorized", "Local"},
	ledger.EndRemote:           {"RemoteStop", "Remote"},
	ledger.EndEnergyLimit:      {"EnergyLimitReached", "EnergyLimitReached"},
	ledger.EndTimeLimit:        {"TimeLimitReached", "TimeLimitReached"},
	ledger.EndEmergencyStop:    {"AbnormalCondition", "EmergencyStop"},
	ledger.EndRCDTrip:          {"AbnormalCondition", "GroundFault"}, // the residual-current device saw a fault current
	ledger.EndRelayFault:       {"AbnormalCondition", "Other"},
	ledger.EndRelayNotClosed:   {"AbnormalCondition", "Other"},
	ledger.EndMeterLost:        {"AbnormalCondition", "Other"},
	ledger.EndMeterReplaced:    {"AbnormalCondition", "Other"},
	ledger.EndMeterReset:       {"AbnormalCondition", "Other"},
	ledger.EndMeterImplausible: {"AbnormalCondition", "Other"},
	ledger.EndPowerFailure:     {"AbnormalCondition", "PowerLoss"},
	ledger.EndShutdown:         {"AbnormalCondition", "Reboot"}, // a locally initiated stop of the gateway
	ledger.EndDiskFull:         {"AbnormalCondition", "Other"},
	ledger.EndUnplugged:        {"EVCommunicationLost", "EVDisconnected"}, // the pilot saw the cable unplugged (state A)
}

// EndReason201 returns the OCPP 2.0.1 triggerReason and stoppedReason of the TransactionEvent
// Ended for a chargegate end reason.
func EndReason201(end string) (trigger, stopped string) {
	if r, ok := endReasons201[end]; ok {
		return r[0], r[1]
	}
	return "AbnormalCondition", "Other"
}

// connectorStatus201 maps the 1.6 face's connector status (mapping.go, one derivation for
// both faces) onto ConnectorStatusEnumType: a session in any state is Occupied.
func connectorStatus201(c ConnectorStatus) string {
	switch c.Status {
	case StatusAvailable, StatusReserved, StatusUnavailable, StatusFaulted:
		return c.Status
	}
	return "Occupied"
}

// publicKey201 turns the hex DER SubjectPublicKeyInfo of Config.MeterPublicKey into base64
// DER, the encoding of signedMeterValue.publicKey and FiscalMetering.PublicKey.
func publicKey201(hexKey string) string {
	der, err := hex.DecodeString(hexKey)
	if err != nil || len(der) == 0 {
		return ""
	}
	return base64.StdEncoding.EncodeToString(der)
}

// signingMethod reads the signature algorithm (SA) from an OCMF record's signature section;
// ECDSA-secp256r1-SHA256, OCMF's default, when it names none.
func signingMethod(record string) string {
	i := strings.LastIndex(record, "|")
	var sig struct {
		SA string `json:"SA"`
	}
	if i > 0 && json.Unmarshal([]byte(record[i+1:]), &sig) == nil && sig.SA != "" && len(sig.SA) <= 50 {
		return sig.SA
	}
	return "ECDSA-secp256r1-SHA256"
}

// maxSignedData is the OCPP 2.0.1 limit of signedMeterData and publicKey (string 2500).
const maxSignedData = 2500
