package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/checkpoint"
)

// cmdWitness runs a checkpoint witness (package ledger/checkpoint, C2SP tlog-witness) or prints
// the keys one needs to set it up:
//
//	chargegate witness serve --listen ADDR --key FILE --name NAME --state FILE --log DEVICEVKEY...
//	chargegate witness vkey --key FILE --name NAME     the witness's verifier key (creates FILE, 0600)
//	chargegate witness device-vkey --data DIR          a gateway's checkpoint verifier key
//
// serve prints one JSON line, {"witness":"http://HOST:PORT"}, once it listens, logs to stderr,
// and stops on SIGINT or SIGTERM. Exit 0 done, 1 failed, 2 usage.
func cmdWitness(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: chargegate witness serve|vkey|device-vkey [flags]")
		return 2
	}
	switch args[0] {
	case "serve":
		return witnessServe(ctx, args[1:], stdout, stderr)
	case "vkey":
		return witnessVkey(args[1:], stdout, stderr)
	case "device-vkey":
		fs := flag.NewFlagSet("witness device-vkey", flag.ContinueOnError)
		fs.SetOutput(stderr)
		dir := fs.String("data", "", "gateway data directory (keys)")
		if err := fs.Parse(args[1:]); err != nil || *dir == "" || fs.NArg() != 0 {
			fmt.Fprintln(stderr, "usage: chargegate witness device-vkey --data DIR")
			return 2
		}
		keys, err := ledger.LoadKeys(*dir)
		if err != nil {
			fmt.Fprintln(stderr, "chargegate: witness:", err)
			return 1
		}
		vkey, err := checkpoint.DeviceVerifierKey(keys.Entry.Public().(ed25519.PublicKey))
		if err != nil {
			fmt.Fprintln(stderr, "chargegate: witness:", err)
			return 1
		}
		fmt.Fprintln(stdout, vkey)
		return 0
	}
	fmt.Fprintf(stderr, "chargegate: witness: unknown subcommand %q\n", args[0])
	return 2
}

// logKeys collects repeated --log flags.
type logKeys []string

func (l *logKeys) String() string     { return strings.Join(*l, ",") }
func (l *logKeys) Set(s string) error { *l = append(*l, s); return nil }

func witnessVkey(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("witness vkey", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyFile := fs.String("key", "", "the witness's Ed25519 key file (PEM PKCS#8; created if missing)")
	name := fs.String("name", "", "the witness's name, e.g. witness.example.org")
	if err := fs.Parse(args); err != nil || *keyFile == "" || *name == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: chargegate witness vkey --key FILE --name NAME")
		return 2
	}
	key, err := witnessKey(*keyFile)
	if err != nil {
		fmt.Fprintln(stderr, "chargegate: witness:", err)
		return 1
	}
	fmt.Fprintln(stdout, checkpoint.NewCosigner(*name, key, nil).VerifierKey())
	return 0
}

func witnessServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("witness serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	keyFile := fs.String("key", "", "the witness's Ed25519 key file (PEM PKCS#8; created if missing)")
	name := fs.String("name", "", "the witness's name")
	state := fs.String("state", "", "the witness's state file (latest cosigned checkpoint per log)")
	var logs logKeys
	fs.Var(&logs, "log", "a device's checkpoint verifier key (chargegate witness device-vkey); repeatable")
	if err := fs.Parse(args); err != nil || *keyFile == "" || *name == "" || *state == "" || len(logs) == 0 || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: chargegate witness serve --listen ADDR --key FILE --name NAME --state FILE --log DEVICEVKEY...")
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	key, err := witnessKey(*keyFile)
	if err != nil {
		fmt.Fprintln(stderr, "chargegate: witness:", err)
		return 1
	}
	w, err := checkpoint.NewWitness(checkpoint.NewCosigner(*name, key, nil), logs, *state, log)
	if err != nil {
		fmt.Fprintln(stderr, "chargegate: witness:", err)
		return 1
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(stderr, "chargegate: witness: listen:", err)
		return 1
	}
	srv := &http.Server{Handler: w.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	line, _ := json.Marshal(map[string]string{"witness": "http://" + ln.Addr().String()})
	fmt.Fprintln(stdout, string(line))
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-done:
		fmt.Fprintln(stderr, "chargegate: witness: serve:", err)
		return 1
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		fmt.Fprintln(stderr, "chargegate: witness: shutdown:", err)
		return 1
	}
	return 0
}

// witnessKey loads the witness key, creating it (mode 0600) on first use; a file readable by
// group or others is refused.
func witnessKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate witness key: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return nil, fmt.Errorf("encode witness key: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("create witness key: %w", err)
		}
		if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
			f.Close()
			return nil, fmt.Errorf("write witness key: %w", err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("sync witness key: %w", err)
		}
		return priv, f.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("read witness key: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("witness key %s: %w", path, ledger.ErrKeyPermissions)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("witness key %s: not a PEM private key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("witness key %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("witness key %s: not Ed25519", path)
	}
	return priv, nil
}
