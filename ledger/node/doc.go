// Package node is a small IOTA-compatible node that speaks the subset of the core REST API v2 that chargegate and its verifiers use.
package node
