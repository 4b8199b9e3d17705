// Package gateway composes meter, hal, ledger and ota into the charger-side appliance: configuration, the poll loop, the charging-session state machine and the local HTTP API.
package gateway
