// Command chargegate-bundle builds, signs and verifies chargegate update bundles.
//
// Usage:
//
//	chargegate-bundle keygen --out DIR/NAME
//	    write a release key pair: NAME.key (PKCS #8 PEM, mode 0600) and NAME.pub (PKIX PEM)
//	chargegate-bundle create --key NAME.key [--key OTHER.key] --version V --security-version N
//	    --compatible rpi4,rpi5 [--chunk-size BYTES] --out OUT.bundle TYPE=FILE ...
//	    build a bundle of payloads (TYPE is rootfs or app) signed by every key
//	chargegate-bundle verify --key NAME.pub [--key ...] [--hardware rpi4] BUNDLE
//	    check signatures and every chunk; print the manifest summary, which keys signed
//	    and the security version
//
// Flags follow the project's command-line convention (README): -o is short for --out, and a
// single dash works wherever two do. The tool draws no random numbers and logs nothing beyond
// its result, so it has no --seed or --log-level.
//
// Exit status: 0 on success (and for --help), 1 when verification or creation fails, 2 on bad
// usage.
package main

import (
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/chargegate/chargegate/ota/bundle"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: chargegate-bundle keygen|create|verify [flags]")
		return 2
	}
	cmds := map[string]func([]string, io.Writer, io.Writer) int{"keygen": keygen, "create": create, "verify": verify}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "chargegate-bundle: unknown command %q\n", args[0])
		return 2
	}
	return cmd(args[1:], stdout, stderr)
}

// outFlag defines --out and its short alias -o on one value.
func outFlag(fs *flag.FlagSet, arg, usage string) *string {
	out := fs.String("out", "", usage)
	fs.StringVar(out, "o", "", "short for --out `"+arg+"`")
	return out
}

// parse parses a command's flags; ok is false when the command must end with code (0 after
// --help, 2 after a usage error, both with the synopsis and the flags printed).
func parse(fs *flag.FlagSet, args []string, stderr io.Writer, synopsis string) (code int, ok bool) {
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: chargegate-bundle "+synopsis)
		fs.VisitAll(func(f *flag.Flag) {
			arg, text := flag.UnquoteUsage(f)
			dashes := "--"
			if len(f.Name) == 1 {
				dashes = "-"
			}
			fmt.Fprintf(stderr, "  %s%s %s\n    \t%s", dashes, f.Name, arg, text)
			if f.DefValue != "" && f.DefValue != "0" {
				fmt.Fprintf(stderr, " (default %s)", f.DefValue)
			}
			fmt.Fprintln(stderr)
		})
	}
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		return 0, false
	case err != nil:
		return 2, false
	}
	return 0, true
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func keygen(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := outFlag(fs, "PREFIX", "`PREFIX` of the key pair's paths (PREFIX.key, PREFIX.pub)")
	if code, ok := parse(fs, args, stderr, "keygen --out DIR/NAME"); !ok {
		return code
	}
	if *out == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: chargegate-bundle keygen --out DIR/NAME")
		return 2
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o700); err != nil {
		fmt.Fprintln(stderr, "chargegate-bundle:", err)
		return 1
	}
	pub, err := bundle.GenerateKey(*out+".key", *out+".pub")
	if err != nil {
		fmt.Fprintln(stderr, "chargegate-bundle:", err)
		return 1
	}
	fmt.Fprintf(stdout, "key %s: %s.key (private, 0600), %s.pub\n", bundle.KeyID(pub), *out, *out)
	return 0
}

