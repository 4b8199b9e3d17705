package receipt

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// base58 alphabet of Bitcoin (multibase base58btc, prefix 'z').
const b58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// ErrMultibase means a multibase or did:key value does not decode.
var ErrMultibase = errors.New("bad multibase value")

// EncodeBase58 encodes b in base58btc (leading zero bytes as '1').
func EncodeBase58(b []byte) string {
	n := new(big.Int).SetBytes(b)
	var out []byte
	base, mod := big.NewInt(58), new(big.Int)
	for n.Sign() > 0 {
		n.DivMod(n, base, mod)
		out = append(out, b58Alphabet[mod.Int64()])
	}
	for _, c := range b {
		if c != 0 {
			break
		}
		out = append(out, '1')
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return string(out)
}

// DecodeBase58 decodes base58btc text.
func DecodeBase58(s string) ([]byte, error) {
	n := new(big.Int)
	base := big.NewInt(58)
	zeros := 0
	for i := 0; i < len(s) && s[i] == '1'; i++ {
		zeros++
	}
	for i := 0; i < len(s); i++ {
		d := strings.IndexByte(b58Alphabet, s[i])
		if d < 0 {
			return nil, fmt.Errorf("%w: %q is not base58btc", ErrMultibase, s[i])
		}
		n.Mul(n, base).Add(n, big.NewInt(int64(d)))
	}
	return append(make([]byte, zeros), n.Bytes()...), nil
}

// multicodecEd25519Pub is the multicodec prefix of an Ed25519 public key (0xed, varint-encoded).
var multicodecEd25519Pub = []byte{0xed, 0x01}

// DIDKey returns the did:key of an Ed25519 public key: "did:key:z" + base58btc(0xed01 ‖ key).
func DIDKey(pub ed25519.PublicKey) string {
	return "did:key:" + multibaseKey(pub)
}

// multibaseKey is the publicKeyMultibase form of pub ("z6Mk…").
func multibaseKey(pub ed25519.PublicKey) string {
	return "z" + EncodeBase58(append(append([]byte(nil), multicodecEd25519Pub...), pub...))
}

// VerificationMethod returns the did:key verification method of pub: did:key:z…#z….
func VerificationMethod(pub ed25519.PublicKey) string {
	mb := multibaseKey(pub)
	return "did:key:" + mb + "#" + mb
}

// ParseVerificationMethod returns the Ed25519 key of a did:key verification method (with or
// without its fragment; a fragment must repeat the key).
func ParseVerificationMethod(vm string) (ed25519.PublicKey, error) {
	rest, ok := strings.CutPrefix(vm, "did:key:")
	if !ok {
		return nil, fmt.Errorf("%w: %q is not a did:key", ErrMultibase, vm)
	}
	id, frag, hasFrag := strings.Cut(rest, "#")
	if hasFrag && frag != id {
		return nil, fmt.Errorf("%w: fragment %q is not the key %q", ErrMultibase, frag, id)
	}
	return parseMultibaseKey(id)
}

// parseMultibaseKey decodes "z6Mk…" into an Ed25519 key.
func parseMultibaseKey(mb string) (ed25519.PublicKey, error) {
	b58, ok := strings.CutPrefix(mb, "z")
	if !ok {
		return nil, fmt.Errorf("%w: %q is not base58btc multibase", ErrMultibase, mb)
	}
	b, err := DecodeBase58(b58)
	if err != nil {
		return nil, err
	}
	if len(b) != 2+ed25519.PublicKeySize || b[0] != multicodecEd25519Pub[0] || b[1] != multicodecEd25519Pub[1] {
		return nil, fmt.Errorf("%w: %q is not an Ed25519 public key", ErrMultibase, mb)
	}
	return ed25519.PublicKey(b[2:]), nil
}
