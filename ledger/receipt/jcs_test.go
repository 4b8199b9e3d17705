package receipt

import (
	"crypto/ed25519"
	"encoding/json"
	"os"
	"testing"
)

// TestCanonicalize checks the RFC 8785 rules on the value types: number forms (§3.2.2.3),
// string escapes (§3.2.2.2), member order by UTF-16 code units (§3.2.3, the RFC's own example),
// and refusals.
func TestCanonicalize(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`[1e30, 4.50, 0.000001, 1e-7, -0, 100, 2e21, 1E3, 12.3456, -1.5e-9]`, `[1e+30,4.5,0.000001,1e-7,0,100,2e+21,1000,12.3456,-1.5e-9]`},
		{`{"b": [true, false, null], "a": {"d": 1, "c": "x"}}`, `{"a":{"c":"x","d":1},"b":[true,false,null]}`},
		{`"\u20ac\u000f\n\"\\\/<>&\u2028"`, "\"€\\u000f\\n\\\"\\\\/<>&\u2028\""},
		// RFC 8785 §3.2.3: sorted "\r", "1", "\u0080", "\u00f6", "\u20ac", "\ud83d\ude00", "\ufb33".
		{`{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis"}`,
			"{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u0080\":\"Control\",\"ö\":\"Latin Small Letter O With Diaeresis\",\"€\":\"Euro Sign\",\"😀\":\"Emoji: Grinning Face\",\"דּ\":\"Hebrew Letter Dalet With Dagesh\"}"},
	} {
		got, err := Canonicalize([]byte(c.in))
		if err != nil || string(got) != c.want {
			t.Errorf("Canonicalize(%s) = %s, %v; want %s", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{`{"a":1,"a":2}`, `1e400`, `{"a":1} x`, `[1,`, "\"\xff\""} {
		if got, err := Canonicalize([]byte(bad)); err == nil {
			t.Errorf("Canonicalize(%q) = %s, want an error", bad, got)
		}
	}
}

// TestW3CVector checks the eddsa-jcs-2022 test vector of the specification (testdata/w3c): the
// canonical document and proof configuration, and the signature over their hashes.
func TestW3CVector(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile("testdata/w3c/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var signed map[string]json.RawMessage
	if err := json.Unmarshal(read("signedJCS.json"), &signed); err != nil {
		t.Fatal(err)
	}
	var p DIProof
	if err := json.Unmarshal(signed["proof"], &p); err != nil {
		t.Fatal(err)
	}
	delete(signed, "proof")
	db, _ := json.Marshal(signed)
	canon, err := Canonicalize(db)
	if err != nil || string(canon) != string(read("canonDocJCS.txt")) {
		t.Fatalf("canonical document\n got %s (%v)\nwant %s", canon, err, read("canonDocJCS.txt"))
	}
	var kp struct{ PublicKeyMultibase string }
	if err := json.Unmarshal(read("keyPair.json"), &kp); err != nil {
		t.Fatal(err)
	}
	pub, err := parseMultibaseKey(kp.PublicKeyMultibase)
	if err != nil {
		t.Fatal(err)
	}
	// The earlier revision's proof configuration with a did:key verification method.
	cfg := p
	cfg.ProofValue, cfg.VerificationMethod = "", VerificationMethod(pub)
	cb, _ := json.Marshal(cfg)
	if pc, err := Canonicalize(cb); err != nil || string(pc) != string(read("proofCanonJCS.txt")) {
		t.Errorf("canonical proof configuration\n got %s (%v)\nwant %s", pc, err, read("proofCanonJCS.txt"))
	}
	hd, err := hashData(signed, p)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := DecodeBase58(p.ProofValue[1:])
	if err != nil || !ed25519.Verify(pub, hd, sig) {
		t.Fatalf("the specification's proofValue does not verify (%v)", err)
	}
	hd[0] ^= 1
	if ed25519.Verify(pub, hd, sig) {
		t.Fatal("a changed hash verifies")
	}
}

func TestBase58RoundTrip(t *testing.T) {
	for _, b := range [][]byte{{}, {0}, {0, 0, 1}, {0xed, 0x01, 0xff}, []byte("hello world")} {
		got, err := DecodeBase58(EncodeBase58(b))
		if err != nil || string(got) != string(b) {
			t.Errorf("round trip of %x: %x %v", b, got, err)
		}
	}
	if EncodeBase58([]byte("hello world")) != "StV1DL6CwTryKyV" {
		t.Errorf("base58btc(hello world) = %s", EncodeBase58([]byte("hello world")))
	}
}

func TestDecimal4(t *testing.T) {
	for _, c := range []struct {
		n, div int64
		want   string
	}{
		{12_344_455, 1_000_000, "12.3445"}, {12_344_450, 1_000_000, "12.3445"}, {12_344_449, 1_000_000, "12.3444"},
		{-12_344_450, 1_000_000, "-12.3445"}, {0, 1_000_000, "0"}, {-10, 1_000_000, "0"}, {3_000_000, 1_000_000, "3"},
		{1_800_000, 3_600_000, "0.5"}, {299_999, 3_600_000, "0.0833"},
	} {
		if got := decimal4(c.n, c.div); string(got) != c.want {
			t.Errorf("decimal4(%d, %d) = %s, want %s", c.n, c.div, got, c.want)
		}
	}
}
