// Package meter reads certified energy meters over Modbus (TCP, RTU, RTU over TCP) using declarative register maps, one per meter model.
package meter
