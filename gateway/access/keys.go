package access

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// ParsePublicKeyPEM reads an Ed25519 public key from a PEM "PUBLIC KEY" block (PKIX), the form
// `chargegate token keygen` writes and the configuration's issuers reference by path.
func ParsePublicKeyPEM(b []byte) (ed25519.PublicKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, errors.New("no PEM PUBLIC KEY block")
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse public key: %w", err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("public key is %T, want Ed25519", k)
	}
	return pub, nil
}

// ParsePrivateKeyPEM reads an Ed25519 private key from a PEM "PRIVATE KEY" block (PKCS #8).
func ParsePrivateKeyPEM(b []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New("no PEM PRIVATE KEY block")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("private key is %T, want Ed25519", k)
	}
	return priv, nil
}

// MarshalKeyPEM returns the PEM forms of an Ed25519 key pair: PKCS #8 private, PKIX public.
func MarshalKeyPEM(priv ed25519.PrivateKey) (privPEM, pubPEM []byte, err error) {
	p8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, fmt.Errorf("encode private key: %w", err)
	}
	pk, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return nil, nil, fmt.Errorf("encode public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pk}), nil
}

// LoadIssuerKeys reads the trusted issuers' public keys, key ID → PEM file path, as the
// configuration's access.issuers names them. An error names the key ID.
func LoadIssuerKeys(paths map[string]string, readFile func(string) ([]byte, error)) (map[string]ed25519.PublicKey, error) {
	keys := make(map[string]ed25519.PublicKey, len(paths))
	for kid, path := range paths {
		if kid == "" {
			return nil, errors.New("issuer with an empty key ID")
		}
		b, err := readFile(path)
		if err != nil {
			return nil, fmt.Errorf("issuer %q: %w", kid, err)
		}
		pub, err := ParsePublicKeyPEM(b)
		if err != nil {
			return nil, fmt.Errorf("issuer %q: %s: %w", kid, path, err)
		}
		keys[kid] = pub
	}
	return keys, nil
}
