// Package ocmf produces and verifies records in the Open Charge Metering Format for calibration-law tools.
package ocmf
