// Package ota installs signed update bundles into the inactive slot and commits or falls back after a trial boot.
//
// The gateway creates an Agent with New, runs Agent.Run for the life of the process, calls
// Agent.Update when an operator sends cmd/update with a URL (or sets Config.PollURL),
// Agent.Cancel for cmd/cancel and Agent.Repair for cmd/repair, and reports Agent.Status
// over MQTT and the local API.
//
// # Never stopping a charger
//
// The gateway's control loop implements Inhibitor. "No session runs, so activate" and
// "start a session" are one atomic step owned by the control loop: Hold refuses new
// sessions until released, and fails with ErrCharging if a session runs. The agent takes
// the hold right before it activates (read-back verification of the slot, then the switch:
// TryBoot), keeps it through the switch, and takes it again in the trial boot before it
// commits or falls back, and before any fallback reboot; while a session runs it waits.
// The updater failing never takes charging down: a state file that cannot be read or
// parsed, or a saved state that cannot be resolved against the boot, leaves New and Run
// running with Status().State "broken"; updates are refused with ErrBroken until Repair.
//
// Downloads are watched in windows of Config.StallTimeout that each arriving byte does
// not push out: a window without data abandons the request (resumed with Range, with
// back-off, up to MaxAttempts attempts without progress), two windows in a row below
// Config.MinRate fail the update with ErrTooSlow (one alone is what a cut mid-window looks
// like). Status.LastError and Status.Attempts show a failing
// attempt while the agent retries. Permanent errors fail at once: ErrRedirect (a redirect
// to a non-HTTP scheme such as file://, or from https to http), ErrCertificate, ErrTooSlow,
// a bundle that does not verify, HTTP 4xx.
//
// # Security floor
//
// The security-version floor rises only when an update commits. It is kept three times:
// in state.json, in the floor file (Config.FloorPath, default StateDir/security-floor),
// written before state.json at each commit, and in the gateway's signed chain, which
// records an update_committed event from Config.OnCommit and passes the highest security
// version back as Config.SecurityFloor. The floor in force is the highest of the three,
// so losing state.json does not let an older bundle in again. The floor file is one line,
// replaced atomically like the state file:
//
//	chargegate-security-floor/1 7\n
//
// (the decimal floor, no leading zeros); testdata/security-floor freezes it. A floor file
// that does not parse counts as 0 and is rewritten from state.json at the next start.
//
// # Bundle format (chargegate-bundle/1)
//
// A bundle is a POSIX ustar archive holding exactly these regular-file entries, in this
// order, and nothing else (no directories, links, devices, PAX records or other names —
// entry names are matched exactly and never used as paths):
//
//	manifest.json     the manifest, UTF-8 JSON, at most 1 MiB
//	manifest.sig      the signatures, JSON, at most 64 KiB
//	payloads/NAME     one entry per manifest payload, in manifest order
//
// manifest.json:
//
//	{
//	  "format": "chargegate-bundle/1",
//	  "version": "2.1.0",                 [0-9A-Za-z][0-9A-Za-z.+_-]{0,63}
//	  "security_version": 7,              monotonic; below the device's floor is refused
//	  "compatible": ["rpi4", "rpi5"],      Config.Hardware must be listed
//	  "payloads": [{
//	    "name": "rootfs",                 [a-z0-9][a-z0-9._-]{0,63}, unique
//	    "type": "rootfs",                 "rootfs" (slot root image) or "app" (the binary); unique
//	    "size": 268435456,                bytes
//	    "sha256": "<64 hex>",             of the whole payload
//	    "chunk_size": 1048576,            multiple of 512, 512 B to 64 MiB
//	    "chunks": ["<64 hex>", ...]       SHA-256 of each chunk; the last may be short
//	  }]
//	}
//
// Unknown fields are rejected. manifest.sig is {"signatures": [{"key_id": ID, "signature":
// BASE64}]}: each an Ed25519 signature, by a release key (never a device key), over the
// bytes "chargegate-bundle-manifest/1\n" followed by manifest.json exactly as stored. The
// key ID is the hex of the first 8 bytes of SHA-256 of the 32-byte public key. A bundle
// verifies if at least one signature is by a trusted key and every signature by a trusted
// key is valid; signing with an old and a new key lets keys rotate. Because the manifest
// carries every chunk hash, a single verified manifest authenticates every payload byte,
// and each chunk is checked before it is written anywhere. Package bundle implements the
// format; testdata/golden.bundle there freezes it.
//
// # State machine
//
//	idle → downloading → downloaded → waiting → installing → installed → trial → committed
//	                 ↘ failed (nothing activated; also Cancel)              ↘ rolled_back
//
// Steps:
//
//   - downloading: the bundle is fetched with HTTP Range from a saved cursor; the manifest
//     is verified and checked (hardware, security floor) before any slot byte is written;
//     every chunk is verified, written to the inactive slot, synced, then the cursor saved.
//   - downloaded → waiting: waits for the maintenance window, then takes the inhibitor's
//     hold (waiting while a session runs). Cancel ends the update up to here.
//   - installing: the hold is taken (Activating is true); the whole slot is read back and
//     verified. Resumed after a restart, it takes the hold again or goes back to waiting.
//   - installed: the state is saved, then the slot backend requests a one-shot trial boot.
//   - trial: in the trial boot the agent takes the hold, then the health check must pass
//     within HealthDeadline; then the backend commits (autoboot.txt swapped) and only then
//     the security floor is raised (floor file, OnCommit, state file). With app-only slots
//     the committed process is no longer a trial and takes the next update at once.
//     Any failure reboots, which lands in the old slot because the trial flag is one-shot.
//     If the new version cannot run its agent at all, images/chargegate-trial-guard
//     reboots an uncommitted trial after a deadline; with app-only slots the launcher
//     returns to the old slot at the first service restart.
//
// The state (StateDir/state.json, mode 0600) is replaced atomically (write, fsync, rename,
// fsync directory) before every side effect. It is a JSON object: state, security_floor,
// error, and for the update under way url, manifest and signatures (base64 of the raw
// bundle entries, verified again whenever used), from/to (slot names), the download cursor
// (total, etag, payload, in_entry, data, chunk, offset, written) and trials. Readers ignore
// unknown fields, so the releases on either side of an update read each other's file (an
// unknown state value makes the agent broken);
// testdata/state-downloading.json freezes the encoding. At start, Run resolves it against how the
// system booted; see resume in resume.go for the full table. In short: interrupted
// downloads resume at their cursor; a trial that did not complete (power cut, crash,
// watchdog reset) ends rolled back; a commit interrupted after autoboot.txt was rewritten
// is completed; a lost fallback reboot is repeated.
package ota
