package access

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// seedKey returns the Ed25519 key whose seed is b, b+1, ..., b+31.
func seedKey(b byte) ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = b + byte(i)
	}
	return ed25519.NewKeyFromSeed(seed)
}

var (
	k1 = seedKey(0x00)
	k2 = seedKey(0x40)
	kx = seedKey(0x80) // trusted by nobody
)

func goldenClaims() Claims {
	return Claims{Issuer: "Example eMSP", Subject: "04A1B2C3D4E5F6", EVSEs: []string{"DE*CGT*E0001*1"},
		Group: "fleet-7", NotBefore: 1767225600, Expiry: 1798761600, IssuedAt: 1767225600, ID: "t-0001",
		SingleUse: true, Limits: Limits{MaxEnergyWh: 20000, MaxDurationS: 7200, MaxPowerW: 11000}}
}

func TestGoldenToken(t *testing.T) {
	got, err := Issue(k1, "k1", goldenClaims())
	if err != nil {
		t.Fatal(err)
	}
	_, pubPEM, err := MarshalKeyPEM(k1)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		os.WriteFile("testdata/golden.jws", []byte(got+"\n"), 0o644)
		os.WriteFile("testdata/k1.pub.pem", pubPEM, 0o644)
	}
	want, err := os.ReadFile("testdata/golden.jws")
	if err != nil {
		t.Fatal(err)
	}
	if got != strings.TrimSpace(string(want)) {
		t.Errorf("Issue = %s\nwant    %s", got, want)
	}
	b, err := os.ReadFile("testdata/k1.pub.pem")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParsePublicKeyPEM(b)
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(map[string]ed25519.PublicKey{"k1": pub})
	ver, err := v.Verify(strings.TrimSpace(string(want)), time.Unix(1780000000, 0), Where{EVSEID: "DE*CGT*E0001*1"})
	if err != nil {
		t.Fatalf("golden token refused: %v", err)
	}
	if ver.KeyID != "k1" || ver.Claims.Subject != "04A1B2C3D4E5F6" || ver.Claims.MaxEnergyWh != 20000 || !ver.Claims.SingleUse {
		t.Errorf("verified = %+v", ver)
	}
	hdr, _, _ := strings.Cut(got, ".")
	h, _ := base64.RawURLEncoding.DecodeString(hdr)
	if string(h) != `{"alg":"EdDSA","kid":"k1","typ":"chargegate-cap+jwt"}` {
		t.Errorf("header = %s", h)
	}
}

// forge builds a compact JWS by hand so every header field can be wrong.
func forge(t testing.TB, header map[string]any, claims any, key ed25519.PrivateKey) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	p, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
	return in + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(key, []byte(in)))
}

func hdr(kid string) map[string]any {
	return map[string]any{"alg": "EdDSA", "kid": kid, "typ": TokenType}
}

