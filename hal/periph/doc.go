// Package periph drives the real GPIO pins of the box through periph.io and the Linux GPIO character device.
//
// Open runs periph's host.Init, whose gpioioctl driver opens every
// /dev/gpiochip* and registers its named lines in gpioreg; Host.Pin then
// returns a line by that name (on a Raspberry Pi "GPIO17", as `gpioinfo`
// lists them). A name served by any other driver — the deprecated sysfs
// interface in particular — is refused with ErrNotCharDev: sysfs cannot
// set bias, loses edges and is going away from the kernel.
//
// The returned lines smooth two gpioioctl behaviours hal must not trip
// over: WaitForEdge treats 0 as "forever" and a negative timeout as
// "already expired" (the opposite of periph's contract; a negative timeout
// is mapped to 0 here), and Read on an output line silently reconfigures
// it as an input with a pull-up (here Read on an output returns the level
// last driven).
//
// For the IEC 61851-1 control pilot (hal/pilot) it also supplies the
// hardware PWM output (PWMPin: GPIO13 or GPIO19, the BCM283x's PWM1, via
// periph's bcm283x driver, root needed) and the CP measurement
// (OpenPilotADC: an ADS1115 on I²C through periph.io/x/devices/v3/ads1x15,
// reading the positive and negative peak detectors of the front end that
// package hal's doc describes).
//
// This is the only package of chargegate that touches the host; it cannot
// be exercised without GPIO hardware, so its tests cover name resolution
// and refusals, and hal's logic is tested on gpiotest and sim pins.
package periph
