// Package web serves the gateway's local HTTP API: the installer's status page, the status as
// JSON, Prometheus metrics and a health check.
//
// # Routes
//
//	GET /               the status page (HTML, no token needed; it asks for the token itself)
//	GET /healthz        200 while the meter is readable and the store writable, else 503
//	GET /api/v1/status  Snapshot as JSON (token)
//	GET /metrics        Prometheus text format (token)
//	GET /api/v1/sessions/{id}/receipt  a finished session's signed receipt (ledger/receipt,
//	                    W3C VC rendering; token)
//	GET /api/v1/checkpoint[/inclusion|/consistency]  the chain's signed checkpoint and its
//	                    proofs (ledger/checkpoint; token)
//
// Every request reads the latest Snapshot, which the appliance refreshes on its own schedule;
// no request reads the store. At most Options.MaxConcurrent requests are served at once; the
// rest are answered 503 with Retry-After: 1 at once, so a flood of clients cannot delay the
// control loop's polls.
package web
