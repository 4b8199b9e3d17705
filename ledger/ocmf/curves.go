package ocmf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/asn1"
	"fmt"
	"math/big"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	k1ecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// curve is one signature curve of the OCMF specification (Table 22).
type curve struct {
	name string                // canonical SA curve part, e.g. "secp256r1"
	oid  asn1.ObjectIdentifier // namedCurve in the SPKI
	size int                   // field size in bytes
	// verify checks (r, s) over hash for the uncompressed point 04‖X‖Y.
	verify func(point, hash []byte, r, s *big.Int) error
}

var (
	oidP256      = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidP384      = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
	oidP192      = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 1}
	oidSecp192k1 = asn1.ObjectIdentifier{1, 3, 132, 0, 31}
	oidSecp256k1 = asn1.ObjectIdentifier{1, 3, 132, 0, 10}
	oidBP256r1   = asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 7}
	oidBP384r1   = asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 11}
)

// curveByName maps the curve part of SA (lowercased) to the curve. The TPS also accepts the
// "brainpoolP256r1" spelling, so both are listed.
func curveByName(name string) (*curve, bool) {
	switch name {
	case "secp256r1":
		return &curve{"secp256r1", oidP256, 32, stdVerify(elliptic.P256())}, true
	case "secp384r1":
		return &curve{"secp384r1", oidP384, 48, stdVerify(elliptic.P384())}, true
	case "secp256k1":
		return &curve{"secp256k1", oidSecp256k1, 32, verifySecp256k1}, true
	case "brainpool256r1", "brainpoolp256r1":
		return &curve{"brainpool256r1", oidBP256r1, 32, brainpoolP256r1.verify}, true
	case "brainpool384r1", "brainpoolp384r1":
		return &curve{"brainpool384r1", oidBP384r1, 48, brainpoolP384r1.verify}, true
	case "secp192r1":
		return &curve{"secp192r1", oidP192, 24, secp192r1.verify}, true
	case "secp192k1":
		return &curve{"secp192k1", oidSecp192k1, 24, secp192k1.verify}, true
	}
	return nil, false
}

func stdVerify(c elliptic.Curve) func(point, hash []byte, r, s *big.Int) error {
	return func(point, hash []byte, r, s *big.Int) error {
		pub, err := ecdsa.ParseUncompressedPublicKey(c, point)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadKey, err)
		}
		if !ecdsa.Verify(pub, hash, r, s) {
			return ErrBadSignature
		}
		return nil
	}
}

// verifySecp256k1 uses decred's secp256k1 (the library behind btcd and dcrd).
func verifySecp256k1(point, hash []byte, r, s *big.Int) error {
	pub, err := secp256k1.ParsePubKey(point)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	var rs, ss secp256k1.ModNScalar
	if r.Sign() <= 0 || s.Sign() <= 0 || r.BitLen() > 256 || s.BitLen() > 256 {
		return ErrBadSignature
	}
	if rs.SetByteSlice(r.Bytes()) || ss.SetByteSlice(s.Bytes()) {
		return ErrBadSignature // ≥ N
	}
	if !k1ecdsa.NewSignature(&rs, &ss).Verify(hash, pub) {
		return ErrBadSignature
	}
	return nil
}

// weierstrass is a short Weierstrass curve y² = x³ + ax + b over GF(p) with prime order n
// (cofactor 1), for the OCMF curves the standard library lacks. It only verifies: every input
// is public, so variable-time big.Int arithmetic is acceptable here. Parameters are from
// RFC 5639 (brainpool) and SEC 2 (secp192r1, secp192k1), cross-checked with OpenSSL.
type weierstrass struct {
	p, a, b, gx, gy, n *big.Int
}

func hexInt(s string) *big.Int {
	v, _ := new(big.Int).SetString(s, 16) // constants below; TestCurveConstants checks each one
	return v
}

var (
	brainpoolP256r1 = &weierstrass{
		p:  hexInt("A9FB57DBA1EEA9BC3E660A909D838D726E3BF623D52620282013481D1F6E5377"),
		a:  hexInt("7D5A0975FC2C3057EEF67530417AFFE7FB8055C126DC5C6CE94A4B44F330B5D9"),
		b:  hexInt("26DC5C6CE94A4B44F330B5D9BBD77CBF958416295CF7E1CE6BCCDC18FF8C07B6"),
		gx: hexInt("8BD2AEB9CB7E57CB2C4B482FFC81B7AFB9DE27E1E3BD23C23A4453BD9ACE3262"),
		gy: hexInt("547EF835C3DAC4FD97F8461A14611DC9C27745132DED8E545C1D54C72F046997"),
		n:  hexInt("A9FB57DBA1EEA9BC3E660A909D838D718C397AA3B561A6F7901E0E82974856A7"),
	}
	brainpoolP384r1 = &weierstrass{
		p:  hexInt("8CB91E82A3386D280F5D6F7E50E641DF152F7109ED5456B412B1DA197FB71123ACD3A729901D1A71874700133107EC53"),
		a:  hexInt("7BC382C63D8C150C3C72080ACE05AFA0C2BEA28E4FB22787139165EFBA91F90F8AA5814A503AD4EB04A8C7DD22CE2826"),
		b:  hexInt("04A8C7DD22CE28268B39B55416F0447C2FB77DE107DCD2A62E880EA53EEB62D57CB4390295DBC9943AB78696FA504C11"),
		gx: hexInt("1D1C64F068CF45FFA2A63A81B7C13F6B8847A3E77EF14FE3DB7FCAFE0CBD10E8E826E03436D646AAEF87B2E247D4AF1E"),
		gy: hexInt("8ABE1D7520F9C2A45CB1EB8E95CFD55262B70B29FEEC5864E19C054FF99129280E4646217791811142820341263C5315"),
		n:  hexInt("8CB91E82A3386D280F5D6F7E50E641DF152F7109ED5456B31F166E6CAC0425A7CF3AB6AF6B7FC3103B883202E9046565"),
	}
	secp192r1 = &weierstrass{
		p:  hexInt("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFFFFFFFFFF"),
		a:  hexInt("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFFFFFFFFFC"),
		b:  hexInt("64210519E59C80E70FA7E9AB72243049FEB8DEECC146B9B1"),
		gx: hexInt("188DA80EB03090F67CBF20EB43A18800F4FF0AFD82FF1012"),
		gy: hexInt("07192B95FFC8DA78631011ED6B24CDD573F977A11E794811"),
		n:  hexInt("FFFFFFFFFFFFFFFFFFFFFFFF99DEF836146BC9B1B4D22831"),
	}
	secp192k1 = &weierstrass{
		p:  hexInt("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFEE37"),
		a:  big.NewInt(0),
		b:  big.NewInt(3),
		gx: hexInt("DB4FF10EC057E9AE26B07D0280B7F4341DA5D1B1EAE06C7D"),
		gy: hexInt("9B2F2F6D9C5628A7844163D015BE86344082AA88D95E2F9D"),
		n:  hexInt("FFFFFFFFFFFFFFFFFFFFFFFE26F2FC170F69466A74DEFD8D"),
	}
)

