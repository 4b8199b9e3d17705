package receipt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrCanonical means a JSON value has no canonical form here: invalid JSON, a duplicate member
// name, a number that is not a finite IEEE 754 double, or invalid UTF-8.
var ErrCanonical = errors.New("not canonicalizable JSON")

// Canonicalize returns the JSON Canonicalization Scheme (RFC 8785) form of the JSON text b:
// no whitespace, object members sorted by their names' UTF-16 code units, strings with only the
// escapes RFC 8785 §3.2.2.2 requires, numbers in ECMAScript's Number.prototype.toString form
// (§3.2.2.3). Duplicate member names are refused (§3.1: I-JSON).
func Canonicalize(b []byte) ([]byte, error) {
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("%w: invalid UTF-8", ErrCanonical)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out bytes.Buffer
	if err := canonValue(dec, &out); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data", ErrCanonical)
	}
	return out.Bytes(), nil
}

// canonValue reads one value from dec and writes its canonical form.
func canonValue(dec *json.Decoder, out *bytes.Buffer) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCanonical, err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			return canonObject(dec, out)
		case '[':
			out.WriteByte('[')
			for i := 0; dec.More(); i++ {
				if i > 0 {
					out.WriteByte(',')
				}
				if err := canonValue(dec, out); err != nil {
					return err
				}
			}
			if _, err := dec.Token(); err != nil {
				return fmt.Errorf("%w: %v", ErrCanonical, err)
			}
			out.WriteByte(']')
			return nil
		}
		return fmt.Errorf("%w: unexpected %v", ErrCanonical, t)
	case string:
		return canonString(out, t)
	case json.Number:
		return canonNumber(out, t)
	case bool:
		out.WriteString(strconv.FormatBool(t))
		return nil
	case nil:
		out.WriteString("null")
		return nil
	}
	return fmt.Errorf("%w: token %T", ErrCanonical, tok)
}

// canonObject writes an object whose '{' was read, members sorted by UTF-16 code units.
func canonObject(dec *json.Decoder, out *bytes.Buffer) error {
	type member struct {
		key   string
		units []uint16
		val   []byte
	}
	var ms []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrCanonical, err)
		}
		k, ok := tok.(string)
		if !ok {
			return fmt.Errorf("%w: member name %v", ErrCanonical, tok)
		}
		var v bytes.Buffer
		if err := canonValue(dec, &v); err != nil {
			return err
		}
		ms = append(ms, member{k, utf16.Encode([]rune(k)), v.Bytes()})
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("%w: %v", ErrCanonical, err)
	}
	slices.SortFunc(ms, func(a, b member) int { return slices.Compare(a.units, b.units) })
	out.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			if m.key == ms[i-1].key {
				return fmt.Errorf("%w: duplicate member %q", ErrCanonical, m.key)
			}
			out.WriteByte(',')
		}
		if err := canonString(out, m.key); err != nil {
			return err
		}
		out.WriteByte(':')
		out.Write(m.val)
	}
	out.WriteByte('}')
	return nil
}

// canonString writes s as RFC 8785 §3.2.2.2 says: '"' and '\' escaped, the control characters
// with their short escapes where JSON has one (\b \t \n \f \r), else \u00xx in lowercase hex;
// everything else, including non-ASCII, as UTF-8.
func canonString(out *bytes.Buffer, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: invalid UTF-8", ErrCanonical)
	}
	out.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			out.WriteString(`\"`)
		case '\\':
			out.WriteString(`\\`)
		case '\b':
			out.WriteString(`\b`)
		case '\t':
			out.WriteString(`\t`)
		case '\n':
			out.WriteString(`\n`)
		case '\f':
			out.WriteString(`\f`)
		case '\r':
			out.WriteString(`\r`)
		default:
			if r < 0x20 {
				fmt.Fprintf(out, `\u%04x`, r)
			} else {
				out.WriteRune(r)
			}
		}
	}
	out.WriteByte('"')
	return nil
}

// canonNumber writes n as ECMAScript's Number.prototype.toString writes the double nearest to
// it (RFC 8785 §3.2.2.3). Go's encoding/json formats float64 the same way (shortest
// round-trip digits, exponent form below 1e-6 and from 1e21, "e+21" / "e-7").
func canonNumber(out *bytes.Buffer, n json.Number) error {
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return fmt.Errorf("%w: number %s", ErrCanonical, n)
	}
	if f == 0 {
		out.WriteByte('0') // -0 too
		return nil
	}
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("%w: number %s: %v", ErrCanonical, n, err)
	}
	out.Write(b)
	return nil
}
