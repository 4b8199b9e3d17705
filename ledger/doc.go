// Package ledger defines the trust chain: signed, hash-chained entries, their canonical encoding, device keys and chain verification.
package ledger
