package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/chargegate/chargegate/gateway/access"
)

// cmdToken implements the operator side of signed capability tokens (gateway/access doc.go):
//
//	chargegate token keygen --out PREFIX         PREFIX.key (0600, PKCS #8 PEM) and PREFIX.pub
//	chargegate token issue --key FILE --kid ID --id-token T --expires 24h [...]   prints the JWS
//	chargegate token verify --issuer-key [KID=]FILE [--evse ID] TOKEN|-          prints the claims
//
// verify exits 0 when the token is valid, 1 with the reason when it is not, 2 on a usage error.
func cmdToken(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: chargegate token keygen|issue|verify [--flags]")
		return 2
	}
	switch args[0] {
	case "keygen":
		return tokenKeygen(args[1:], stdout, stderr)
	case "issue":
		return tokenIssue(args[1:], stdout, stderr)
	case "verify":
		return tokenVerify(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "chargegate: token: unknown subcommand %q (keygen, issue, verify)\n", args[0])
	return 2
}

func tokenKeygen(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("token keygen", "token keygen --out PREFIX", stderr)
	out := fs.String("out", "", "write the key pair to `PREFIX`.key (private, 0600) and PREFIX.pub")
	if code, ok := fs.parse(args, 0); !ok {
		return code
	}
	if *out == "" {
		fs.Usage()
		return 2
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		fmt.Fprintln(stderr, "chargegate: token keygen:", err)
		return 1
	}
	privPEM, pubPEM, err := access.MarshalKeyPEM(priv)
	if err != nil {
		fmt.Fprintln(stderr, "chargegate: token keygen:", err)
		return 1
	}
	// O_EXCL: an issuer key is never overwritten by accident.
	if err := writeNew(*out+".key", privPEM, 0o600); err != nil {
		fmt.Fprintln(stderr, "chargegate: token keygen:", err)
		return 1
	}
	if err := writeNew(*out+".pub", pubPEM, 0o644); err != nil {
		fmt.Fprintln(stderr, "chargegate: token keygen:", err)
		return 1
	}
	fmt.Fprintf(stdout, "private key: %s.key (keep it off the box)\npublic key:  %s.pub (list it under access.issuers)\n", *out, *out)
	return 0
}

