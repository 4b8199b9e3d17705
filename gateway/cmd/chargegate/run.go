package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/chargegate/chargegate/gateway/config"
)

// cmdRun runs the gateway daemon: chargegate run --config FILE [--log-level LEVEL].
func cmdRun(ctx context.Context, args []string, _, stderr io.Writer) int {
	fs := newFlagSet("run", "run [--config FILE] [--log-level LEVEL]", stderr)
	path := fs.String("config", "/etc/chargegate/config.yaml", "configuration `FILE`")
	level := fs.String("log-level", "", "log `LEVEL` (debug, info, warn, error); overrides log.level")
	if code, ok := fs.parse(args, 0); !ok {
		return code
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintf(stderr, "chargegate: %s: %v\n", *path, err)
		return 2
	}
	if *level != "" {
		var l slog.Level
		if err := l.UnmarshalText([]byte(*level)); err != nil {
			fmt.Fprintln(stderr, "chargegate run: --log-level:", err)
			return 2
		}
		cfg.Log.Level = *level
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
func newLogger(c config.LogConfig, w io.Writer) *slog.Logger {
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
