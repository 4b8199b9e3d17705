// Package periph drives the real GPIO pins of the box through periph.io and the Linux GPIO character device.
package periph
