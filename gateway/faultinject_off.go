//go:build !faultinject

package gateway

// faultParts returns no parts: fault injection exists only in test builds (-tags faultinject).
func faultParts() []part { return nil }
