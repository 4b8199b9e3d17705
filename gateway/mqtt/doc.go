// Package mqtt is the operator link: it publishes status, telemetry, readings from the SQLite outbox, sessions and anchors over MQTT and receives verified commands.
package mqtt
