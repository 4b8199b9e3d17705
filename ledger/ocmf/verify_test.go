package ocmf_test

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chargegate/chargegate/ledger/ocmf"
)

var update = flag.Bool("update", false, "regenerate testdata/curves.json with openssl")

// vector is one record of testdata/vectors.json or testdata/curves.json.
type vector struct {
	Name      string `json:"name"`
	Source    string `json:"source"`
	OCMF      string `json:"ocmf"`
	PublicKey string `json:"publicKey"`
	Valid     bool   `json:"valid"`
}

func loadVectors(t testing.TB, path string) []vector {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read vectors: %v", err)
	}
	var vs []vector
	if err := json.Unmarshal(data, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 {
		t.Fatalf("%s holds no vectors", path)
	}
	return vs
}

// TestRealRecords verifies the meter and charger records collected from public sources.
func TestRealRecords(t *testing.T) {
	for _, v := range loadVectors(t, "testdata/vectors.json") {
		t.Run(v.Name, func(t *testing.T) {
			key, err := ocmf.ParsePublicKey(v.PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			err = ocmf.Verify(v.OCMF, key)
			if v.Valid && err != nil {
				t.Fatalf("valid record rejected: %v", err)
			}
			if !v.Valid && !errors.Is(err, ocmf.ErrBadSignature) {
				t.Fatalf("invalid record: err = %v, want ErrBadSignature", err)
			}
			if !v.Valid {
				return
			}
			// The payload span is verified as received: any change breaks it.
			r, _ := ocmf.Parse(v.OCMF)
			payload := string(r.Payload)
			for _, mut := range []string{
				strings.Replace(payload, `"RD"`, ` "RD"`, 1), // added whitespace
				strings.Replace(payload, `"G"`, `"T"`, 1),    // changed status
				strings.Replace(payload, `"RV":0`, `"RV":1`, 1),
			} {
				if mut == payload {
					continue
				}
				rec := strings.Replace(v.OCMF, payload, mut, 1)
				if err := ocmf.Verify(rec, key); !errors.Is(err, ocmf.ErrBadSignature) {
					t.Errorf("mutated payload: err = %v", err)
				}
			}
			// Key text forms: spaced hex, lowercase hex, base64, PEM.
			der, _ := hex.DecodeString(v.PublicKey)
			spaced := strings.Join(strings.SplitAfterN(strings.ToLower(v.PublicKey), "", len(v.PublicKey)), " ")
			pemText := "-----BEGIN PUBLIC KEY-----\n" + base64.StdEncoding.EncodeToString(der) + "\n-----END PUBLIC KEY-----\n"
			for _, text := range []string{spaced, base64.StdEncoding.EncodeToString(der), pemText} {
				k, err := ocmf.ParsePublicKey(text)
				if err != nil {
					t.Fatalf("key form %.20q: %v", text, err)
				}
				if err := ocmf.Verify(v.OCMF, k); err != nil {
					t.Fatalf("key form %.20q: %v", text, err)
				}
			}
		})
	}
}

// curveCases are the OCMF algorithms (Table 22) and the OpenSSL curve names that produce them.
var curveCases = []struct{ sa, openssl, se string }{
	{"ECDSA-secp256r1-SHA256", "prime256v1", "hex"},
	{"ECDSA-secp384r1-SHA256", "secp384r1", "base64"},
	{"ECDSA-secp256k1-SHA256", "secp256k1", "hex"},
	{"ECDSA-brainpool256r1-SHA256", "brainpoolP256r1", "hex"},
	{"ECDSA-brainpoolP256r1-SHA256", "brainpoolP256r1", "base64"},
	{"ECDSA-brainpool384r1-SHA256", "brainpoolP384r1", "hex"},
	{"ECDSA-secp192r1-SHA256", "prime192v1", "hex"},
	{"ECDSA-secp192k1-SHA256", "secp192k1", "base64"},
}

// TestCurves verifies records signed by OpenSSL (an independent implementation) on every curve
// of the specification; testdata/curves.json is regenerated with -update.
func TestCurves(t *testing.T) {
	path := filepath.Join("testdata", "curves.json")
	if *update {
		writeCurveVectors(t, path)
	}
	vs := loadVectors(t, path)
	if len(vs) != len(curveCases) {
		t.Fatalf("%d curve vectors, want %d", len(vs), len(curveCases))
	}
	keys := map[string][]byte{}
	for _, v := range vs {
		key, err := ocmf.ParsePublicKey(v.PublicKey)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		keys[v.Name] = key
		if err := ocmf.Verify(v.OCMF, key); err != nil {
			t.Errorf("%s: %v", v.Name, err)
		}
		tampered := strings.Replace(v.OCMF, "T1", "T2", 1)
		if err := ocmf.Verify(tampered, key); !errors.Is(err, ocmf.ErrBadSignature) {
			t.Errorf("%s tampered: %v", v.Name, err)
		}
	}
	// A key decoded on the wrong curve fails, as in the TPS's second_key_fail_ocmf.
	if err := ocmf.Verify(vs[0].OCMF, keys[vs[3].Name]); !errors.Is(err, ocmf.ErrCurveMatch) {
		t.Errorf("P-256 record with a brainpool key: %v", err)
	}
}

func writeCurveVectors(t *testing.T, path string) {
	dir := t.TempDir()
	var out []vector
	for i, c := range curveCases {
		payload := `{"FV":"1.0","GI":"openssl test","GS":"` + c.openssl + `","PG":"T1","MS":"M-1","IS":false,"IT":"NONE","RD":[{"TM":"2026-01-02T03:04:05,000+0000 S","TX":"B","RV":1.234,"RI":"01-00:01.08.00*FF","RU":"kWh","ST":"G"}]}`
		keyFile := filepath.Join(dir, c.openssl+".pem")
		payloadFile := filepath.Join(dir, "payload")
		run := func(args ...string) []byte {
			out, err := exec.Command("openssl", args...).Output()
			if err != nil {
				t.Fatalf("openssl %v: %v", args, err)
			}
			return out
		}
		if i == 0 || curveCases[i-1].openssl != c.openssl {
			run("ecparam", "-name", c.openssl, "-genkey", "-noout", "-out", keyFile)
		}
		pub := run("ec", "-in", keyFile, "-pubout", "-outform", "DER")
		if err := os.WriteFile(payloadFile, []byte(payload), 0o600); err != nil {
			t.Fatal(err)
		}
		sig := run("dgst", "-sha256", "-sign", keyFile, payloadFile)
		sd := strings.ToUpper(hex.EncodeToString(sig))
		if c.se == "base64" {
			sd = base64.StdEncoding.EncodeToString(sig)
		}
		rec := `OCMF|` + payload + `|{"SA":"` + c.sa + `","SE":"` + c.se + `","SD":"` + sd + `"}`
		out = append(out, vector{Name: c.sa + "/" + c.se, Source: "openssl " + c.openssl, OCMF: rec, PublicKey: strings.ToUpper(hex.EncodeToString(pub)), Valid: true})
	}
	data, _ := json.MarshalIndent(out, "", " ")
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestParseRejects(t *testing.T) {
	for _, rec := range []string{
		"",
		"OCMF",
		"OCMF|{}",
		"XXXX|{}|{\"SD\":\"00\"}",
		"OCMF|{\"PG\":\"T1\"}|{\"SD\":\"00\"}|extra",
		"OCMF|not json|{\"SD\":\"00\"}",
		"OCMF|{\"PG\":\"T1\"}|{}",
	} {
		if _, err := ocmf.Parse(rec); !errors.Is(err, ocmf.ErrFormat) {
			t.Errorf("Parse(%q) = %v, want ErrFormat", rec, err)
		}
	}
	vs := loadVectors(t, filepath.Join("testdata", "curves.json"))
	key, _ := ocmf.ParsePublicKey(vs[0].PublicKey)
	for name, rec := range map[string]string{
		"unknown SA": strings.Replace(vs[0].OCMF, "secp256r1", "secp521r1", 1),
		"RSA SA":     strings.Replace(vs[0].OCMF, "ECDSA-secp256r1-SHA256", "RSA-2048-SHA256", 1),
		"SHA1":       strings.Replace(vs[0].OCMF, "SHA256", "SHA1", 1),
	} {
		if err := ocmf.Verify(rec, key); !errors.Is(err, ocmf.ErrAlgorithm) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ocmf.ParsePublicKey("zz"); !errors.Is(err, ocmf.ErrBadKey) {
		t.Errorf("bad key: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, path := range []string{"testdata/vectors.json", "testdata/curves.json"} {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		var vs []vector
		_ = json.Unmarshal(data, &vs)
		for _, v := range vs {
			f.Add(v.OCMF, v.PublicKey)
		}
	}
	f.Add("OCMF|{}|{}", "00")
	f.Fuzz(func(t *testing.T, rec, keyText string) {
		r, err := ocmf.Parse(rec)
		if err == nil && !strings.Contains(rec, string(r.Payload)) {
			t.Fatalf("payload span %q is not part of the record", r.Payload)
		}
		key, err := ocmf.ParsePublicKey(keyText)
		if err != nil {
			return
		}
		_ = ocmf.Verify(rec, key)
	})
}
