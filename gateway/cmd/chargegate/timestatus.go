package main

import (
	"time"

	"golang.org/x/sys/unix"

	"github.com/chargegate/chargegate/ledger"
)

// kernelTimeStatus reports 'S' when the kernel says the clock is synchronised (NTP), and 'U'
// otherwise, including a clock that is plainly unset (before 2024).
func kernelTimeStatus() ledger.TimeStatus {
	if time.Now().Year() < 2024 {
		return ledger.TimeUnsynchronised
	}
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	if err != nil || state == unix.TIME_ERROR || tx.Status&unix.STA_UNSYNC != 0 {
		return ledger.TimeUnsynchronised
	}
	return ledger.TimeSynchronised
}
