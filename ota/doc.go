// Package ota installs signed update bundles into the inactive slot and commits or falls back after a trial boot.
//
// The gateway creates an Agent with NewAgent, runs Agent.Run for the life of the process,
// calls Agent.Update when an operator sends cmd/update with a URL (or sets Config.PollURL),
// reports Agent.Status over MQTT and the local API, and refuses new charging sessions while
// Agent.Activating is true. The agent in turn asks the gateway's Inhibitor whether a
// charging session runs, and never activates an update while one does.
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
//	                 ↘ failed (nothing activated)                           ↘ rolled_back
//
// Steps:
//
//   - downloading: the bundle is fetched with HTTP Range from a saved cursor; the manifest
//     is verified and checked (hardware, security floor) before any slot byte is written;
//     every chunk is verified, written to the inactive slot, synced, then the cursor saved.
//   - downloaded → waiting: waits for the maintenance window and for no charging session.
//   - installing: Activating is true; the whole slot is read back and verified.
//   - installed: the state is saved, then the slot backend requests a one-shot trial boot.
//   - trial: in the trial boot the health check must pass within HealthDeadline; then the
//     backend commits (autoboot.txt swapped) and only then the security floor is raised.
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
// unknown fields, so the releases on either side of an update read each other's file;
// testdata/state-downloading.json freezes the encoding. At start, Run resolves it against how the
// system booted; see resume in resume.go for the full table. In short: interrupted
// downloads resume at their cursor; a trial that did not complete (power cut, crash,
// watchdog reset) ends rolled back; a commit interrupted after autoboot.txt was rewritten
// is completed; a lost fallback reboot is repeated.
package ota
