//go:build !faultinject

package main

// faultParts returns no parts: fault injection exists only in test builds (-tags faultinject).
func faultParts() []part { return nil }

// crashStep returns nil: only test builds kill themselves at a step.
func crashStep() func(string) { return nil }