func create(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var keyPaths listFlag
	fs.Var(&keyPaths, "key", "private release key `FILE` (repeat to sign with several)")
	version := fs.String("version", "", "bundle `VERSION`")
	var secVersion setUint64
	fs.Var(&secVersion, "security-version", "monotonic security version `N` (required)")
	compatible := fs.String("compatible", "", "comma-separated hardware `NAMES`")
	chunk := fs.Int64("chunk-size", 1<<20, "chunk size in `BYTES` (multiple of 512)")
	out := outFlag(fs, "FILE", "bundle `FILE` to write")
	const synopsis = "create --key K.key --version V --security-version N --compatible HW[,HW] --out FILE TYPE=FILE ..."
	if code, ok := parse(fs, args, stderr, synopsis); !ok {
		return code
	}
	if len(keyPaths) == 0 || *version == "" || *compatible == "" || *out == "" || fs.NArg() == 0 {
		fmt.Fprintln(stderr, "usage: chargegate-bundle "+synopsis)
		return 2
	}
	if !secVersion.set {
		fmt.Fprintln(stderr, "chargegate-bundle: create: --security-version is required: devices refuse bundles below their floor, so choose it (the last release's, or higher for a security fix)")
		return 2
	}
	keys, err := readSigningKeys(keyPaths)
	if err != nil {
		fmt.Fprintln(stderr, "chargegate-bundle:", err)
		return 1
	}
	var inputs []bundle.Input
	for _, a := range fs.Args() {
		typ, path, ok := strings.Cut(a, "=")
		if !ok {
			fmt.Fprintf(stderr, "chargegate-bundle: payload %q: want TYPE=FILE\n", a)
			return 2
		}
		f, err := openPayload(path)
		if err != nil {
			fmt.Fprintln(stderr, "chargegate-bundle:", err)
			return 1
		}
		defer f.Close()
		inputs = append(inputs, bundle.Input{Name: typ, Type: typ, Data: f})
	}
	if err := writeBundle(*out, bundle.Meta{Version: *version, SecurityVersion: secVersion.n, Compatible: strings.Split(*compatible, ",")}, inputs, *chunk, keys, stdout); err != nil {
		fmt.Fprintln(stderr, "chargegate-bundle:", err)
		return 1
	}
	return 0
}

func writeBundle(out string, meta bundle.Meta, inputs []bundle.Input, chunk int64, keys []ed25519.PrivateKey, stdout io.Writer) error {
	tmp := out + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("create bundle: %w", err)
	}
	m, err := bundle.Create(f, meta, inputs, chunk, keys)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, out)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	summary(stdout, m)
	return nil
}

func verify(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var keyPaths listFlag
	fs.Var(&keyPaths, "key", "trusted public release key `FILE` (repeat for several)")
	hardware := fs.String("hardware", "", "also require hardware `NAME` in the compatible list")
	const synopsis = "verify --key K.pub [--hardware HW] BUNDLE"
	if code, ok := parse(fs, args, stderr, synopsis); !ok {
		return code
	}
	if len(keyPaths) == 0 || fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: chargegate-bundle "+synopsis)
		return 2
	}
	trusted, err := bundle.ReadTrustedKeys(keyPaths...)
	if err != nil {
		fmt.Fprintln(stderr, "chargegate-bundle:", err)
		return 1
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, "chargegate-bundle:", err)
		return 1
	}
	defer f.Close()
	m, ids, err := bundle.VerifySigners(f, trusted)
	if err == nil && *hardware != "" && !m.IsCompatible(*hardware) {
		err = errors.New("bundle is not for hardware " + *hardware)
	}
	if err != nil {
		fmt.Fprintln(stderr, "chargegate-bundle: verify:", err)
		return 1
	}
	summary(stdout, m)
	fmt.Fprintf(stdout, "signed by %s; security version %d\n", signers(ids, trusted, keyPaths), m.SecurityVersion)
	fmt.Fprintln(stdout, "OK")
	return 0
}

func summary(w io.Writer, m bundle.Manifest) {
	fmt.Fprintf(w, "version %s, security version %d, compatible %s\n", m.Version, m.SecurityVersion, strings.Join(m.Compatible, ","))
	for _, p := range m.Payloads {
		fmt.Fprintf(w, "  %-7s %s %d bytes, %d chunks of %d, sha256 %s\n", p.Type, p.Name, p.Size, len(p.Chunks), p.ChunkSize, p.SHA256)
	}
}
