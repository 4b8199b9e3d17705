// Package ota installs signed update bundles into the inactive slot and commits or falls back after a trial boot.
package ota
