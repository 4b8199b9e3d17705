// Package mqtt is the operator link: it publishes status, telemetry, readings from the SQLite outbox, sessions and anchors over MQTT and receives verified commands.
//
// This comment is the link's contract with the operator's back end. The golden payloads in
// testdata/*.json are produced by the Go types named below (golden_test.go; regenerate with
// go test -update after a deliberate change, and say so in the changelog: receivers parse them).
//
// # Connection
//
// MQTT 3.1.1 (paho.mqtt.golang; it falls back to 3.1 only for a broker that refuses 3.1.1).
//
//	broker          mqtt.broker: tcp://, ssl://, tls://, mqtt://, mqtts://, ws:// or wss:// URL
//	client ID       mqtt.client_id, default "chargegate-{device}"
//	clean session   true: the broker keeps no session for the device. Readings are resent from
//	                the store's cursor after a reconnect, and subscriptions are made again on
//	                every connection, so nothing depends on broker-side state.
//	keep-alive      mqtt.keep_alive, default 30 s
//	connect timeout 10 s per attempt; write timeout 10 s
//	TLS             ≥ 1.2; server verified against mqtt.ca_file (system roots when unset);
//	                client certificate mqtt.cert_file + mqtt.key_file (key file mode 0600)
//	credentials     mqtt.username, password read from mqtt.password_file (mode 0600, never logged)
//	reconnect       the first connection is retried with exponential backoff: 1 s doubling to
//	                30 s, each delay drawn uniformly from ±50 % of the nominal value
//	                (cenkalti/backoff/v5), so that a fleet does not reconnect in step after a
//	                broker restart; later connection losses are retried by the client up to
//	                every 30 s. Failed outbox deliveries back off the same way.
//
// {device} is ledger.DeviceID of the device's entry key: 16 lowercase hex digits.
//
// # Topics
//
// Every topic lies under {prefix}/{device}/, {prefix} being mqtt.topic_prefix (default
// "chargegate", free of + and #). Device → operator unless marked otherwise:
//
//	topic              QoS retain payload (Go type)          when
//	status             1   yes    Presence                  on every connection ("online", once the
//	                                                        broker granted the cmd/+ subscription:
//	                                                        a command sent on seeing it arrives), on
//	                                                        a clean stop and as last will ("offline")
//	telemetry          0   no     gateway.Telemetry         after every meter poll; dropped when the
//	                                                        link's queue (64 messages) is full
//	readings           1   no     Reading                   every entry of the chain, from the outbox
//	sessions           1   no     gateway.SessionRecord     once per finished charging session
//	anchors            1   no     AnchorMessage             once per anchor confirmed on the ledger
//	update             1   yes    ota.Status                when the update agent's state changes
//	receipts           1   no     signed receipt (JSON)     once per finished session: its W3C VC
//	                                                        receipt (package ledger/receipt)
//	checkpoint         1   yes    CheckpointMessage         the latest signed checkpoint of the chain,
//	                                                        at every anchor and every few minutes
//	cmd/{name}         1   no     command (operator → device; the device subscribes to cmd/+)
//	cmd/{name}/reply   1   no     Reply                     once per command received
//
// Telemetry, sessions, anchors and update go through a best-effort queue (Link.Publish): they are
// not stored for later, and a message queued while the broker is unreachable is dropped. The
// chain itself is complete on the readings topic: a session's begin and end entries and every
// event are readings too.
//
// # readings: delivery
//
// The SQLite outbox is the source of truth; the MQTT client's own store holds nothing. The link
// publishes the entries after the store's "mqtt" cursor, up to mqtt.in_flight (default 64) at a
// time, and moves the cursor only through the longest prefix whose PUBACKs arrived. Anything not
// acknowledged within 20 s is sent again from the cursor, after a restart too. Delivery is
// therefore at least once and in sequence order per batch: a receiver deduplicates by (device,
// seq) and may see a sequence number again, never a gap it cannot fill — a missing number is
// one that has not been delivered yet.
//
// Reading fields (all present unless marked optional):
//
//	device             ledger.DeviceID of the entry key
//	seq                sequence number, 1, 2, 3 … per device, never reused
//	kind               reading | session_begin | session_end | gap | event
//	time               the entry's time, RFC 3339 with nanoseconds, UTC
//	time_status        OCMF time status: U unsynchronised, I informative, S synchronised, R relative
//	session_id         optional: the session the entry belongs to
//	meter_serial       optional: serial number of the meter read
//	energy_import_mwh  cumulative imported energy register, milliwatt-hours (integer)
//	energy_export_mwh  cumulative exported energy register, milliwatt-hours (integer)
//	event              optional: event code (kind event and gap)
//	detail             optional: human-readable detail of the event
//	hash               SHA-256 of the entry's encoding, 64 hex digits: the entry's identity
//	entry              the signed entry, base64 (standard, padded) of ledger.Entry.MarshalBinary
//
// Only entry is authoritative: a receiver that bills or verifies decodes it (package ledger's
// documented layout), checks its Ed25519 signature under the device key and its link to the
// previous entry's hash; the other fields repeat it for reading and must agree with it.
//
// # status
//
//	state   "online" or "offline"
//	device  the device ID
//
// The broker publishes the last will {"device":…,"state":"offline"} (QoS 1, retained) when the
// device vanishes without a clean stop; a clean stop publishes the same message itself.
//
// # telemetry (gateway.Telemetry)
//
// One message per EVSE and poll; on a box with several EVSEs (the configuration's evses:
// list) each names its EVSE, so a receiver keeps the latest per evse:
//
//	evse               optional: the EVSE's number 1..N on a box with several; absent on a
//	                   box with one
//	time               time of the meter poll, RFC 3339, the box's clock
//	meter_serial       serial number reported by the meter
//	energy_import_mwh  cumulative imported energy, milliwatt-hours (integer)
//	energy_export_mwh  cumulative exported energy, milliwatt-hours (integer)
//	power_w            total active power, watts (import positive)
//	voltage_v          optional: voltage per phase L1, L2, L3 (L-N), volts
//	current_a          optional: current per phase, amperes
//	frequency_hz       optional: grid frequency, hertz
//	relay_closed       whether the contactor is closed
//	session_id         optional: the running session
//	allowed_a          optional: the current per phase the EVSE may draw now (0: paused), where
//	                   load management runs (gateway/site)
//	allowed_reason     optional: the rule that set it: evse_max, operator, ocpp, fallback,
//	                   site_limit, site_min, standby, grid_stale, pv_surplus, pv_hold,
//	                   pv_wait, no_vehicle
//
// Telemetry is for dashboards; only readings bill. Example of EVSE 2 of a two-socket post,
// held to its share of the site limit (testdata/telemetry_evse.json):
//
//	{"evse":2,"time":"2026-11-24T12:00:00Z","meter_serial":"71000043","energy_import_mwh":523400,
//	 "energy_export_mwh":0,"power_w":5934,"voltage_v":[230,230,230],"current_a":[8.6,8.6,8.6],
//	 "relay_closed":true,"session_id":"8f3a6c0d2b1e4a58","allowed_a":8.6,"allowed_reason":"site_limit"}
//
// # sessions (gateway.SessionRecord)
//
//	id                 session ID, 16 hex digits, chosen by the device
//	evse_id            the EVSE's ID from the configuration (device.evse_id, or evses[i].id)
//	evse               optional: the EVSE's number 1..N on a box with several (absent with one)
//	id_token           optional: the token that authorized the session
//	meter_serial       the meter that measured the session
//	start, end         begin and end time, RFC 3339
//	begin_import_mwh   import register at begin, milliwatt-hours
//	end_import_mwh     import register at end, milliwatt-hours
//	energy_mwh         end_import_mwh − begin_import_mwh, milliwatt-hours
//	begin_export_mwh   export register (energy fed back, V2G) at begin; absent when 0
//	end_export_mwh     export register at end; absent when 0 (the OCMF record then has no
//	                   export readings)
//	reason             why it ended: local, remote, energy_limit, time_limit, emergency_stop,
//	                   rcd_trip, relay_fault, meter_lost, meter_replaced, meter_counter_reset,
//	                   power_failure, shutdown, relay_not_closed
//	begin_seq, end_seq sequence numbers of the session's begin and end entries
//	ocmf               optional: the session's OCMF record, "OCMF|{payload}|{signature}"
//	ocmf_signer        optional: "meter" (the certified meter's record, byte for byte) or
//	                   "gateway" (signed with the device's P-256 key)
//
// # anchors (AnchorMessage)
//
//	first_seq, last_seq  the range of entries the anchor covers, inclusive
//	root                 Merkle root over the entries' hashes, 64 hex digits (no 0x)
//	block_id             ID of the Stardust block carrying the anchor, 0x + 64 hex digits
//	milestone            index of the milestone that confirmed the block
//	state                "confirmed"
//
// With the readings a receiver holds, it can rebuild the root, fetch the block from any node and
// check it (package ledger/anchor documents the payload and the proof).
//
// # checkpoint (CheckpointMessage)
//
//	size        the tree size, which is the head sequence number
//	checkpoint  the C2SP signed note: origin chargegate/{device}, size, base64 root, the
//	            device's signature line and any witness cosignatures (ledger/checkpoint)
//
// Keep it: a later checkpoint must be consistent with it (GET /api/v1/checkpoint/consistency on
// the local API), or the device's data was rolled back or forked.
//
// # update (ota.Status)
//
//	state           idle | downloading | downloaded | waiting | installing | installed | trial |
//	                committed | rolled_back | failed
//	percent         download progress, 0–100
//	version         the running version
//	target_version  optional: the version being installed
//	security_floor  the lowest security version the device still accepts
//	slot            optional: the slot being written or tried
//	activating      true while installation runs; sessions are refused meanwhile
//	waiting_for     optional: what holds activation back ("charging session", "maintenance window")
//	error           optional: why the last update failed
//	updated_at      time of the last change, RFC 3339
//
// # Commands
//
// The operator publishes a command on cmd/{name} and the device answers on cmd/{name}/reply.
// Names and arguments (JSON object, at most 4096 bytes, unknown fields refused):
//
//	name           arguments            result on success
//	start          id_token (optional)  {"session_id","begin_seq"}
//	               token (optional)     a signed capability token (gateway/access, compact JWS):
//	                                    verified on the box; its limits bound the session and the
//	                                    begin entry records the decision, not the id token
//	authorize      id_token or token    {"session_id","begin_seq"}: start with a token
//	stop           —                    {"session_id","energy_mwh","end_seq"}
//	clear_fault    —                    {"cleared":[alarm names]}: releases latched relay,
//	                                    emergency-stop, RCD, meter reset and replacement
//	                                    alarms; recorded as a fault_cleared event
//	pause          —                    {"session_id"}: the relay opens, the session goes on
//	                                    (state paused); recorded as a session_paused event
//	resume         —                    {"session_id"}: the relay closes again (state charging);
//	                                    recorded as a session_resumed event
//	limit          amps (optional),     {"evse","amps"[,"until"]} or {"evse","cleared":true}: the
//	               until (optional)     operator's current limit per phase (gateway/site,
//	                                    OriginOperator): a positive value is a ceiling the
//	                                    EVSE's setpoint follows, 0 pauses (no current offered;
//	                                    the session goes on), no amps lifts it; until (RFC 3339)
//	                                    ends it by itself. With evse, on that EVSE; without, on
//	                                    the sum of every EVSE of the box. Each change of an
//	                                    allowed current it causes is a current_limit event
//	mode           mode                 {"evse","mode"}: "grid" or "pv" (charge only from the
//	                                    export at the grid meter); without evse, every EVSE
//	update         url (http or https)  ota.Status once the download was accepted
//	cancel_update  —                    ota.Status: a running download is abandoned
//	repair_update  —                    ota.Status: a broken update state is reset
//	config         —                    the running configuration with secrets shown as "(set)";
//	                                    for people, not a stable format
//	allow_list     op, version, entries {"version","size"}; op "get": {"version","entries"}
//
// allow_list manages the box's local allow-list (gateway/access; with OCPP on, the same list
// as OCPP's Local Authorization List): op "add" puts entries (replacing those of the same
// id_token), "remove" deletes the entries' id_tokens, "replace" makes entries the whole list,
// "get" answers it. version (integer > 0) is the list's version after the change: an add or
// remove whose version is not above the list's is refused (bad_request, as OCPP's
// VersionMismatch), a replace may set any version. An entry:
//
//	{"id_token":"04A1B2C3","group":"fleet-7","note":"…","expires":"2027-01-01T00:00:00Z",
//	 "limits":{"max_wh":20000,"max_s":7200,"max_w":11000},"status":"Accepted"}
//
// id_token is required (1–36 printable ASCII, named once per command); status is Accepted
// (default), Blocked, Expired or Invalid (a known token refused). The list holds at most 1,000
// entries. Each change is saved before the reply and recorded as an allow_list event
// (operation, version, sizes — never an id_token); remove is an entry with id_token only.
// Example: {"request_id":"r-9","op":"add","version":7,"entries":[{"id_token":"04A1B2C3"}]}
//
// On a box with several EVSEs, start, authorize, stop, pause, resume and clear_fault take an
// optional evse (1..N): the EVSE the command is for, EVSE 1 when absent; clear_fault without
// it clears every EVSE (an e-stop latches them all) and answers "cleared" as "N:alarm". An EVSE
// the box does not have, or evse on a box-wide command, is bad_request. limit and mode answer
// unavailable on a box without load management. Example (testdata/cmd_limit_payload.json):
//
//	{"request_id":"op-0002","evse":2,"amps":10,"until":"2026-11-24T14:00:00Z"}
//
// Every command also carries:
//
//	request_id  1–64 characters chosen by the operator, unique per device; echoed in the reply
//	issued_at   RFC 3339 time the operator issued the command
//	expires_at  RFC 3339 time after which the device must not execute it;
//	            expires_at − issued_at ≤ 24 h
//
// # Signed commands
//
// When mqtt.command_keys lists operator keys (Ed25519, PEM), every command must arrive in a
// signed envelope; a bare command is refused (unauthorized):
//
//	payload  base64 (standard, padded) of the command's JSON bytes — what is signed
//	sig      base64 of the Ed25519 signature over the signing input below
//
// The envelope has no key ID: the device tries each trusted key (a handful at most). Signing
// input:
//
//	"chargegate-command-v1\n" ‖ device ‖ "\n" ‖ name ‖ "\n" ‖ payload bytes
//
// Binding device and name means a captured command cannot be replayed to another charger or
// under another name (gateway.CommandSigningInput). request_id, issued_at and expires_at sit
// inside the signed payload. The device executes a command only if it was issued at most 24 h
// before it expires, its clock (allowing 5 min of skew either way) lies between issued_at and
// expires_at (otherwise: expired), and its request_id was not executed before (otherwise:
// replayed). Executed request IDs are remembered on disk until their command expires, so a
// replay is refused across restarts too.
//
// # Replies (Reply)
//
//	request_id  the command's request_id; recovered from a malformed or unverified command when
//	            possible (from the envelope's payload too), "" otherwise
//	ok          true when the command was executed
//	result      on success: the command's result (table above)
//	error       on failure: {"code": one of the codes below, "message": text for people}
//	time        when the device answered, RFC 3339 with nanoseconds, UTC
//
// Checks run in this order, the first failure answering: unauthorized (signature), bad_request,
// expired, replayed, then the command's own. A refused command changes nothing.
//
//	code             meaning
//	bad_request      malformed JSON, unknown command or field, missing request_id, wrong
//	                 arguments, an id_token that is not 1–36 printable ASCII characters,
//	                 payload over 4096 bytes; on a signed command also a missing issued_at or
//	                 expires_at, or a window longer than 24 h
//	unauthorized     signature missing, malformed or by no trusted key; or a start without
//	                 id_token while sessions.mode is authorized
//	expired          outside the command's validity window (issued_at … expires_at ± 5 min)
//	replayed         request_id was already executed
//	session_running  start or authorize while a session runs
//	no_session       stop, pause or resume while no session runs
//	session_state    pause while the session is not charging, resume while it is not paused
//	store_full       the store refuses new sessions (disk budget reached or disk full)
//	hardware_fault   a latched relay, emergency-stop or RCD fault; clear_fault releases it
//	alarm_latched    a meter counter reset or replacement is latched; clear_fault releases it
//	meter_unreadable start while the meter has not answered for sessions.meter_loss_limit
//	session_unclosed start while the end of the previous session could not be recorded yet
//	                 (the store refused it); it is retried on every poll
//	updating         an update is being activated; sessions are refused meanwhile, and
//	                 cancel_update is refused once activation began
//	busy             update while another update is in progress
//	update_broken    the updater cannot trust its state file; charging goes on, updates are
//	                 refused until repair_update
//	unavailable      update, cancel_update or repair_update on a device whose update agent is
//	                 disabled or cannot do it
//	timeout          the device did not finish the command within 30 s, or is stopping
//	failed           anything else; message says what
//
// gateway.ErrorCodes lists them; the operator's back end should treat an unknown code as failed.
package mqtt
