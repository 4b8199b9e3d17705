// Package ocpp is chargegate's OCPP charge point: one connector, driven by the gateway's
// notifications, managed by a CSMS over OCPP-J — OCPP 1.6J (WebSocket subprotocol "ocpp1.6")
// or, with Config.Version "2.0.1", OCPP 2.0.1 ("ocpp2.0.1", see "OCPP 2.0.1 face" below).
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
// Beside that the appliance gives the charge point the update agent (Config.Firmware,
// FirmwareAgent), a diagnostics archive (Config.Diagnostics), a per-sample signer
// (Config.SignSample), its DataTransfer handlers (Config.DataHandlers), the control loop's
// pause and resume (Config.Pause) and a directory for its client certificate
// (Config.CertDir); at each start it calls Reconcile with the chain's last sessions, queues
// each session receipt with SendData, and may hand OnlineChecker (the CSMS's Authorize) to
// the access component as its online source.
//
// # Supported (OCPP 1.6 edition 2: Core, Firmware Management, Local Auth List Management,
// Reservation, Remote Trigger, Smart Charging (minimal); Security Whitepaper edition 3:
// profiles 1–3, certificates, signed firmware, logs, security events)
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
//	DataTransfer                CSMS→CP    vendorId org.chargegate, messageId token: a capability token
//	                                       starts a session (Config.DataHandlers); other messageIds
//	                                       UnknownMessageId, other vendors UnknownVendorId
//	DataTransfer                CP→CSMS    org.chargegate receipt: a session's signed receipt, durable
//	                                       queue, after its StopTransaction (SendData)
//	TriggerMessage              CSMS→CP    BootNotification, Heartbeat, StatusNotification, MeterValues
//	                                       (context Trigger) sent after the answer; Diagnostics- and
//	                                       FirmwareStatusNotification say the upload's / update's
//	                                       latest status, Idle when none; connector > 1 Rejected
//	UpdateFirmware              CSMS→CP    the update agent (Config.Firmware) at retrieveDate; see
//	                                       "Firmware" below; FTP → DownloadFailed
//	FirmwareStatusNotification  CP→CSMS    Downloading, Downloaded (also while the session runs),
//	                                       Installing, Installed (after the commit in the new slot);
//	                                       DownloadFailed, InstallationFailed
//	GetDiagnostics              CSMS→CP    fileName; archive (Config.Diagnostics) of startTime..stopTime
//	                                       PUT to location (POST on 405), retries/retryInterval; FTP:
//	                                       no fileName and UploadFailed
//	DiagnosticsStatusNotification CP→CSMS  Uploading, Uploaded / UploadFailed
//	SignedUpdateFirmware        CSMS→CP    Accepted; InvalidCertificate (see "Firmware"); Rejected
//	                                       (an update runs, no agent, not http(s))
//	SignedFirmwareStatusNotification CP→CSMS  DownloadScheduled, Downloading, Downloaded,
//	                                       SignatureVerified, InstallScheduled (waiting for the
//	                                       session), Installing, InstallRebooting, Installed;
//	                                       DownloadFailed, InvalidSignature, InstallVerificationFailed,
//	                                       InstallationFailed; with requestId
//	GetLog                      CSMS→CP    DiagnosticsLog / SecurityLog as GetDiagnostics; Accepted
//	                                       with filename, Rejected for FTP or a running upload;
//	                                       a SecurityLog archive also holds security_events.jsonl:
//	                                       the kept security events in the window, one
//	                                       SecurityEventNotification request per line
//	LogStatusNotification       CP→CSMS    Uploading, Uploaded / UploadFailure, with requestId
//	ExtendedTriggerMessage      CSMS→CP    as TriggerMessage, plus LogStatusNotification and
//	                                       SignChargePointCertificate (Rejected without CertDir);
//	                                       FirmwareStatusNotification → SignedFirmwareStatusNotification
//	SignCertificate             CP→CSMS    a CSR (P-256 key made on the device, file 0600; CN the
//	                                       identity, O the vendor)
//	CertificateSigned           CSMS→CP    Accepted when the chain matches the CSR's key, is valid for
//	                                       client auth and chains to the CSMS's roots; the connection
//	                                       is renewed with it; else Rejected (event
//	                                       InvalidChargePointCertificate)
//	InstallCertificate          CSMS→CP    Central-/ManufacturerRootCertificate: a self-signed CA valid
//	                                       now (≤ 8 per use); Accepted / Rejected / Failed
//	GetInstalledCertificateIds  CSMS→CP    SHA256 hash data (issuer name, issuer key, serial) or NotFound
//	DeleteCertificate           CSMS→CP    Accepted / NotFound
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
//	ClearCache                  CSMS→CP    Accepted: the authorization cache is emptied (C11)
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
//	                                       FailedToAuthenticateAtCentralSystem, FirmwareUpdated,
//	                                       InvalidFirmwareSignature, InvalidFirmwareSigningCertificate,
//	                                       InvalidChargePointCertificate; kept in ocpp.db (≤ 1000)
//	                                       until delivered, across restarts
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
// Renewal by the charge point (renewal.go; Security Whitepaper edition 3, OCPP 2.0.1 A03):
// with Config.CertDir, when the client certificate the next connection presents (installed
// by CertificateSigned, else configured) has less than min(30 days, a third of its validity)
// left, the charge point sends SignCertificate on its own, at most once per hour while a CSR
// waits (its key file's age); the CSMS answers with CertificateSigned as for one it asked for.
// It looks at the certificate on every new connection and then at most once a minute.
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
// TxProfiles are removed when their transaction ends. The appliance runs the control loop's
// pause and resume commands: each charging session is paused once while the limit is 0 (also
// one that starts under it), and resumed when the limit becomes positive only if this limit
// paused it (an operator's pause on another link stays).
//
// # Firmware (UpdateFirmware, SignedUpdateFirmware)
//
// Both hand the location to the A/B update agent (package ota, Config.Firmware) and follow its
// state: downloading → Downloading; downloaded, waiting (a session runs: the agent waits for it
// through the control loop's Hold) → Downloaded (signed: also SignatureVerified, and
// InstallScheduled while waiting); installing → Installing; installed, trial → (signed:
// InstallRebooting); committed → Installed, then the security event FirmwareUpdated; failed
// with a bundle that does not verify (signature, hashes, hardware, security floor) →
// InstallationFailed (signed: InvalidSignature for the signature, InstallVerificationFailed for
// the rest), failed before Downloaded → DownloadFailed, rolled back → InstallationFailed. An
// InvalidSignature the agent found (not the request's check) also sends the event
// InvalidFirmwareSignature. InstallScheduled is reported only while something holds the
// installation (the agent's WaitingFor: the charging session, the maintenance window). The
// job is kept in ocpp.db ("chargegate:firmware"), so the statuses due are sent in order after
// the restart into the new slot; a status skipped while offline is sent late, in order.
// retries and retryInterval are not used: the agent's own retry policy applies.
// installDateTime is not used: the agent installs as soon as no session runs (and inside its
// maintenance window).
//
// Signed firmware, mapped onto chargegate bundles (Ed25519 release keys, see package ota): the
// signingCertificate must hold an Ed25519 key that is one of the agent's trusted release keys
// (Config.FirmwareKeys), be valid now, and chain to an installed ManufacturerRootCertificate
// when one is installed (InstallCertificate) — else InvalidCertificate and the event
// InvalidFirmwareSigningCertificate. The signature (base64) must be that key's Ed25519
// signature over "chargegate-bundle-manifest/1\n" + the bundle's manifest.json — the message
// the bundle's own manifest.sig signs; the manifest carries every payload's hashes, so this
// signs the whole firmware. At retrieveDateTime the charge point reads the bundle's head
// (manifest.json, manifest.sig) and checks both the request's signature and the bundle's own
// signature by that key before the agent downloads; a mismatch is InvalidSignature with the
// event InvalidFirmwareSignature and nothing is written. The agent verifies everything again.
// The certificate and signature are kept in memory until checked: a restart before the
// retrieve time ends the job InvalidSignature. RevokedCertificate is not produced (no
// revocation list); AcceptedCanceled only on 2.0.1, for a job that had not reached the agent
// (an update the agent runs is never cancelled by a new one).
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
//	unplugged            EVDisconnected the vehicle left (control pilot state A)
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
// With the configuration key SampledDataSignReadings true (the OCPP 2.0.1 name, a vendor key
// here; default false) each periodic MeterValues of a transaction also carries one SignedData
// value: an OCMF record of the begin (TX B) and that reading (TX C), signed by the gateway
// (Config.SignSample). The appliance gives these records their own pagination sequence.
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
// apart, the message is given up (a StartTransaction with its whole session). At every start
// the appliance calls Reconcile with the sessions that ended among the chain's newest entries:
// a session the queue began but never ended (the process died between the control loop's end
// entry and the queue's commit) gets its StopTransaction from the chain's end entry (reason
// and registers), with the OCMF record as SignedData when the appliance kept it (it keeps each
// record it signs before committing the end entry, and passes it when its digest is the end
// entry's attachment). Tested with a SIGKILL at that step, the SignedData checked with
// chargegate ocmf verify (gateway/cmd/chargegate).
//
// # Disk format (ocpp.db, user_version 7; migration 2 adds local_list and auth_cache, 3
// charging_profile, 4 security_event and certificate, 5 tx.seq_no (2.0.1 below), 6
// security_event.sent, 7 auth_cache.used_at (for the 2.0.1 face, below))
//
//	outbox(id INTEGER PRIMARY KEY AUTOINCREMENT, session TEXT, action TEXT, payload BLOB,
//	       attempts INTEGER)   the queued request, JSON as sent except transactionId;
//	       action StartTransaction | MeterValues | StopTransaction | DataTransfer
//	tx(session TEXT PRIMARY KEY, id_tag TEXT, transaction_id INTEGER UNIQUE NULL,
//	   ended INTEGER, dropped INTEGER)   session ↔ transactionId
//	config(key TEXT PRIMARY KEY, value TEXT)   keys the CSMS changed, and
//	       "chargegate:availability" = Inoperative | Operative,
//	       "chargegate:local_list_version" = the Local Authorization List's listVersion,
//	       "chargegate:reservation" = {"id":7,"idTag":"RES1","parentIdTag":"P","expiry":"2026-12-05T10:00:00Z"}
//	       or "" (no reservation),
//	       "chargegate:firmware" = {"id":1796464800000000000,"signed":true,"requestId":7,"location":
//	       "https://fw.example/2.0.0.bundle","retrieve":"2026-12-05T10:00:00Z","started":true,
//	       "sent":["Downloading","Downloaded"]} or "" (no firmware job); id is when it was asked
//	       for (Unix ns); "final" and "detail" name a failure decided before the agent ran;
//	       "ocpp201":true for a 2.0.1 UpdateFirmware (its statuses); fields with zero values
//	       are left out (golden vector in firmware_internal_test.go)
//	local_list(id_tag TEXT PRIMARY KEY, status TEXT, expiry TEXT, parent_id_tag TEXT)
//	       the Local Authorization List (SendLocalList); expiry RFC 3339 UTC or ""
//	auth_cache(id_tag TEXT PRIMARY KEY, status TEXT, expiry TEXT, parent_id_tag TEXT,
//	       used_at INTEGER)   the idTagInfo of Authorize.conf and StartTransaction.conf for
//	       idTags not listed; used_at Unix ms of the last store or use (2.0.1 LifeTime)
//	charging_profile(id INTEGER PRIMARY KEY, profile TEXT)   id = chargingProfileId; profile =
//	       {"connector":0,"received":"2026-12-05T08:00:00Z","profile":{…csChargingProfiles as sent…}}
//	security_event(id INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT, sent INTEGER)   a
//	       SecurityEventNotification request as sent: {"type":"StartupOfTheDevice",
//	       "timestamp":"2026-12-05T08:00:00.000Z"}; type is the Security Whitepaper's name (the
//	       2.0.1 face renames when it sends); sent 0 until the CSMS got it, then 1 (kept for
//	       GetLog SecurityLog); the newest 1000 rows are kept
//	certificate(serial TEXT, issuer_name_hash TEXT, issuer_key_hash TEXT, type TEXT, pem TEXT,
//	       PRIMARY KEY(issuer_name_hash, issuer_key_hash, serial))   installed root certificates;
//	       type CentralSystemRootCertificate (2.0.1: CSMSRootCertificate) |
//	       ManufacturerRootCertificate; hashes SHA-256 hex of the DER issuer name and of the
//	       issuer's public key bits; serial lowercase hex
//
// Config.CertDir holds client-pending-key.pem (the CSR's key until its certificate comes),
// client-key.pem (0600) and client.pem (the chain CertificateSigned installed, leaf first).
// The local list's tables are unchanged by migration 4.
//
// # Not done yet (issue 16)
//
//   - Local list / cache: the cache has no size bound or eviction; StopTransaction.conf's
//     idTagInfo is not cached; a local list entry that differs from the CSMS's answer is not
//     reported.
//   - Reservation of connector 0 (ReserveConnectorZeroSupported is false).
//   - Smart Charging: only pause/resume (no current setpoint: the hardware has no PWM); the
//     limit in force is in OCPP (GetCompositeSchedule) and ChargePoint.Limit, not yet in the
//     gateway's status or telemetry (the appliance's status belongs to package gateway).
//   - Diagnostics uploads are kept in memory: a restart during one ends it without a final
//     status. Uploads are PUT/POST only (no FTP, no multipart form).
//   - The SecurityProfile and AuthorizationKey keys (profiles are set by configuration);
//     certificate revocation (RevokedCertificate never answered).
//   - Clock-aligned values outside a transaction; StopTxnSampledData and StopTxnAlignedData
//     (stored, not read); WebSocketPingInterval (stored; a dead link is found by the
//     heartbeat's call timeout).
//
// # OCPP 2.0.1 face (issue 19)
//
// Config.Version "2.0.1" (the appliance's ocpp.version) makes New's ChargePoint drive a
// ChargePoint201 (v201*.go): Run, Online, Status, Telemetry, Session, SessionStarted,
// Reconcile, Authorize, SendData and Commander's tokens go to it, so the appliance wires both
// faces the same way. One design, two faces: the 2.0.1 face uses the same OCPP-J framing
// (rpc.go), the same dial with Basic auth and TLS (security profiles 1–3, explainDial), the
// same ocpp.db (outbox, tx, config, security_event), the same connector-status derivation
// (connectorStatuses), the same Sessions and the same OCMF records; what differs is in
// v201_messages.go (message types), v201_devicemodel.go (the device model instead of
// configuration keys), v201_mapping.go (reasons and status) and v201_handlers.go. Both faces
// run the core's one connection loop (link.go): boot, then on every wake the face's statuses
// and triggered messages, the core's security events, the face's queued transaction messages,
// the core's firmware and upload statuses, and heartbeats. A 1.6
// message left in the outbox when the configuration switches to 2.0.1 is dropped (logged).
//
//	message                     direction  behaviour
//	BootNotification            CP→CSMS    reason PowerUp; RemoteReset after a Reset; FirmwareUpdate
//	                                       when the firmware job in force reached installing (the
//	                                       restart into the new slot, or back after a rollback);
//	                                       Accepted: online, HeartbeatInterval = interval;
//	                                       Pending/Rejected: again after the interval
//	Heartbeat                   CP→CSMS    every OCPPCommCtrlr.HeartbeatInterval
//	StatusNotification          CP→CSMS    EVSE 1 connector 1: Available, Occupied (any session
//	                                       state), Reserved, Unavailable, Faulted; each change and
//	                                       each boot
//	SecurityEventNotification   CP→CSMS    the security events of the shared core (same request,
//	                                       same ocpp.db queue) under their 2.0.1 names (Part 2
//	                                       Appendices, Security Events): InvalidCsmsCertificate,
//	                                       FailedToAuthenticateAtCsms, InvalidChargingStation-
//	                                       Certificate for the Whitepaper's InvalidCentralSystem-
//	                                       Certificate, FailedToAuthenticateAtCentralSystem,
//	                                       InvalidChargePointCertificate; the others are the same
//	TransactionEvent            CP→CSMS    durable queue, see below
//	DataTransfer                CP→CSMS    org.chargegate receipt (SendData), durable queue, after
//	                                       its transaction's Ended; data a JSON string (the 1.6
//	                                       request unchanged: 2.0.1's data takes any JSON)
//	DataTransfer                CSMS→CP    org.chargegate messages answered by Config.DataHandlers
//	                                       as on 1.6; data: a JSON string reaches the handler as its
//	                                       text, other JSON (an object) as its compact JSON; the
//	                                       reply goes back as a string; other messageIds (or none)
//	                                       UnknownMessageId, other vendors UnknownVendorId
//	MeterValues                 CP→CSMS    only clock-aligned values while idle with
//	                                       AlignedDataCtrlr.SendDuringIdle (J01.FR.14): evseId 1,
//	                                       Sample.Clock, in memory (the last 16), dropped on a
//	                                       CALLERROR
//	ReserveNow                  CSMS→CP    the core's reservation of EVSE 1 (evseId 1 or absent;
//	                                       connectorType not checked): Accepted (persisted; the
//	                                       connector Reserved), Occupied (a transaction, a remote
//	                                       start under way, another reservation id), Faulted,
//	                                       Unavailable, Rejected (evseId ≠ 1, expiry past); the same
//	                                       id replaces its reservation; groupIdToken kept as the
//	                                       reservation's parent
//	CancelReservation           CSMS→CP    Accepted for the reservation in force, else Rejected
//	ReservationStatusUpdate     CP→CSMS    Expired when a reservation's expiryDateTime passes (in
//	                                       memory until sent; after a restart the persisted
//	                                       reservation expires again at Run); a used or cancelled
//	                                       reservation sends none
//	Authorize                   CP→CSMS    ChargePoint.Authorize: idToken ISO14443 (a card UID in
//	                                       hex, 8/14/20 digits) or Central; the core's local
//	                                       authorization (decide) with the AuthCtrlr rules below
//	SendLocalList               CSMS→CP    Full / Differential (VersionMismatch unless newer);
//	                                       Failed when LocalAuthListCtrlr.Enabled is false
//	GetLocalListVersion         CSMS→CP    the stored version, 0 before any list
//	ClearCache                  CSMS→CP    Accepted: the authorization cache is emptied (C11)
//	Reset                       CSMS→CP    Rejected without Config.Reset or for EVSE ≠ 1; Immediate:
//	                                       the transaction ends (ResetCommand / ImmediateReset),
//	                                       ResetOrReboot event, Config.Reset; OnIdle during a
//	                                       transaction: Scheduled, after its end; the next boot
//	                                       says RemoteReset (persisted)
//	ChangeAvailability          CSMS→CP    station or EVSE 1 (the same outlet): the core's hold
//	                                       (Accepted, Scheduled during a transaction, persisted);
//	                                       the connector is Unavailable whenever no session runs
//	SetChargingProfile          CSMS→CP    the core's store and stacking (Smart Charging above):
//	                                       ChargingStationMaxProfile on EVSE 0 (stored as
//	                                       ChargePointMaxProfile), TxDefaultProfile on 0/1,
//	                                       TxProfile on 1 for the running transactionId; one
//	                                       chargingSchedule; ExternalConstraints Rejected; a limit
//	                                       of 0 pauses (Config.Pause), positive resumes
//	ClearChargingProfile        CSMS→CP    by id or by criteria (evseId, purpose, stackLevel);
//	                                       Unknown if none matched
//	GetCompositeSchedule        CSMS→CP    EVSE 0/1, the stacked limit, whole A or W
//	GetChargingProfiles         CSMS→CP    the installed profiles matching evseId, purpose,
//	                                       stackLevel, chargingProfileId and chargingLimitSource
//	                                       (all CSO): Accepted, then ReportChargingProfiles;
//	                                       NoProfiles when none matches (K09)
//	ReportChargingProfiles      CP→CSMS    one per EVSE (0 first), tbc on all but the last: each
//	                                       profile as set (2.0.1 purpose, its schedule id, the
//	                                       running transactionId on a TxProfile)
//	TriggerMessage              CSMS→CP    BootNotification (reason Triggered), Heartbeat,
//	                                       StatusNotification, SignChargingStationCertificate
//	                                       (Rejected without Config.CertDir) after the answer;
//	                                       FirmwareStatusNotification / LogStatusNotification: the
//	                                       latest status of the update / upload in force with its
//	                                       requestId, Idle without one when none runs; others
//	                                       NotImplemented; EVSE ≠ 1 Rejected
//	UpdateFirmware              CSMS→CP    the core's firmware job and update agent (see "Firmware"
//	                                       above), job marked ocpp201. With signingCertificate and
//	                                       signature (L01): the core's signed path, signature
//	                                       checked before the download; without (L02): the agent
//	                                       still verifies the bundle's own signature. Accepted;
//	                                       InvalidCertificate (event
//	                                       InvalidFirmwareSigningCertificate); AcceptedCanceled when
//	                                       it replaces a job still waiting for its retrieveDateTime
//	                                       (the old one ends without a status); Rejected with
//	                                       statusInfo: NoUpdateAgent, InvalidURL (not http(s), FTP,
//	                                       garbage), MissingSignature (only one of the two),
//	                                       UpdateInProgress (an update reached the agent: it is not
//	                                       cancelled). retries, retryInterval: the agent's own
//	                                       policy; installDateTime is not honoured: the agent cannot
//	                                       be told a time, it installs once the bundle is verified,
//	                                       no session runs and its maintenance window is open
//	FirmwareStatusNotification  CP→CSMS    with the requestId: DownloadScheduled (retrieveDateTime
//	                                       ahead), Downloading, Downloaded, SignatureVerified (with
//	                                       a request signature), InstallScheduled (the agent waits
//	                                       for the running transaction: never interrupted),
//	                                       Installing, InstallRebooting, then after the
//	                                       FirmwareUpdate boot Installed (event FirmwareUpdated);
//	                                       DownloadFailed, InvalidSignature (event
//	                                       InvalidFirmwareSignature), InstallVerificationFailed
//	                                       (hashes, hardware, security floor), InstallationFailed
//	                                       (rolled back). A status whose answer a restart cut off
//	                                       is sent again (at least once)
//	GetLog                      CSMS→CP    the core's GetLog (1.6 table above): Accepted with
//	                                       filename; Rejected for FTP, no archive or a running
//	                                       upload; SecurityLog with security_events.jsonl
//	LogStatusNotification       CP→CSMS    Uploading, Uploaded / UploadFailure (after the retries),
//	                                       with the requestId
//	SignCertificate             CP→CSMS    A02, the core's CSR: a new P-256 key made on the device
//	                                       (file 0600), CN the identity, O SecurityCtrlr.Organization-
//	                                       Name; certificateType ChargingStationCertificate
//	CertificateSigned           CSMS→CP    the core's check: Accepted when the chain matches the
//	                                       pending CSR's key, is valid for client authentication and
//	                                       chains to a CSMS root (configured or installed); then the
//	                                       connection is renewed and the next one presents it
//	                                       (profile 3). Else Rejected, statusInfo InvalidCertificate
//	                                       and the event InvalidChargingStationCertificate (no CSR
//	                                       pending, another key, garbage, a foreign CA); type
//	                                       V2GCertificate Rejected (UnsupportedParam: no ISO 15118);
//	                                       a chain over MaxCertificateChainSize Rejected
//	                                       (TooLargeElement)
//	InstallCertificate          CSMS→CP    CSMSRootCertificate, ManufacturerRootCertificate: the
//	                                       core's store (a self-signed CA valid now, at most 8 of
//	                                       each): Accepted, Rejected (InvalidCertificate; store full:
//	                                       OutOfStorage), Failed (InternalError); V2GRootCertificate,
//	                                       MORootCertificate Rejected (UnsupportedParam)
//	GetInstalledCertificateIds  CSMS→CP    certificateHashDataChain of the asked uses (all without a
//	                                       filter), SHA256, each with its certificateType; NotFound
//	                                       when none (always for the ISO 15118 uses)
//	DeleteCertificate           CSMS→CP    the core's: Accepted, NotFound (SHA384/SHA512 hash data
//	                                       too), Failed; as on 1.6 the CSMS root the connection
//	                                       relies on may be deleted (the configured roots remain)
//	GetVariables                CSMS→CP    Actual only: Accepted with the value; UnknownComponent,
//	                                       UnknownVariable, NotSupportedAttributeType
//	SetVariables                CSMS→CP    Accepted (persisted before the answer), Rejected
//	                                       (ReadOnly, or a value not of the variable's type/list)
//	GetBaseReport               CSMS→CP    FullInventory, ConfigurationInventory: Accepted, then
//	                                       NotifyReport of 20 variables each, seqNo from 0, tbc;
//	                                       SummaryInventory NotSupported
//	GetReport                   CSMS→CP    B08: the variables componentVariable selects (a component,
//	                                       or a variable of it, every instance unless one is named;
//	                                       components have no instance or EVSE here) that pass
//	                                       componentCriteria (Enabled: the component's Enabled is
//	                                       true; Active, Available, Problem: no such variables, so
//	                                       nothing); Accepted then NotifyReport, or EmptyResultSet
//	NotifyReport                CP→CSMS    attribute Actual with mutability, persistent, constant;
//	                                       characteristics dataType, unit, valuesList
//	RequestStartTransaction     CSMS→CP    Accepted when no transaction runs or is being started,
//	                                       evseId is 1 or absent and a reservation in force is the
//	                                       idToken's (or its groupIdToken's), else Rejected; then,
//	                                       with AuthCtrlr.AuthorizeRemoteStart, the idToken (its
//	                                       type as sent) is authorized first (F01/F02: the local
//	                                       list and cache, or Authorize): not Accepted starts
//	                                       nothing and, as no transaction exists before
//	                                       authorization (TxStartPoint Authorized), sends no
//	                                       TransactionEvent; without it the session starts and the
//	                                       Started event's idTokenInfo decides (StopTxOnInvalidId).
//	                                       The Started event says RemoteStart and carries
//	                                       remoteStartId. A chargingProfile must be a TxProfile
//	                                       without transactionId, one schedule (else Rejected); it
//	                                       is installed as the transaction's TxProfile once the
//	                                       session started and ends with it (K05)
//	RequestStopTransaction      CSMS→CP    Accepted for the running transactionId (Ended: RemoteStop
//	                                       / Remote), else Rejected
//	GetTransactionStatus        CSMS→CP    E14 from the outbox: messagesInQueue (that transaction's
//	                                       TransactionEvents, or any transaction's without an id);
//	                                       ongoingIndicator (only with an id: it still runs)
//	UnlockConnector             CSMS→CP    the outlet has no lock: Unlocked (reason NoLock);
//	                                       OngoingAuthorizedTransaction during one (not stopped);
//	                                       UnknownConnector for anything but EVSE 1 connector 1
//	anything else               CSMS→CP    CALLERROR NotImplemented
//
// Calls are decoded as strictly as on 1.6 (an unknown member is a FormationViolation), except
// that customData, which every 2.0.1 object may carry for a vendor's extension, is dropped
// first (dropCustomData; a DataTransfer's data is kept as sent).
//
// Device model (component.variable[instance], mutability, default; values the CSMS sets are
// kept in the config table as "v201:<component>/<variable>[/<instance>]", read at start;
// ReadOnly ones are never read from it):
//
//	OCPPCommCtrlr      HeartbeatInterval RW (Config), MessageAttempts[TransactionEvent] RW 3,
//	                   MessageAttemptInterval[TransactionEvent] RW (Config.RetryInterval),
//	                   MessageTimeout[Default] RO, FileTransferProtocols RO, NetworkConfiguration-
//	                   Priority RO, NetworkProfileConnectionAttempts RW, OfflineThreshold RW,
//	                   ResetRetries RW, UnlockOnEVSideDisconnect RO false,
//	                   PublicKeyWithSignedMeterValue RW OncePerTransaction
//	TxCtrlr            EVConnectionTimeOut RW, StopTxOnEVSideDisconnect RO, StopTxOnInvalidId RW
//	                   true, TxStartPoint RO Authorized, TxStopPoint RO Authorized
//	SampledDataCtrlr   SignReadings RW false, TxStartedMeasurands RW (MemberList) Energy.Active.
//	                   Import.Register, TxUpdatedMeasurands RW Energy.Active.Import.Register,
//	                   Power.Active.Import, TxUpdatedInterval RW (Config), TxEndedMeasurands RW
//	                   Energy.Active.Import.Register, TxEndedInterval RW 0 (all acted on, below)
//	AlignedDataCtrlr   Enabled RW true, Measurands RW Energy.Active.Import.Register, Interval RW 0
//	                   (off), SendDuringIdle RW false, TxEndedMeasurands RW Energy.Active.Import.
//	                   Register, TxEndedInterval RW 0 (all acted on, below)
//	AuthCtrlr          Enabled RW (stored, not acted on), AuthorizeRemoteStart RW false (acted on:
//	                   RequestStartTransaction), LocalAuthorizeOffline, LocalPreAuthorize,
//	                   OfflineTxForUnknownIdEnabled RW (the core's rules, as the 1.6 keys of the
//	                   same names)
//	AuthCacheCtrlr     Enabled RW (Authorize and TransactionEvent idTokenInfo cached), LifeTime RW
//	                   86400 s: an entry not stored or used for longer is not used (0: no limit;
//	                   the core's cache, which has no such limit on 1.6)
//	LocalAuthListCtrlr Enabled RW, ItemsPerMessage RO, Storage RO
//	SecurityCtrlr      SecurityProfile RO (live: 3 over wss:// with a client certificate, configured
//	                   or installed by CertificateSigned; 2 over wss://; else 1), Identity RO,
//	                   OrganizationName RW (the CSR's O), CertificateEntries RO (live: installed
//	                   CSMS and manufacturer roots, plus 1 for an installed client certificate),
//	                   MaxCertificateChainSize RO 10000, BasicAuthPassword WO (A01: 16..40
//	                   characters of UTF-8 without control characters; kept in the config table,
//	                   never read back — GetVariables Rejected, reports WriteOnly without a value —
//	                   nor logged; the connection is renewed after the answer and every later
//	                   one authenticates with it instead of Config.Password)
//	SmartChargingCtrlr Enabled RO, RateUnit RO, PeriodsPerSchedule RO, ProfileStackLevel RO,
//	                   LimitChangeSignificance RW (stored, not acted on: limits apply whole)
//	FiscalMetering     PublicKey RO: Config.MeterPublicKey as base64 DER
//	DeviceDataCtrlr    ItemsPerMessage[GetVariables|SetVariables|GetReport] RO
//
// TransactionEvent: the transactionId is the chargegate session id. Started (triggerReason
// Authorized, or RemoteStart with remoteStartId; idToken, evse 1/1, reservationId when it
// fulfils the reservation, the Transaction.Begin values of TxStartedMeasurands), Updated
// (MeterValuePeriodic every TxUpdatedInterval of telemetry time with the TxUpdatedMeasurands;
// MeterValueClock at each AlignedDataCtrlr.Interval boundary since midnight UTC with its
// Measurands, context Sample.Clock, stamped with the boundary — the core's 1.6 boundary — unless
// SendDuringIdle, J01.FR.20), Ended (trigger and stoppedReason per the table below; meterValue:
// the Transaction.Begin values of SampledDataCtrlr.TxEndedMeasurands, Sample.Periodic ones every
// TxEndedInterval, Sample.Clock ones at each AlignedDataCtrlr.TxEndedInterval boundary of its
// TxEndedMeasurands, at most 200 in all, then the Transaction.End values). The values come from
// the gateway's latest telemetry (energy import/export Wh, power W, current A, voltage V as on
// 1.6); what the Ended event keeps is in memory, so after a restart (or for Reconcile) it has
// only the begin and end import registers. A measurand list the telemetry cannot fill (current
// or voltage without readings) gives an event no meterValue. seqNo is 0 for Started and one more per event of the
// transaction, given inside the SQLite transaction that queues the event (tx.seq_no), so it is
// gap-free across restarts. offline is true when the event was made while no connection was
// accepted. The events go in queue order under message id "tx<row>" (the same on resends); a
// CALLERROR is an attempt, retried MessageAttemptInterval × attempt later, given up after
// MessageAttempts; a lost connection keeps the event at the head. An idTokenInfo that is not
// Accepted stops the transaction when StopTxOnInvalidId (Deauthorized / DeAuthorized).
//
//	chargegate end reason    triggerReason       stoppedReason
//	local                    StopAuthorized      Local
//	remote                   RemoteStop          Remote
//	energy_limit             EnergyLimitReached  EnergyLimitReached
//	time_limit               TimeLimitReached    TimeLimitReached
//	emergency_stop           AbnormalCondition   EmergencyStop
//	rcd_trip                 AbnormalCondition   GroundFault
//	power_failure            AbnormalCondition   PowerLoss
//	shutdown                 AbnormalCondition   Reboot
//	relay_*, meter_*, disk_full, anything new
//	                         AbnormalCondition   Other
//	(RequestStopTransaction)  RemoteStop         Remote
//
// Signed meter values: SignedMeterValueType {signedMeterData: base64 of the OCMF record,
// signingMethod: the record's SA (ECDSA-secp256r1-SHA256 when absent), encodingMethod "OCMF",
// publicKey: base64 DER of Config.MeterPublicKey per PublicKeyWithSignedMeterValue — Never:
// "", OncePerTransaction: on the transaction's first signed value only, EveryMeterValue: on
// each}. The Ended event carries the session's record (begin and end readings) on its
// Transaction.End import register, added for it when TxEndedMeasurands leaves the register out
// (the record is the transaction's billing proof); with SignReadings true and
// Config.SignSample the Started event (when TxStartedMeasurands has the import register) and
// each MeterValuePeriodic Updated event (when TxUpdatedMeasurands has it) carry a
// gateway-signed record of that reading on the register (Config.SignSample, as 1.6's
// SampledDataSignReadings). A record whose base64 exceeds 2,500 characters is left out (logged).
//
// Disk format: migration 5 adds tx.seq_no (INTEGER, the next seqNo); outbox.action is
// TransactionEvent with the request as sent (seqNo and offline included, nothing filled later).
// Migration 7 adds auth_cache.used_at (INTEGER, Unix ms when the entry was last stored or used,
// for AuthCacheCtrlr.LifeTime; 0 for entries from before, which a lifetime then excludes). The
// reservation is the core's config entry "chargegate:reservation" (parentIdTag = groupIdToken).
//
// lorenzodonini/ocpp-go v0.19.0 has 2.0.1 message types and a charging-station client, but
// not used for the reasons given above for 1.6 (in-memory offline queue; the durable outbox
// and stable message ids are the point), and its types would be a second copy of what the
// 1.6 core already frames; the strict ocpp-rpc peer checks the JSON against the official
// 2.0.1 schemas instead.
//
// Not done on 2.0.1 yet: StartLocal/StopLocal (a token presented at the charger goes through
// the appliance's access component and Authorize), TriggerMessage of other messages
// (SignV2GCertificate, SignCombinedCertificate NotImplemented);
// ReservationStatusUpdate Removed (a reservation ends only by use, cancel or expiry);
// AlignedDataCtrlr.SignReadings; an empty measurand list (SetVariables rejects ""); in block A:
// falling back to the previous password when the CSMS refuses the new one (A01), A05
// (security-profile upgrade through NetworkConnectionProfiles), SignCertificate retries
// (CertSigningWaitMinimum, CertSigningRepeatTimes), falling back to the previous client
// certificate when the new one is refused, AdditionalRootCertificateCheck, ISO 15118
// certificates (V2G, MO, Get15118EVCertificate, GetCertificateStatus); GetLog's
// AcceptedCanceled (a running upload is not cancelled: Rejected), PublishFirmware,
// UpdateFirmware's installDateTime; NotifyChargingLimit, ClearedChargingLimit and
// NotifyEVChargingNeeds/Schedule (no EMS or ISO 15118 limits here); GetVariables attribute
// types other than Actual; SetVariableMonitoring and NotifyEvent (block N's
// monitoring); SetNetworkProfile; CostUpdated, CustomerInformation and the display messages.
// SetVariables of HeartbeatInterval applies at once but is not sent back in a report until
// asked. The face speaks for EVSE 1: on a box with several EVSEs (evses:) the others'
// sessions are recorded in the chain but not reported over OCPP.
package ocpp
