// Package slot holds the updater's slot backends: Tryboot, the Raspberry Pi A/B scheme with
// autoboot.txt and the firmware's one-shot tryboot flag, and Dirs, directories holding the
// application for app-only installs on boxes without A/B partitions.
//
// # autoboot.txt
//
// Tryboot keeps autoboot.txt (on the FAT bootconfig partition) in one form, padded with a
// comment line to exactly AutobootSize bytes so that a rewrite is a single in-place sector
// write, synced and read back — FAT has no atomic rename:
//
//	[all]
//	tryboot_a_b=1
//	boot_partition=2     the default slot
//	[tryboot]
//	boot_partition=3     the other slot, started once by `reboot '0 tryboot'`
//
// The firmware clears the tryboot flag before it starts the trial, so any crash, reset or
// power cut during the trial lands in the default slot again. Commit swaps the two numbers.
// The running slot and trial state are read from /proc/device-tree/chosen/bootloader/
// (partition and tryboot, big-endian 32-bit integers).
//
// # Dirs layout
//
//	ROOT/A/chargegate, ROOT/B/chargegate   the two copies of the application
//	ROOT/current                           name of the default slot ("A\n")
//	ROOT/try                               one-shot: slot to start next, removed by the launcher
//	ROOT/booted                            written by the launcher: "B trial\n" or "A\n"; Commit drops "trial"
//
// The launcher (images/chargegate-launch, and Dirs.Launch, its Go twin used by tests)
// consumes ROOT/try before it starts the slot, so a crash of the new version restarts the
// old one: the same one-shot semantics as the Raspberry Pi firmware.
package slot
