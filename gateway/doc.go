// Package gateway is the charger's control logic: the Controller (poll loop and charging-session
// state machine) and the Operator (commands from the operator, signed and replay-proof).
//
// It depends only on the interfaces it declares (Meter, Board, Store, SessionSigner, Notifier,
// Updater, ReplayGuard) and on the domain packages meter, hal, ledger and ota for their types
// and errors. The concrete backends — GPIO or the simulated board, the SQLite store, the MQTT
// link, the IOTA publisher, the update slots — are wired together in cmd/chargegate, and the
// local HTTP API lives in gateway/web, the operator link in gateway/mqtt.
//
// # One goroutine owns the state
//
// Controller.Run owns every piece of session state. Commands reach it through Do and run inside
// the loop, between polls, so a start, a stop, a hardware event and a poll never interleave. The
// status other goroutines see is a copy published after each iteration.
//
// # Sessions
//
// A session runs idle → starting (persisted) → relay closed → begin entry → charging → relay
// open → end entry. The end entry and the clearing of the persisted session commit in one
// transaction; a session left open by a power cut is closed as power_failure at the next start,
// unless the chain already holds its end. ValidIDToken documents the id token rules.
//
// # Errors and reply codes
//
// Every refusal is one of the Err* values; ErrorCode maps them to the reply codes documented in
// gateway/mqtt/doc.go, in one table.
package gateway
