//go:build !faultinject

package main

// faultParts returns no parts: fault injection exists only in test builds (-tags faultinject).
func faultParts() []part { return nil }
