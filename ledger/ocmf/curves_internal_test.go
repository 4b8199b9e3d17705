package ocmf

import (
	"math/big"
	"testing"
)

// TestCurveConstants checks every hand-entered curve: G on the curve and n·G the point at infinity.
func TestCurveConstants(t *testing.T) {
	for name, c := range map[string]*weierstrass{
		"brainpoolP256r1": brainpoolP256r1, "brainpoolP384r1": brainpoolP384r1,
		"secp192r1": secp192r1, "secp192k1": secp192k1,
	} {
		for _, v := range []*big.Int{c.p, c.a, c.b, c.gx, c.gy, c.n} {
			if v == nil {
				t.Fatalf("%s: constant does not parse", name)
			}
		}
		if !c.onCurve(c.gx, c.gy) {
			t.Errorf("%s: G not on the curve", name)
		}
		if !c.mul(c.n, point{x: c.gx, y: c.gy}).inf {
			t.Errorf("%s: n·G is not infinity", name)
		}
		if !c.n.ProbablyPrime(20) || !c.p.ProbablyPrime(20) {
			t.Errorf("%s: p or n not prime", name)
		}
	}
}