func TestVerifyRefusals(t *testing.T) {
	now := time.Unix(1780000000, 0)
	at := Where{EVSEID: "DE*CGT*E0001*1", Groups: []string{"site-berlin"}}
	good := Claims{Subject: "AA", Expiry: now.Add(time.Hour).Unix()}
	with := func(f func(*Claims)) Claims { c := good; f(&c); return c }
	issue := func(key ed25519.PrivateKey, kid string, c Claims) string {
		s, err := Issue(key, kid, c)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	valid := issue(k1, "k1", good)
	parts := strings.Split(valid, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"BB","exp":1780003600}`)) + "." + parts[2]
	hs := map[string]any{"alg": "HS256", "kid": "k1", "typ": TokenType}
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"too large", strings.Repeat("a", MaxTokenSize+1), ErrTooLarge},
		{"two parts", "abc.def", ErrMalformed},
		{"bad base64", "!!.??.**", ErrMalformed},
		{"JWS JSON form", `{"payload":"e30","signatures":[]}`, ErrMalformed},
		{"alg HS256", forge(t, hs, good, k1), ErrAlgorithm},
		{"alg none", forge(t, map[string]any{"alg": "none", "kid": "k1", "typ": TokenType}, good, k1), ErrAlgorithm},
		{"no kid", forge(t, map[string]any{"alg": "EdDSA", "typ": TokenType}, good, k1), ErrNoKeyID},
		{"typ JWT", forge(t, map[string]any{"alg": "EdDSA", "kid": "k1", "typ": "JWT"}, good, k1), ErrType},
		{"no typ", forge(t, map[string]any{"alg": "EdDSA", "kid": "k1"}, good, k1), ErrType},
		{"crit", forge(t, map[string]any{"alg": "EdDSA", "kid": "k1", "typ": TokenType, "crit": []string{"x"}, "x": 1}, good, k1), ErrMalformed},
		{"unknown issuer", issue(k1, "k9", good), ErrUnknownIssuer},
		{"foreign key under a trusted kid", issue(kx, "k1", good), ErrBadSignature},
		{"tampered payload", tampered, ErrBadSignature},
		{"claims not JSON", forge(t, hdr("k1"), "just a string", k1), ErrMalformed},
		{"no exp", forge(t, hdr("k1"), map[string]any{"sub": "AA"}, k1), ErrMissingExpiry},
		{"no subject", forge(t, hdr("k1"), map[string]any{"exp": good.Expiry}, k1), ErrNoSubject},
		{"once without jti", forge(t, hdr("k1"), with(func(c *Claims) { c.SingleUse = true }), k1), ErrMissingTokenID},
		{"expired beyond skew", issue(k1, "k1", with(func(c *Claims) { c.Expiry = now.Add(-DefaultSkew - time.Second).Unix() })), ErrExpired},
		{"not yet valid beyond skew", issue(k1, "k1", with(func(c *Claims) { c.NotBefore = now.Add(DefaultSkew + time.Minute).Unix() })), ErrNotYetValid},
		{"other EVSE", issue(k1, "k1", with(func(c *Claims) { c.EVSEs = []string{"DE*CGT*E0002*1"} })), ErrWrongEVSE},
		{"other EVSE group", issue(k1, "k1", with(func(c *Claims) { c.EVSEGroup = "site-paris" })), ErrWrongEVSE},
		{"bad holder key", forge(t, hdr("k1"), map[string]any{"hk": "AAAA", "exp": good.Expiry}, k1), ErrMalformed},
		{"valid", valid, nil},
		{"expired within skew", issue(k1, "k1", with(func(c *Claims) { c.Expiry = now.Add(-DefaultSkew + time.Minute).Unix() })), nil},
		{"not yet valid within skew", issue(k1, "k1", with(func(c *Claims) { c.NotBefore = now.Add(DefaultSkew - time.Minute).Unix() })), nil},
		{"EVSE listed", issue(k1, "k1", with(func(c *Claims) { c.EVSEs = []string{"X", "DE*CGT*E0001*1"} })), nil},
		{"EVSE group", issue(k1, "k1", with(func(c *Claims) { c.EVSEGroup = "site-berlin" })), nil},
	}
	v := NewVerifier(map[string]ed25519.PublicKey{"k1": k1.Public().(ed25519.PublicKey)})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(tt.token, now, at)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			if tt.want != nil && Reason(err) != tt.want.Error() {
				t.Errorf("Reason = %q, want %q", Reason(err), tt.want.Error())
			}
		})
	}
}

func TestIssueRefuses(t *testing.T) {
	exp := time.Now().Add(time.Hour).Unix()
	for _, tt := range []struct {
		kid  string
		c    Claims
		want error
	}{
		{"", Claims{Subject: "A", Expiry: exp}, ErrNoKeyID},
		{"k1", Claims{Subject: "A"}, ErrMissingExpiry},
		{"k1", Claims{Expiry: exp}, ErrNoSubject},
		{"k1", Claims{Subject: "A", Expiry: exp, SingleUse: true}, ErrMissingTokenID},
		{"k1", Claims{Subject: "A", Expiry: exp, EVSEs: []string{strings.Repeat("E", MaxTokenSize)}}, ErrTooLarge},
	} {
		if _, err := Issue(k1, tt.kid, tt.c); !errors.Is(err, tt.want) {
			t.Errorf("Issue(%q, %+v) = %v, want %v", tt.kid, tt.c, err, tt.want)
		}
	}
}

func TestKeyRotation(t *testing.T) {
	now := time.Unix(1780000000, 0)
	c := Claims{Subject: "AA", Expiry: now.Add(time.Hour).Unix()}
	t1, _ := Issue(k1, "2026-a", c)
	t2, _ := Issue(k2, "2026-b", c)
	pub := func(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

	both := NewVerifier(map[string]ed25519.PublicKey{"2026-a": pub(k1), "2026-b": pub(k2)})
	for _, tok := range []string{t1, t2} {
		if v, err := both.Verify(tok, now, Where{}); err != nil {
			t.Errorf("during rotation: %v", err)
		} else if v.KeyID != "2026-a" && v.KeyID != "2026-b" {
			t.Errorf("KeyID = %q", v.KeyID)
		}
	}
	after := NewVerifier(map[string]ed25519.PublicKey{"2026-b": pub(k2)})
	if _, err := after.Verify(t1, now, Where{}); !errors.Is(err, ErrUnknownIssuer) {
		t.Errorf("old key after rotation: %v, want unknown_issuer", err)
	}
	if _, err := after.Verify(t2, now, Where{}); err != nil {
		t.Errorf("new key after rotation: %v", err)
	}
	// A key ID names one key: the new key cannot sign under the old ID.
	swapped := NewVerifier(map[string]ed25519.PublicKey{"2026-a": pub(k2)})
	if _, err := swapped.Verify(t1, now, Where{}); !errors.Is(err, ErrBadSignature) {
		t.Errorf("kid bound to another key: %v, want bad_signature", err)
	}
}

func TestKeyPEMRoundTrip(t *testing.T) {
	privPEM, pubPEM, err := MarshalKeyPEM(k2)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ParsePrivateKeyPEM(privPEM)
	if err != nil || !priv.Equal(k2) {
		t.Fatalf("private key round trip: %v", err)
	}
	pub, err := ParsePublicKeyPEM(pubPEM)
	if err != nil || !pub.Equal(k2.Public()) {
		t.Fatalf("public key round trip: %v", err)
	}
	if _, err := ParsePublicKeyPEM(privPEM); err == nil {
		t.Error("a private key PEM parsed as a public key")
	}
	if _, err := ParsePrivateKeyPEM([]byte("junk")); err == nil {
		t.Error("junk parsed as a private key")
	}
}

func FuzzVerify(f *testing.F) {
	golden, _ := os.ReadFile("testdata/golden.jws")
	f.Add(strings.TrimSpace(string(golden)))
	f.Add("eyJhbGciOiJFZERTQSJ9.e30.")
	f.Add("a.b.c")
	f.Add("")
	v := NewVerifier(map[string]ed25519.PublicKey{"k1": k1.Public().(ed25519.PublicKey)})
	now := time.Unix(1780000000, 0)
	f.Fuzz(func(t *testing.T, tok string) {
		got, err := v.Verify(tok, now, Where{EVSEID: "DE*CGT*E0001*1"})
		if err != nil {
			if Reason(err) == "error" {
				t.Fatalf("refusal without a reason: %v", err)
			}
			return
		}
		if got.KeyID != "k1" || got.Claims.Expiry == 0 || (got.Claims.Subject == "" && got.Claims.HolderKey == "") {
			t.Fatalf("accepted %q as %+v", tok, got)
		}
	})
}
