package ocpp

import (
	"strings"

	"github.com/chargegate/chargegate/gateway"
	"github.com/chargegate/chargegate/ledger"
)

// OCPP 1.6 StopTransaction reasons (§7.45 Reason).
const (
	ReasonEmergencyStop  = "EmergencyStop"
	ReasonEVDisconnected = "EVDisconnected"
	ReasonHardReset      = "HardReset"
	ReasonLocal          = "Local"
	ReasonOther          = "Other"
	ReasonPowerLoss      = "PowerLoss"
	ReasonReboot         = "Reboot"
	ReasonRemote         = "Remote"
	ReasonSoftReset      = "SoftReset"
	ReasonUnlockCommand  = "UnlockCommand"
	ReasonDeAuthorized   = "DeAuthorized"
)

// stopReasons maps every chargegate end reason (ledger End*) to an OCPP 1.6 Reason; doc.go
// shows the table with the reasoning. Unknown reasons map to Other.
var stopReasons = map[string]string{
	ledger.EndLocal:            ReasonLocal,         // stopped at the charger
	ledger.EndRemote:           ReasonRemote,        // an operator command (OCPP or MQTT)
	ledger.EndEnergyLimit:      ReasonOther,         // a limit of the session, not of the EV or the user
	ledger.EndTimeLimit:        ReasonOther,         // same
	ledger.EndEmergencyStop:    ReasonEmergencyStop, // §7.45: "Emergency stop button was used"
	ledger.EndRCDTrip:          ReasonEmergencyStop, // a protective device cut the supply, as an e-stop does
	ledger.EndRelayFault:       ReasonOther,         // hardware fault; the connector goes Faulted
	ledger.EndRelayNotClosed:   ReasonOther,
	ledger.EndMeterLost:        ReasonOther, // billing device failed; the connector goes Faulted
	ledger.EndMeterReplaced:    ReasonOther,
	ledger.EndMeterReset:       ReasonOther,
	ledger.EndMeterImplausible: ReasonOther,
	ledger.EndPowerFailure:     ReasonPowerLoss, // §7.45: "Complete loss of power"
	ledger.EndShutdown:         ReasonReboot,    // §7.45: "A locally initiated reset/reboot"
	ledger.EndDiskFull:         ReasonOther,
	ledger.EndUnplugged:        ReasonEVDisconnected, // §7.45: "Disconnecting of cable, vehicle moved away from inductive charge unit"
}

// StopReason returns the OCPP 1.6 StopTransaction reason for a chargegate end reason.
func StopReason(end string) string {
	if r, ok := stopReasons[end]; ok {
		return r
	}
	return ReasonOther
}

// OCPP 1.6 ChargePointStatus values (§7.7).
const (
	StatusAvailable     = "Available"
	StatusPreparing     = "Preparing"
	StatusCharging      = "Charging"
	StatusSuspendedEV   = "SuspendedEV"
	StatusSuspendedEVSE = "SuspendedEVSE"
	StatusFinishing     = "Finishing"
	StatusReserved      = "Reserved"
	StatusUnavailable   = "Unavailable"
	StatusFaulted       = "Faulted"
)

// ConnectorStatus is what a StatusNotification says about one connector.
type ConnectorStatus struct {
	Status    string // ChargePointStatus (§7.7)
	ErrorCode string // ChargePointErrorCode (§7.6)
	Info      string // free text, at most 50 characters
}

// alarmErrors maps chargegate alarms to OCPP 1.6 ChargePointErrorCode (§7.6), in the order
// they are looked at (the first one present names the fault). wide says the fault stops the
// whole charge point (connector 0), not only the outlet.
var alarmErrors = []struct {
	alarm, code string
	wide        bool
}{
	{gateway.AlarmEStop, "OtherError", true},
	{gateway.AlarmRCD, "GroundFailure", false},
	{gateway.AlarmRelay, "PowerSwitchFailure", false},
	{gateway.AlarmMeterLost, "PowerMeterFailure", false},
	{gateway.AlarmMeterReplaced, "PowerMeterFailure", false},
	{gateway.AlarmCounterReset, "PowerMeterFailure", false},
	{gateway.AlarmMeterImplausible, "PowerMeterFailure", false},
	{gateway.AlarmStore, "InternalError", true},
}

// connectorStatuses derives the StatusNotification of connector 0 (the charge point) and 1
// (the outlet) from the control loop's status. unavailable: the CSMS made the charge point
// Inoperative and the gateway holds new sessions.
func connectorStatuses(st gateway.Status, unavailable bool) (cp, outlet ConnectorStatus) {
	cp = ConnectorStatus{Status: StatusAvailable, ErrorCode: "NoError"}
	outlet = ConnectorStatus{Status: StatusAvailable, ErrorCode: "NoError"}
	if st.HALFault != "" {
		f := ConnectorStatus{Status: StatusFaulted, ErrorCode: "OtherError", Info: info("hal: " + st.HALFault)}
		return f, f
	}
	for _, a := range alarmErrors {
		if msg, ok := st.Alarms[a.alarm]; ok {
			f := ConnectorStatus{Status: StatusFaulted, ErrorCode: a.code, Info: info(a.alarm + ": " + msg)}
			if a.wide {
				cp = f
			}
			// A meter alarm during a session is reported but the session's own state wins
			// until it ends: the control loop ends it itself.
			if st.Session == nil {
				return cp, f
			}
			outlet.ErrorCode, outlet.Info = f.ErrorCode, f.Info
			break
		}
	}
	switch {
	case st.Session == nil && unavailable:
		// ChangeAvailability Inoperative: the charge point as a whole (connector 0) too.
		outlet.Status = StatusUnavailable
		if cp.Status == StatusAvailable {
			cp.Status = StatusUnavailable
		}
	case st.Session == nil:
		outlet.Status = StatusAvailable
	case st.Session.State == "starting":
		outlet.Status = StatusPreparing
	case st.Session.State == "closing":
		outlet.Status = StatusFinishing
	case st.RelayClosed:
		outlet.Status = StatusCharging
	default:
		outlet.Status = StatusSuspendedEVSE // a session with the contactor open
	}
	return cp, outlet
}

// info trims s to the 50 characters StatusNotification.info allows (CiString50), ASCII only.
func info(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
	if len(s) > 50 {
		s = s[:50]
	}
	return s
}
