package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
)

// cmdRun runs the gateway daemon: chargegate run -config FILE.
func cmdRun(ctx context.Context, args []string, _, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "/etc/chargegate/config.yaml", "configuration `file`")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := LoadConfig(*path)
	if err != nil {
		fmt.Fprintf(stderr, "chargegate: %s: %v\n", *path, err)
		return 2
	}
	logger := newLogger(cfg.Log, stderr)
	app, err := openApp(ctx, cfg, version, logger)
	if err != nil {
		logger.Error("start", "err", err)
		return 1
	}
	if err := app.Run(ctx); err != nil {
		logger.Error("stopped", "err", err)
		return 1
	}
	return 0
}

// newLogger builds the process logger from the log section: JSON for journald by default.
func newLogger(c LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
