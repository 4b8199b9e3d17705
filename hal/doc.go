// Package hal is the box's hardware layer: the contactor relay with mirror-contact feedback, safety inputs, the status LED and the watchdog.
package hal
