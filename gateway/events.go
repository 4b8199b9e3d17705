package gateway

// Event codes the control loop records. TODO(integration): these move to ledger/events.go.
const (
	eventStarted          = "started"
	eventMeterReset       = "meter_counter_reset"
	eventMeterReplaced    = "meter_replaced"
	eventMeterImplausible = "meter_implausible"
	eventPollLate         = "poll_late"
	eventStoreRefused     = "store_refused"
	eventFaultCleared     = "fault_cleared"
	eventEmergencyStop    = "emergency_stop"
	eventRCDTrip          = "rcd_trip"
	eventRelayFault       = "relay_fault"
	eventTamper           = "tamper"
)
