// Package config reads, checks and documents chargegate's configuration file.
package config
