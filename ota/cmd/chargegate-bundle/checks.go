package main

import (
	"crypto/ed25519"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/chargegate/chargegate/ota/bundle"
)

// setUint64 is a uint64 flag that remembers whether it was given: create requires the
// security version explicitly, since a silent 0 lets every older bundle in again.
type setUint64 struct {
	n   uint64
	set bool
}

func (v *setUint64) String() string { return strconv.FormatUint(v.n, 10) }

func (v *setUint64) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("want a non-negative integer: %w", err)
	}
	v.n, v.set = n, true
	return nil
}

// openPayload opens a payload file, refusing one that is empty (a failed build step, a
// wrong path to a placeholder): an empty app or root filesystem would brick the slot.
func openPayload(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open payload: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat payload: %w", err)
	}
	if !st.Mode().IsRegular() || st.Size() == 0 {
		f.Close()
		return nil, fmt.Errorf("payload %s is empty or not a regular file", path)
	}
	return f, nil
}

// readSigningKeys reads the private keys given with -key.
func readSigningKeys(paths []string) ([]ed25519.PrivateKey, error) {
	var keys []ed25519.PrivateKey
	for _, p := range paths {
		k, err := bundle.ReadPrivateKeyFile(p)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// signers names the keys that signed: key ID and the file it was read from.
func signers(ids []string, trusted map[string]ed25519.PublicKey, paths []string) string {
	byID := map[string]string{}
	for _, p := range paths {
		if k, err := bundle.ReadTrustedKeys(p); err == nil {
			for id := range k {
				byID[id] = p
			}
		}
	}
	var out []string
	for _, id := range ids {
		if _, ok := trusted[id]; ok {
			out = append(out, fmt.Sprintf("%s (%s)", id, byID[id]))
		}
	}
	return strings.Join(out, ", ")
}
