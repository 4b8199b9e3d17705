// Package web serves the box's own web UI and local HTTP API: live values, control, sessions
// with their OCMF records and verification, the chain's events, the installer's tools, a JSON
// API, Prometheus metrics and a health check.
//
// # Files
//
// The UI is static/index.html, app.js, app.css and icon.svg, embedded in the binary: plain
// HTML, CSS and JavaScript with no build step, no library and nothing from another origin
// (the Content-Security-Policy forbids it). index.html is served at / with Cache-Control
// no-cache; the other files at /ui/VERSION/FILE, VERSION being a hash of their contents, with
// "public, max-age=31536000, immutable", so a browser fetches them once per release. All are
// gzipped once at start when the client accepts it. QR codes are drawn on the server as SVG.
//
// # Roles and login
//
// Options.Token is the operator token; ViewerToken(Token) (32 hex digits of
// HMAC-SHA256(Token, "chargegate viewer v1")) is the read-only token for drivers. Either is
// accepted as "Authorization: Bearer TOKEN", or once through POST /api/v1/login, which sets
// the cookie chargegate_session = ROLE "." EXPIRY "." MAC (HttpOnly, SameSite=Strict, 12 h;
// MAC = base64url HMAC-SHA256 under a key made at each start, so a restart logs everyone out).
// Without a token (the default listens on localhost only) every request is an operator.
//
//	public   /, /ui/…, /favicon.ico, /healthz, /api/v1/session, /api/v1/login, /api/v1/logout
//	viewer   status, events stream, sessions, CSV, OCMF XML, receipts, proofs, verify, QR,
//	         chain events, checkpoints
//	operator /api/v1/commands/*, /api/v1/installer*, /metrics
//
// A state-changing request authenticated by the cookie (or by nothing, without a token) must
// come from the UI itself: Sec-Fetch-Site same-origin (or absent), an Origin naming this host
// (or absent) and X-CSRF-Token equal to the token GET /api/v1/session returned, an HMAC of the
// cookie that a page of another origin cannot read. Bearer requests need none of this: a
// browser never adds the header by itself.
//
// # Commands: the HTTP token instead of MQTT command signatures
//
// With mqtt.command_keys set, commands over MQTT must be signed by an operator key
// (gateway.Operator's Verifier, with replay protection): they cross a broker the box does not
// control, may be retained or replayed, and the broker's own authentication says nothing about
// who wrote a message. A web command has no such middleman: it reaches the box's own listener
// directly, and each request is authenticated by the operator token (bearer, or the login
// cookie with its CSRF token).
// The appliance therefore runs the UI's Operator without a command Verifier, and that is
// acceptable because of how the listener is confined (gateway/config, gateway/cmd/chargegate):
//
//   - http.listen defaults to loopback (127.0.0.1:8080): only a process on the box, or an SSH
//     tunnel to it, can reach it;
//   - any other address requires http.token_file, and the token file must be mode 0600 (the
//     appliance refuses to start when group or others can read it);
//   - the viewer token gives no command; only the operator token does;
//   - every command still goes through the Operator's checks (the same as for MQTT), and the
//     entries it causes record its source in the signed chain (by=web/ROLE).
//
// This server speaks plain HTTP: a box whose UI is reachable beyond the local segment belongs
// behind a TLS-terminating proxy or a VPN, since the token travels with every request. On
// loopback without a token every local process is an operator; a box with untrusted local
// users sets http.token_file there too. No switch turns web commands off alone (the same token
// guards the installer's tools and the metrics): a box that must take commands only signed,
// over MQTT, keeps the operator token to its operator (drivers get the viewer token), or turns
// the web part off altogether with an empty http.listen.
//
// # Routes
//
//	GET  /                          the UI (HTML; it asks for a login itself)
//	GET  /healthz                   200 while the meter is readable and the store writable, else 503
//	GET  /api/v1/status             Snapshot as JSON
//	GET  /metrics                   Prometheus text format
//	GET  /api/v1/session            {"role", "token_required", "csrf", "viewer_token" (operator only)}
//	POST /api/v1/login              {"token"} → the cookie, {"role", "csrf"}; POST /api/v1/logout
//	GET  /api/v1/events             server-sent events, below
//	POST /api/v1/commands/{name}    {"id_token"?, "token"?} → {"result"} or 409 {"code", "error"}:
//	                                start, stop, pause, resume, clear_fault through
//	                                gateway.Operator.ExecuteFrom with source "web/ROLE", so the
//	                                entries they cause say by=web/admin
//	GET  /api/v1/sessions           []SessionRow, newest first
//	GET  /api/v1/sessions.csv       the sessions as CSV, below
//	GET  /api/v1/sessions/{id}      SessionDetail (OCMF record, its key, whether a receipt exists)
//	GET  /api/v1/sessions/{id}/ocmf.xml  the record in the S.A.F.E. Transparenzsoftware's input
//	                                format: <values><value transactionId="ID"><signedData
//	                                format="OCMF" encoding="plain">RECORD</signedData><publicKey
//	                                encoding="hex">SPKI</publicKey></value></values>
//	GET  /api/v1/sessions/{id}/receipt  the signed receipt (ledger/receipt, W3C VC rendering)
//	POST /api/v1/sessions/{id}/verify   VerifyReport: entries, OCMF signature and digest, then
//	                                the end entry's proof with `chargegate verify-proof`'s checks
//	                                (ledger/proofcheck) against the configured node
//	POST /api/v1/verify             body: an OCMF record or a proof file → VerifyReport
//	GET  /api/v1/proofs/{seq}       the entry's chargegate-proof/2 (ledger/anchor)
//	GET  /api/v1/chain/events       []EventRow: the chain's non-reading entries, newest first
//	GET  /api/v1/qr?text=…          the text as a QR code (SVG)
//	GET  /api/v1/installer          InstallerInfo; POST …/hal-check, POST …/meter-test
//	GET  /api/v1/checkpoint[/inclusion|/consistency]  ledger/checkpoint's log
//
// Every request reads the latest Snapshot, which the appliance refreshes on its own schedule.
// At most Options.MaxConcurrent requests are served at once; the rest are answered 503 with
// Retry-After: 1 at once, so a flood of clients cannot delay the control loop's polls. The
// event streams are bounded apart (Options.MaxStreams).
//
// # Event stream
//
// GET /api/v1/events is text/event-stream. On connect: "retry: 3000", then event "history"
// with data History ({"step_s": 10, "points": [[unix, W], …]}, the last hour's mean power per
// step, oldest first, kept in memory by Server.Run) and event "status" with data Live (the
// Snapshot plus "session_auth"). Then "status" once per Options.SampleInterval and "point"
// ([unix, W]) as each step ends; a comment line every 15 s keeps proxies from closing it. A
// browser that falls behind misses statuses rather than delaying the others.
//
// # Sessions CSV
//
// One header line, then one line per session, newest first (RFC 4180). The columns follow
// OCPI 2.2.1 CDR field names where one fits:
//
//	id, start_date_time, end_date_time (RFC 3339 UTC; empty while running), evse_id, meter_id,
//	auth_id (the begin entry's authorization detail), total_energy_kwh (3 decimals, from the
//	integer mWh, truncated to the Wh), total_time_h (4 decimals), stop_reason (ledger end
//	reason), begin_meter_kwh, end_meter_kwh, begin_seq, end_seq
//
// Example (golden: testdata/sessions.csv):
//
//	id,start_date_time,end_date_time,evse_id,meter_id,auth_id,total_energy_kwh,total_time_h,stop_reason,begin_meter_kwh,end_meter_kwh,begin_seq,end_seq
//	9d222a977c56f991,2026-12-05T12:23:02Z,2026-12-05T12:53:02Z,DE*CGT*ETEST*1,71000042,id_token=DRIVER42 by=web/admin,5.500,0.5000,remote,1.234,6.734,5,86
package web
