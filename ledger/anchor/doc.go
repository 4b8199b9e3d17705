// Package anchor defines the anchor payload that commits a batch of entries to a ledger, its Merkle proofs and their verification.
package anchor
