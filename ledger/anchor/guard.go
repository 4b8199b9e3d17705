package anchor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// guard runs f, which hands outside bytes (a proof file, a receipt, a node's answer) to iota.go,
// and turns a panic into an error wrapping ErrFormat. iota.go v3.0.0-rc.3 panics decoding some
// hostile input, such as a block whose payload says transaction (type 6) without being one: its
// JSON decoding dereferences the missing essence. Every iota.go decoding of outside bytes in this
// package goes through guard; other packages reach it by decoding a PoI (PoI.UnmarshalJSON), so
// there is one guard, not one per caller.
func guard(what string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: malformed (%v): %w", what, r, ErrFormat)
		}
	}()
	return f()
}

// UnmarshalJSON decodes an inclusion proof strictly (only milestone, block and proof, as the
// inx-poi plugin answers) under guard: a PoI that would make iota.go panic is an ErrFormat error,
// wherever the PoI is embedded (proof files, anchor proofs, receipts, a node's answer).
func (poi *PoI) UnmarshalJSON(b []byte) error {
	type plain PoI // without this method
	var p plain
	err := guard("inclusion proof", func() error {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			return err
		}
		if dec.More() {
			return errors.New("trailing data")
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrFormat) {
			return err
		}
		return fmt.Errorf("inclusion proof: %v: %w", err, ErrFormat)
	}
	*poi = PoI(p)
	return nil
}
