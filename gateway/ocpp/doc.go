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
// # Supported (OCPP 1.6 edition 2: Core, Local Auth List Management, Reservation, Remote
// Trigger, Smart Charging (minimal); Security Whitepaper edition 3: profiles 1–3, security events)
//
//	message                     direction  behaviour
//	BootNotification            CP→CSMS    Accepted: online, heartbeat = interval; Pending/Rejected:
//	                                       nothing else is sent, BootNotification again after interval
//	Heartbeat                   CP→CSMS    every HeartbeatInterval
//	StatusNotification          CP→CSMS    connector 0 and 1, every transition; both after each boot
//	Authorize                   CP→CSMS    ChargePoint.Authorize / StartLocal / StopLocal, and before
//	                                       a remote start when AuthorizeRemoteTxRequests is true;
//	                                       local list and cache per "Local authorization" below
//	StartTransaction            CP→CSMS    durable queue; idTagInfo not Accepted stops the session
//	                                       (StopTransactionOnInvalidId) with reason DeAuthorized;
//	                                       reservationId when it fulfils a reservation; idTagInfo cached
//	StopTransaction             CP→CSMS    durable queue; reason per the table below; transactionData
//	                                       with Transaction.Begin/End registers and the OCMF record
//	MeterValues                 CP→CSMS    durable queue; during a transaction: Sample.Periodic every
//	                                       MeterValueSampleInterval (MeterValuesSampledData) and
//	                                       Sample.Clock at each ClockAlignedDataInterval boundary since
//	                                       midnight UTC (MeterValuesAlignedData), from the gateway's
//	                                       telemetry: energy import/export (Wh), power (W), current (A,
//	                                       phases summed), voltage (V, L1-N)
//	RemoteStartTransaction      CSMS→CP    Accepted when connector 1 is free and not faulted; its
//	                                       chargingProfile (TxProfile only) becomes the transaction's
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
//	SendLocalList               CSMS→CP    Full / Differential (VersionMismatch unless newer), at most
//	                                       SendLocalListMaxLength entries, list ≤ LocalAuthListMaxLength
//	                                       (else Failed); NotSupported when LocalAuthListEnabled false
//	GetLocalListVersion         CSMS→CP    the stored listVersion; 0 before any list; -1 when disabled
//	ClearCache                  CSMS→CP    Accepted: the authorization cache is emptied
//	ReserveNow                  CSMS→CP    connector 1 only (connector 0 Rejected); Faulted,
//	                                       Unavailable (Inoperative), Occupied (a session or another
//	                                       reservation); the same reservationId replaces; connector 1
//	                                       Reserved until used, cancelled or expired (persisted)
//	CancelReservation           CSMS→CP    Accepted for the reservation in force, else Rejected
//	SetChargingProfile          CSMS→CP    ChargePointMaxProfile on 0, TxDefaultProfile on 0/1,
//	                                       TxProfile on 1 during a transaction; Absolute, Recurring,
//	                                       Relative; A or W; ≤ 10 profiles, stackLevel ≤ 10, ≤ 24 periods
//	ClearChargingProfile        CSMS→CP    by id, or by connector / purpose / stackLevel; Unknown if
//	                                       none matched
//	GetCompositeSchedule        CSMS→CP    connector 0/1, the stacked limit from now over duration,
//	                                       whole A or W (rounded down); MaxCurrentA where none limits
//	SecurityEventNotification   CP→CSMS    StartupOfTheDevice (each start), ResetOrReboot (before a
//	                                       Reset is handed over), InvalidCentralSystemCertificate,
//	                                       FailedToAuthenticateAtCentralSystem (kept in memory, ≤ 16,
//	                                       sent after the next accepted boot)
//	anything else               CSMS→CP    CALLERROR NotImplemented
//
// Security profile 1 (OCPP 1.6 Security Whitepaper): Config.Password is sent as HTTP Basic
// auth with the identity as user; a 401 is reported as refused credentials. Profile 2:
// a wss:// URL with Config.TLS.RootCAs holding the CSMS's CA; an untrusted server certificate
// fails the connection with "the CSMS's server certificate is not trusted". Profile 3: add
// the charge point's certificate (Config.TLS.Certificates); a CSMS that requires one from a
// charge point without one fails with "the CSMS requires a client certificate (security
// profile 3) and none is configured". ChargePoint.LastError returns the latest such error.
// Both are tested against the strict CSMS behind Node's https server with a CA, server and
// client certificates made in the test.
//
// # Local authorization (OCPP 1.6 §3.5)
//
// An idTag is looked up in the Local Authorization List (LocalAuthListEnabled, default true),
// then in the authorization cache (AuthorizationCacheEnabled, default true; filled from
// Authorize.conf and StartTransaction.conf for idTags not on the list); an entry past its
// expiryDate counts as Expired. Online, an Accepted local entry decides without the CSMS when
// LocalPreAuthorize is true, else the CSMS's Authorize decides. Offline (or when the call is
// lost), a local entry decides when LocalAuthorizeOffline is true, and an idTag on neither
// is Accepted when AllowOfflineTxForUnknownId is true; otherwise ErrOffline. StartLocal (an
// idTag presented at the charger) applies this and then Sessions.Start; RemoteStart applies
// it when AuthorizeRemoteTxRequests is true. StopLocal stops the transaction only for its own
// idTag or one with the same parentIdTag; RemoteStopTransaction always may. A reservation
// lets only its idTag (or its parentIdTag) start, on any link (Commander refuses a start
// command with ErrReserved).
//
// # Smart Charging (minimal)
//
// Profiles stack per §3.13: the TxProfile of the running transaction, else the
// TxDefaultProfile (the highest stackLevel in force; connector 1 before 0 at the same level),
// capped by the ChargePointMaxProfile. W are converted to A at 230 V × numberPhases (default
// 3). The hardware only switches the contactor: Config.Pause(true) is called when the limit
// in force becomes 0, Pause(false) when it becomes positive again or no profile limits
// (evaluated every second and on each change); ChargePoint.Limit reports the limit in A.
// TxProfiles are removed when their transaction ends.
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
// # Disk format (ocpp.db, user_version 3; migration 2 adds local_list and auth_cache, 3 charging_profile)
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
//	charging_profile(id INTEGER PRIMARY KEY, profile TEXT)   id = chargingProfileId; profile =
//	       {"connector":0,"received":"2026-12-05T08:00:00Z","profile":{…csChargingProfiles as sent…}}
//
// # Not done yet (issue 16)
//
//   - Firmware and diagnostics (UpdateFirmware, GetDiagnostics, SignedUpdateFirmware, GetLog)
//     and their status notifications beyond TriggerMessage's Idle.
//   - Security Whitepaper: certificate management (InstallCertificate, CertificateSigned,
//     SignCertificate, ExtendedTriggerMessage), signed firmware, the SecurityProfile and
//     AuthorizationKey keys; security events are kept in memory only (lost by a restart while
//     offline).
//   - Local list / cache: the cache has no size bound or eviction; StopTransaction.conf's
//     idTagInfo is not cached; a local list entry that differs from the CSMS's answer is not
//     reported.
//   - Reservation of connector 0 (ReserveConnectorZeroSupported is false).
//   - Smart Charging: only pause/resume (no current setpoint: the hardware has no PWM);
//     the limit is not yet in the gateway's status or telemetry (the appliance can read
//     ChargePoint.Limit).
//   - Signed values per sample; clock-aligned values outside a transaction; StopTxnSampledData
//     and StopTxnAlignedData (stored, not read); WebSocketPingInterval (stored; a dead link is
//     found by the heartbeat's call timeout).
//   - OCPP 2.0.1.
package ocpp
