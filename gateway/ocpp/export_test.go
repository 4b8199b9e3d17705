package ocpp

import "time"

// SetCacheClock replaces the clock the authorization cache's LifeTime is measured with, so
// that a test can let the lifetime pass without waiting.
func (cp *ChargePoint201) SetCacheClock(now func() time.Time) {
	cp.base.mu.Lock()
	cp.base.clock = now
	cp.base.mu.Unlock()
}
