// Package ocpp is chargegate's OCPP 1.6J charge point: one connector, driven by the gateway's
// notifications, managed by a CSMS over OCPP-J (WebSocket subprotocol "ocpp1.6").
//
// # Wiring
//
// The appliance opens the Queue (its own SQLite file, ocpp.db), builds a ChargePoint with New
// over ControllerSessions(controller) and runs it; the control loop's Notifier fans out to it
// (Telemetry, Session), Follow feeds it the polled gateway.Status, and the Operator's
// SessionCommander is wrapped with ChargePoint.Commander so that sessions started on other
// links carry their id token into StartTransaction. The package never imports gateway/cmd.
//
// A session is begun (StartTransaction queued) by SessionStarted, by a RemoteStart the charge
// point ran itself, on the first Status that shows a session Commander saw starting, or on the
// second Status that shows a session nobody announced (then under FallbackIDTag). Its
// meterStart is the begin register: Status's import register minus the session's energy.
//
// # Supported (OCPP 1.6 edition 2, Core profile)
//
//	message                     direction  behaviour
//	BootNotification            CP→CSMS    Accepted: online, heartbeat = interval; Pending/Rejected:
//	                                       nothing else is sent, BootNotification again after interval
//	Heartbeat                   CP→CSMS    every HeartbeatInterval
//	StatusNotification          CP→CSMS    connector 0 and 1, every transition; both after each boot
//	Authorize                   CP→CSMS    ChargePoint.Authorize; before a remote start when
//	                                       AuthorizeRemoteTxRequests is true
//	StartTransaction            CP→CSMS    durable queue; idTagInfo not Accepted stops the session
//	                                       (StopTransactionOnInvalidId) with reason DeAuthorized
//	StopTransaction             CP→CSMS    durable queue; reason per the table below; transactionData
//	                                       with Transaction.Begin/End registers and the OCMF record
//	MeterValues                 CP→CSMS    durable queue; during a transaction: Sample.Periodic every
//	                                       MeterValueSampleInterval (MeterValuesSampledData) and
//	                                       Sample.Clock at each ClockAlignedDataInterval boundary since
//	                                       midnight UTC (MeterValuesAlignedData), from the gateway's
//	                                       telemetry: energy import/export (Wh), power (W), current (A,
//	                                       phases summed), voltage (V, L1-N)
//	RemoteStartTransaction      CSMS→CP    Accepted when connector 1 is free and not faulted
//	RemoteStopTransaction       CSMS→CP    Accepted when transactionId is the running session
//	GetConfiguration            CSMS→CP    the keys in configkeys.go, readonly flagged
//	ChangeConfiguration         CSMS→CP    Accepted (persisted), Rejected (read-only, bad value),
//	                                       NotSupported (unknown key)
//	DataTransfer                CSMS→CP    UnknownVendorId (no vendor extension is implemented)
//	TriggerMessage              CSMS→CP    BootNotification, Heartbeat, StatusNotification, MeterValues
//	                                       (context Trigger) sent after the answer; Diagnostics- and
//	                                       FirmwareStatusNotification say Idle; connector > 1 Rejected
//	UnlockConnector             CSMS→CP    NotSupported: the outlet has no lock
//	Reset                       CSMS→CP    Accepted when Config.Reset is set: the running session ends
//	                                       (SoftReset / HardReset), then Config.Reset(hard); else Rejected
//	ChangeAvailability          CSMS→CP    connector 0 or 1: Inoperative holds new sessions in the
//	                                       gateway (Sessions.Hold): Accepted when idle, Scheduled while
//	                                       charging (in force when the session ends); persisted and
//	                                       taken again at start; Operative releases
//	anything else               CSMS→CP    CALLERROR NotImplemented
//
// Security profile 1 (OCPP 1.6 Security Whitepaper): Config.Password is sent as HTTP Basic
// auth with the identity as user; a 401 is reported as refused credentials.
//
// The OCPP-J layer is this package's own (rpc.go, over gorilla/websocket): one outstanding call
// at a time (OCPP-J §4.1.1), a call without an answer within CallTimeout drops the connection,
// calls from the CSMS are decoded strictly (an unknown field is a FormationViolation).
// lorenzodonini/ocpp-go was not used: its offline queue is in memory, while every transaction
// message here must come from the SQLite queue with a message id that stays the same on
// resends, and it would add a dependency tree for a few hundred lines of framing.
//
// # Stop reasons (chargegate end reason → OCPP 1.6 §7.45 Reason)
//
//	local                Local          stopped at the charger
//	remote               Remote         an operator command (OCPP or MQTT)
//	emergency_stop       EmergencyStop
//	rcd_trip             EmergencyStop  a protective device cut the supply
//	power_failure        PowerLoss      closed at the next start after a power cut or crash
//	shutdown             Reboot         "a locally initiated reset/reboot"
//	energy_limit         Other          a limit of the session, not an EV disconnect
//	time_limit           Other
//	relay_fault, relay_not_closed, meter_lost, meter_replaced, meter_counter_reset,
//	meter_implausible, disk_full, anything new
//	                     Other          a fault; the connector's StatusNotification names it
//	(idTag refused in StartTransaction.conf)  DeAuthorized
//
//	(Reset Soft / Hard from the CSMS)         SoftReset / HardReset
//
// EVDisconnected and UnlockCommand are not produced: the hardware sees neither the EV nor a
// connector lock.
//
// # Connector status (gateway.Status → ChargePointStatus §7.7, ChargePointErrorCode §7.6)
//
//	no session                         Available / NoError
//	no session, Inoperative in force   Unavailable on 0 and 1
//	session "starting"                 Preparing
//	session "charging", relay closed   Charging
//	session "charging", relay open     SuspendedEVSE
//	session "closing"                  Finishing
//	HAL fault                          Faulted / OtherError on 0 and 1, info "hal: …"
//	alarm emergency_stop               Faulted / OtherError on 0 and 1
//	alarm store                        Faulted / InternalError on 0 and 1
//	alarm rcd_trip                     Faulted / GroundFailure on 1
//	alarm relay_fault                  Faulted / PowerSwitchFailure on 1
//	alarm meter_lost, meter_replaced,  Faulted / PowerMeterFailure on 1
//	meter_counter_reset, meter_implausible
//
// An alarm during a session leaves the session's status and sets the error code; the control
// loop ends the session itself. info is "alarm: detail", cut to 50 characters (CiString50).
//
// # Signed meter values
//
// Following the OCA application note "Signed Meter Values in OCPP" for 1.6, the session's OCMF
// record (gateway.SessionRecord.OCMF: the meter's own record passed through, or the gateway's)
// travels unchanged as one SampledValue {value: record, format: "SignedData", context:
// "Transaction.End", measurand: "Energy.Active.Import.Register"} in the StopTransaction's
// transactionData, next to the raw Transaction.Begin and Transaction.End registers in Wh. The
// record holds both the begin and the end reading, so it is sent once, at the end. The 1.6 JSON
// schema sets no maxLength on SampledValue.value, so no record is cut. The key that verifies it
// is published read-only as MeterPublicKey1 (hex DER SubjectPublicKeyInfo, within CiString500).
//
// Energy values are Wh integers, the import register in mWh truncated (never rounded up).
//
// # Never losing a transaction message
//
// StartTransaction, MeterValues and StopTransaction are committed to ocpp.db (WAL,
// synchronous=FULL) before the notifying call returns and sent strictly in queue order, one at
// a time, after the boot is accepted. The message id is "tx<row id>", the same on every resend.
// A lost connection or an unanswered call leaves the message at the head of the queue for the
// next connection (at-least-once: a message whose answer was lost is sent again under the same
// id; for a StartTransaction the CSMS then hands out a second transactionId, and the charge
// point uses the one it stored, the last; OCPP 1.6 has no idempotent start). The transactionId of a StartTransaction.conf is stored with the session, and MeterValues
// and StopTransaction get it when they are sent, so a StopTransaction queued while the
// StartTransaction still waited is delivered with the right id. A CALLERROR counts as an
// attempt; after TransactionMessageAttempts, retried TransactionMessageRetryInterval × attempt
// apart, the message is given up (a StartTransaction with its whole session). Session is
// idempotent per session id, so the appliance can replay the last finished session at start
// in case it stopped between the control loop's end and the queue's commit.
//
// # Disk format (ocpp.db, user_version 2; migration 2 adds local_list and auth_cache)
//
//	outbox(id INTEGER PRIMARY KEY AUTOINCREMENT, session TEXT, action TEXT, payload BLOB,
//	       attempts INTEGER)   the queued request, JSON as sent except transactionId
//	tx(session TEXT PRIMARY KEY, id_tag TEXT, transaction_id INTEGER UNIQUE NULL,
//	   ended INTEGER, dropped INTEGER)   session ↔ transactionId
//	config(key TEXT PRIMARY KEY, value TEXT)   keys the CSMS changed, and
//	       "chargegate:availability" = Inoperative | Operative,
//	       "chargegate:local_list_version" = the Local Authorization List's listVersion,
//	       "chargegate:reservation" = {"id":7,"idTag":"RES1","parentIdTag":"P","expiry":"2026-12-05T10:00:00Z"}
//	       or "" (no reservation)
//	local_list(id_tag TEXT PRIMARY KEY, status TEXT, expiry TEXT, parent_id_tag TEXT)
//	       the Local Authorization List (SendLocalList); expiry RFC 3339 UTC or ""
//	auth_cache(id_tag TEXT PRIMARY KEY, status TEXT, expiry TEXT, parent_id_tag TEXT)
//	       the idTagInfo of Authorize.conf and StartTransaction.conf for idTags not listed
//
// # Not done yet (issue 16)
//
//   - Local Auth List (SendLocalList, GetLocalListVersion), the authorization cache and the
//     offline policy keys (LocalAuthorizeOffline, LocalPreAuthorize, AllowOfflineTxForUnknownId):
//     Authorize needs the CSMS; the keys are stored, nothing reads them.
//   - Reservations (ReserveNow, CancelReservation) and Smart Charging (profiles, composite
//     schedule, pausing at a limit of 0).
//   - Firmware and diagnostics (UpdateFirmware, GetDiagnostics, SignedUpdateFirmware, GetLog)
//     and their status notifications beyond TriggerMessage's Idle.
//   - Security Whitepaper beyond the connection: Config.Password gives profile 1 (tested);
//     Config.TLS gives profiles 2 and 3 through crypto/tls, not yet tested against a TLS CSMS;
//     no SecurityEventNotification, certificate management or signed firmware.
//   - Signed values per sample; clock-aligned values outside a transaction; StopTxnSampledData
//     and StopTxnAlignedData (stored, not read); WebSocketPingInterval (stored; a dead link is
//     found by the heartbeat's call timeout).
//   - OCPP 2.0.1.
package ocpp
