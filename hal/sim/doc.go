// Package sim is a simulated board whose pins behave like the real hardware, including its failures.
package sim
