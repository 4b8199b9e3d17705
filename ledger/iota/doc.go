// Package iota anchors batches of ledger entries on an IOTA Stardust node as TaggedData blocks built with iota.go.
package iota
