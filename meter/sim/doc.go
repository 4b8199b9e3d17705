// Package sim is a Modbus energy-meter simulator that serves any model of package meter, with load physics and injectable faults.
package sim