// point is an affine point; inf marks the point at infinity.
type point struct {
	x, y *big.Int
	inf  bool
}

func (c *weierstrass) onCurve(x, y *big.Int) bool {
	if x.Sign() < 0 || x.Cmp(c.p) >= 0 || y.Sign() < 0 || y.Cmp(c.p) >= 0 {
		return false
	}
	lhs := new(big.Int).Mul(y, y)
	lhs.Mod(lhs, c.p)
	rhs := new(big.Int).Mul(x, x)
	rhs.Add(rhs, c.a)
	rhs.Mul(rhs, x)
	rhs.Add(rhs, c.b)
	rhs.Mod(rhs, c.p)
	return lhs.Cmp(rhs) == 0
}

func (c *weierstrass) add(p, q point) point {
	switch {
	case p.inf:
		return q
	case q.inf:
		return p
	}
	var lambda *big.Int
	if p.x.Cmp(q.x) == 0 {
		sum := new(big.Int).Add(p.y, q.y)
		if sum.Mod(sum, c.p).Sign() == 0 {
			return point{inf: true}
		}
		// Doubling: λ = (3x² + a) / 2y.
		num := new(big.Int).Mul(p.x, p.x)
		num.Mul(num, big.NewInt(3)).Add(num, c.a)
		den := new(big.Int).Lsh(p.y, 1)
		den.Mod(den, c.p)
		lambda = num.Mul(num, new(big.Int).ModInverse(den, c.p))
	} else {
		num := new(big.Int).Sub(q.y, p.y)
		den := new(big.Int).Sub(q.x, p.x)
		den.Mod(den, c.p)
		lambda = num.Mul(num, new(big.Int).ModInverse(den, c.p))
	}
	lambda.Mod(lambda, c.p)
	x := new(big.Int).Mul(lambda, lambda)
	x.Sub(x, p.x).Sub(x, q.x).Mod(x, c.p)
	y := new(big.Int).Sub(p.x, x)
	y.Mul(y, lambda).Sub(y, p.y).Mod(y, c.p)
	return point{x: x, y: y}
}

func (c *weierstrass) mul(k *big.Int, p point) point {
	r := point{inf: true}
	for i := k.BitLen() - 1; i >= 0; i-- {
		r = c.add(r, r)
		if k.Bit(i) == 1 {
			r = c.add(r, p)
		}
	}
	return r
}

// verify is ECDSA verification (SEC 1 §4.1.4) with the hash truncated to the bit length of n.
func (c *weierstrass) verify(pt, hash []byte, r, s *big.Int) error {
	size := (c.p.BitLen() + 7) / 8
	if len(pt) != 1+2*size || pt[0] != 4 {
		return fmt.Errorf("%w: not an uncompressed %d-byte point", ErrBadKey, 1+2*size)
	}
	q := point{x: new(big.Int).SetBytes(pt[1 : 1+size]), y: new(big.Int).SetBytes(pt[1+size:])}
	if !c.onCurve(q.x, q.y) {
		return fmt.Errorf("%w: point not on the curve", ErrBadKey)
	}
	if r.Sign() <= 0 || s.Sign() <= 0 || r.Cmp(c.n) >= 0 || s.Cmp(c.n) >= 0 {
		return ErrBadSignature
	}
	e := new(big.Int).SetBytes(hash)
	if excess := len(hash)*8 - c.n.BitLen(); excess > 0 {
		e.Rsh(e, uint(excess))
	}
	w := new(big.Int).ModInverse(s, c.n)
	u1 := new(big.Int).Mul(e, w)
	u1.Mod(u1, c.n)
	u2 := new(big.Int).Mul(r, w)
	u2.Mod(u2, c.n)
	x := c.add(c.mul(u1, point{x: c.gx, y: c.gy}), c.mul(u2, q))
	if x.inf {
		return ErrBadSignature
	}
	if new(big.Int).Mod(x.x, c.n).Cmp(r) != 0 {
		return ErrBadSignature
	}
	return nil
}
