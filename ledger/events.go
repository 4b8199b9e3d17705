package ledger

// Every code that appears in Record.Event is declared here, once, so that auditors have one list
// (the table in doc.go) and writers cannot misspell one. The values are part of the signed record
// and are never renamed; new codes may be added.

// Event codes of KindEvent entries, and of KindGap entries where noted.
const (
	// EventStarted: the gateway started; the first entry it writes after each start.
	EventStarted = "started"
	// EventStoreReplaced: the database was damaged or rolled back and moved aside; this entry
	// continues after the highest sequence number ever reserved and links to the last head the
	// device knew (a declared break, see "Chain rules" in doc.go).
	EventStoreReplaced = "store_replaced"
	// EventEntriesLost: salvage of a damaged database skipped entries that no longer verify;
	// Detail starts with HoleDetail's "seq FROM-TO:" naming the lost range (a declared hole).
	EventEntriesLost = "entries_lost"
	// EventSeqSkipped: after an unclean shutdown across a reboot (a power cut) the store resumes
	// above every sequence number it may have handed out; this entry carries the first number after the jump, links to the
	// stored head, and its Detail starts with "seq FROM-TO:" naming the numbers skipped.
	EventSeqSkipped = "seq_skipped"
	// EventDiskBudget: the store reached its disk budget or the disk filled; new sessions are
	// refused. Written from the reserve, once per episode.
	EventDiskBudget = "disk_budget"
	// EventDiskRecovered: space is available again after EventDiskBudget; sessions may start.
	EventDiskRecovered = "disk_recovered"
	// EventStoreRefused: the store refused an entry (for example a reading on a full disk); the
	// gateway records what it could not store, from the reserve.
	EventStoreRefused = "store_refused"
	// EventPollMissed (KindGap): one or more meter polls brought no reading; never a silent hole.
	EventPollMissed = "poll_missed"
	// EventPollLate (KindGap): a poll came later than its interval plus tolerance; the time in
	// between is declared, not billed.
	EventPollLate = "poll_late"
	// EventMeterImplausible (KindGap): the meter answered with values that cannot be true (a fall,
	// a rise faster than the rated power allows, all zeros or all ones); not billed.
	EventMeterImplausible = "meter_implausible"
	// EventMeterReset: the meter's counter went back and stayed there long enough to be taken as
	// a reset; an alarm is latched until cleared.
	EventMeterReset = "meter_reset"
	// EventMeterCounterReset: the older name of EventMeterReset, still written by gateways
	// before the plausibility rules of meter/doc.go.
	EventMeterCounterReset = "meter_counter_reset"
	// EventMeterReplaced: the meter's serial number changed.
	EventMeterReplaced = "meter_replaced"
	// EventEmergencyStop: the emergency stop was pressed.
	EventEmergencyStop = "emergency_stop"
	// EventRCDTrip: the residual-current device tripped.
	EventRCDTrip = "rcd_trip"
	// EventRelayFault: the contactor welded or did not close; Detail names the hal event.
	EventRelayFault = "relay_fault"
	// EventTamper: the lid switch changed.
	EventTamper = "tamper"
	// EventFaultCleared: an operator cleared a latched hardware fault or alarm.
	EventFaultCleared = "fault_cleared"
	// EventSessionPaused: a running session was paused (relay open, session kept); Detail says
	// who asked ("by=mqtt", "by=ocpp limit=0", ...).
	EventSessionPaused = "session_paused"
	// EventSessionResumed: a paused session was resumed (relay closed again); Detail says who.
	EventSessionResumed = "session_resumed"
	// EventUpdateHealthCheck: a trial boot of an update passed its health check.
	EventUpdateHealthCheck = "update_health_check"
	// EventUpdateCommitted: an update was committed; Detail names the version and security version.
	EventUpdateCommitted = "update_committed"
	// EventRolledBack: a checkpoint witness holds a larger tree than the device: its data was
	// restored from an older copy. Detail names the witness's size; a seq_skipped event follows,
	// so that the numbers handed out before are never issued again.
	EventRolledBack = "rolled_back"
	// EventAuthRefused: an attempt to charge was refused; Detail is the access decision (token
	// hash, source, reason, never the id_token), and "suppressed=N" counts the refusals the rate
	// limit dropped before it.
	EventAuthRefused = "auth_refused"
	// EventAllowList: the operator changed the local allow-list; Detail names the operation, the
	// list's new version and its size.
	EventAllowList = "allow_list"
	// EventCurrentLimit: the current an EVSE may draw changed (gateway/site); Detail says
	// "current=A from=A reason=R" (amperes per phase, 0: paused) and, when several changes
	// were summed up, "coalesced=N". The entry names the EVSE (Record.EVSE).
	EventCurrentLimit = "current_limit"
)

// Session end reasons: the Event of a KindSessionEnd entry and the reason published on the
// sessions topic.
const (
	EndLocal            = "local"               // stopped at the charger
	EndRemote           = "remote"              // stopped by an operator command
	EndEnergyLimit      = "energy_limit"        // the session's energy limit was reached
	EndTimeLimit        = "time_limit"          // the session's time limit was reached
	EndEmergencyStop    = "emergency_stop"      // the emergency stop was pressed
	EndRCDTrip          = "rcd_trip"            // the residual-current device tripped
	EndRelayFault       = "relay_fault"         // the contactor welded or dropped out
	EndRelayNotClosed   = "relay_not_closed"    // the contactor never closed
	EndMeterLost        = "meter_lost"          // the meter stopped answering
	EndMeterReplaced    = "meter_replaced"      // the meter's serial changed during the session
	EndMeterReset       = "meter_counter_reset" // the meter's counter was reset during the session
	EndMeterImplausible = "meter_implausible"   // the meter's values could not be billed
	EndPowerFailure     = "power_failure"       // closed at the next start after a power cut or crash
	EndShutdown         = "shutdown"            // the gateway was stopped
	EndDiskFull         = "disk_full"           // the store refused readings; closed from the reserve
	EndUnplugged        = "unplugged"           // the vehicle was unplugged (control pilot state A)
)

// Sink names: the readers of the store's outbox that acknowledge what they delivered.
const (
	SinkLedger = "ledger" // the anchoring publisher; acknowledged when an anchor is confirmed
	SinkMQTT   = "mqtt"   // the MQTT operator link; acknowledged on PUBACK
)

// Closing reports whether r closes something the chain must never leave open: a session end,
// a gap, or an event that declares the store's own trouble (disk full, refused entries, lost or
// skipped entries, a replaced store). A store keeps room in reserve for closing records so that
// they commit when ordinary ones are refused.
func (r *Record) Closing() bool {
	switch r.Kind {
	case KindSessionEnd, KindGap:
		return true
	case KindEvent:
		switch r.Event {
		case EventDiskBudget, EventStoreRefused, EventEntriesLost, EventSeqSkipped, EventStoreReplaced:
			return true
		}
	}
	return false
}