func writeNew(path string, b []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("create key file: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return f.Close()
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func tokenIssue(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("token issue", "token issue --key FILE --kid ID --id-token T --expires D [--flags]", stderr)
	keyFile := fs.String("key", "", "issuer private key `FILE` (PEM, from token keygen)")
	kid := fs.String("kid", "", "issuer key `ID` the boxes know the public key by")
	idToken := fs.String("id-token", "", "id_token `T` the token is bound to (RFID UID in hex, eMAID)")
	holderFile := fs.String("holder-key", "", "holder public key `FILE` (PEM): the presenter must prove it holds the key")
	var evses listFlag
	fs.Var(&evses, "evse", "EVSE `ID` where the token is valid (repeatable; none: every EVSE)")
	evseGroup := fs.String("evse-group", "", "EVSE `GROUP` (site) where the token is valid")
	group := fs.String("group", "", "driver's `GROUP`: a token of the same group may stop the session")
	issuer := fs.String("issuer", "", "issuer `NAME`, informational")
	expires := fs.Duration("expires", 0, "validity `D` from now or from --not-before (e.g. 24h)")
	notBefore := fs.String("not-before", "", "start of validity, RFC 3339 `TIME` (default now)")
	maxWh := fs.Int64("max-energy-wh", 0, "energy limit of the session in `Wh`")
	maxDur := fs.Duration("max-duration", 0, "duration limit of the session `D`")
	maxW := fs.Int64("max-power-w", 0, "power limit of the session in `W`")
	once := fs.Bool("single-use", false, "good for one session (the box remembers its ID until expiry)")
	jti := fs.String("id", "", "token `ID` (jti; default random when --single-use)")
	if code, ok := fs.parse(args, 0); !ok {
		return code
	}
	if *keyFile == "" || *kid == "" || (*idToken == "" && *holderFile == "") || *expires <= 0 {
		fs.Usage()
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "chargegate: token issue:", err)
		return 1
	}
	b, err := os.ReadFile(*keyFile)
	if err != nil {
		return fail(err)
	}
	priv, err := access.ParsePrivateKeyPEM(b)
	if err != nil {
		return fail(fmt.Errorf("%s: %w", *keyFile, err))
	}
	start := time.Now()
	c := access.Claims{Issuer: *issuer, Subject: *idToken, EVSEs: evses, EVSEGroup: *evseGroup, Group: *group,
		IssuedAt: start.Unix(), ID: *jti, SingleUse: *once,
		Limits: access.Limits{MaxEnergyWh: *maxWh, MaxDurationS: int64(maxDur.Seconds()), MaxPowerW: *maxW}}
	if *notBefore != "" {
		nb, err := time.Parse(time.RFC3339, *notBefore)
		if err != nil {
			fmt.Fprintln(stderr, "chargegate: token issue: --not-before:", err)
			return 2
		}
		start, c.NotBefore = nb, nb.Unix()
	}
	c.Expiry = start.Add(*expires).Unix()
	if *holderFile != "" {
		hb, err := os.ReadFile(*holderFile)
		if err != nil {
			return fail(err)
		}
		hk, err := access.ParsePublicKeyPEM(hb)
		if err != nil {
			return fail(fmt.Errorf("%s: %w", *holderFile, err))
		}
		c.HolderKey = base64.RawURLEncoding.EncodeToString(hk)
	}
	if c.SingleUse && c.ID == "" {
		var r [12]byte
		if _, err := rand.Read(r[:]); err != nil {
			return fail(err)
		}
		c.ID = hex.EncodeToString(r[:])
	}
	tok, err := access.Issue(priv, *kid, c)
	if err != nil {
		return fail(err)
	}
	fmt.Fprintln(stdout, tok)
	return 0
}

func tokenVerify(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("token verify", "token verify --issuer-key [KID=]FILE [--evse ID] TOKEN|-", stderr)
	var keyArgs listFlag
	fs.Var(&keyArgs, "issuer-key", "trusted issuer public key `[KID=]FILE` (repeatable; without KID= the key answers to any key ID)")
	evse := fs.String("evse", "", "check the token is valid at EVSE `ID`")
	var groups listFlag
	fs.Var(&groups, "evse-group", "a `GROUP` the EVSE belongs to (repeatable)")
	if code, ok := fs.parse(args, 1); !ok {
		return code
	}
	if len(keyArgs) == 0 || fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	tok := fs.Arg(0)
	if tok == "-" {
		b, err := io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
		if err != nil {
			fmt.Fprintln(stderr, "chargegate: token verify: read stdin:", err)
			return 2
		}
		tok = string(b)
	}
	tok = strings.TrimSpace(tok)
	keys := map[string]ed25519.PublicKey{}
	for _, ka := range keyArgs {
		kid, file, named := strings.Cut(ka, "=")
		if !named {
			kid, file = tokenKeyID(tok), ka
		}
		b, err := os.ReadFile(file)
		if err != nil {
			fmt.Fprintln(stderr, "chargegate: token verify:", err)
			return 2
		}
		pub, err := access.ParsePublicKeyPEM(b)
		if err != nil {
			fmt.Fprintf(stderr, "chargegate: token verify: %s: %v\n", file, err)
			return 2
		}
		if kid != "" {
			keys[kid] = pub
		}
	}
	v, err := access.NewVerifier(keys).Verify(tok, time.Now(), access.Where{EVSEID: *evse, Groups: groups})
	if err != nil {
		fmt.Fprintf(stdout, "refused: %s (%v)\n", access.Reason(err), err)
		return 1
	}
	out := struct {
		KeyID     string `json:"kid"`
		TokenHash string `json:"token_hash"`
		access.Claims
	}{v.KeyID, access.TokenHash(v.Claims.Subject), v.Claims}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		fmt.Fprintln(stderr, "chargegate: token verify:", err)
		return 1
	}
	fmt.Fprintf(stdout, "valid\n%s\n", b)
	return 0
}

// tokenKeyID peeks at the unverified kid of a compact JWS, to register an unnamed --issuer-key
// under it; the signature check that follows decides.
func tokenKeyID(tok string) string {
	h, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return ""
	}
	var hdr struct {
		KeyID string `json:"kid"`
	}
	if json.Unmarshal(b, &hdr) == nil {
		return hdr.KeyID
	}
	return ""
}
