// Package bundle reads, writes and verifies chargegate update bundles: a tar of a signed
// manifest (per-payload SHA-256 and per-chunk SHA-256) and the payloads.
//
// The format is specified in the documentation of package ota (section "Bundle format");
// testdata/golden.bundle, signed with the fixed test key of testdata/golden-release.pub,
// freezes it (regenerate with go test -run Golden -update, only for an intended change).
// Reader enforces the entry order and exact names, so no tar entry name ever reaches the
// filesystem.
package bundle
