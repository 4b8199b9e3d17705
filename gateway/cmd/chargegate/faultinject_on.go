//go:build faultinject

package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// faultParts adds, in test builds only (-tags faultinject), a worker that panics on SIGUSR1, so
// the tests can prove that a panic in any goroutine opens the relay before the process dies.
func faultParts() []part {
	return []part{{name: "faultinject", run: func(ctx context.Context) error {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGUSR1)
		defer signal.Stop(ch)
		select {
		case <-ctx.Done():
			return nil
		case <-ch:
			panic("fault injection: SIGUSR1")
		}
	}}}
}

// crashStep returns, in test builds, a hook that SIGKILLs the process when the control loop
// reaches the step named by CHARGEGATE_CRASH_AT (gateway.StepEnd*), so tests can prove that a
// crash at every step of the session end sequence leaves the session ended exactly once.
func crashStep() func(string) {
	at := os.Getenv("CHARGEGATE_CRASH_AT")
	if at == "" {
		return nil
	}
	return func(step string) {
		if step == at {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	}
}
