// Package vm boots chargegate in a QEMU virtual machine (TCG) on a Debian kernel, with its data
// on a virtio disk image, so that tests can cut the power for real: killing QEMU loses the
// guest's page cache exactly as a power cut loses a box's RAM, which a process kill never does.
//
// # The guest
//
// An initramfs built by Guest.Build, uncompressed newc cpio (see Initramfs), holds:
//
//	/init                    init.sh: mounts, loads modules, starts metersim and the gateway
//	/bin/busybox             Debian's busybox-static, the whole userland (applets as symlinks)
//	/bin/chargegate          `chargegate run -config /etc/vm/chargegate.yaml`
//	/bin/metersim            an SDM630 on tcp://127.0.0.1:1502, control API 127.0.0.1:1580
//	/lib/<soname>, interp    the programs' shared libraries, found from their ELF headers
//	/lib/modules/*.ko        virtio (PCI or MMIO), virtio_blk, virtio_net, ext4 and their deps
//	/etc/vm/modules          those modules in load order
//	/etc/vm/chargegate.yaml  the configuration the harness wrote
//	/etc/vm/token            the local API's bearer token (mode 0600)
//	/lib/vm-preload.so       optional LD_PRELOAD for chargegate (the self-test's lossy fsync)
//	/bin/chargegate-launch   optional: images/chargegate-launch, chargegate from update slots
//
// /dev/vda is an ext4 file system (MakeDisk) mounted at /data with data=ordered; the gateway's
// data directory lives on it. The gateway's local API listens on the guest's port 8080; QEMU's
// user network, restricted so that the guest reaches nothing, forwards a loopback port of the
// host to it. That is how the host learns what the gateway has acknowledged. Host services the
// guest may use (an MQTT broker, an update server) appear at ServiceAddr inside the guest.
//
// # Console protocol
//
// Besides the kernel's and the gateway's own output (JSON log lines), /init writes these lines
// to the serial console; each number is the guest's uptime in seconds:
//
//	vm: init 1.93            /init started (the kernel has booted)
//	vm: mounted 2.41         /dev/vda is mounted at /data
//	vm: gateway 2.66         metersim listens; chargegate is being started
//	vm: gateway exited 1     chargegate ended with that status; the machine powers off
//	vm: reboot               (with the launcher) the machine reboots: QEMU, run with
//	                         -no-reboot, exits, and the harness boots it again
//	vm: mount failed         the data disk could not be mounted; the machine powers off
//
// # Reading the disk from the host
//
// ExtractDir copies a directory out of the disk image without root: e2fsck replays the journal
// on a copy (as the guest's kernel would at the next mount) and debugfs dumps the files.
package vm
