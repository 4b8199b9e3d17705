package access

import (
	"crypto/ed25519"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkVerify is the cost of checking one capability token offline (parse, Ed25519, claims).
func BenchmarkVerify(b *testing.B) {
	now := time.Unix(1780000000, 0)
	tok, _ := Issue(k1, "k1", Claims{Subject: "04A1B2C3", Expiry: now.Add(time.Hour).Unix(), EVSEs: []string{"DE*CGT*E0001*1"}})
	v := NewVerifier(map[string]ed25519.PublicKey{"k1": k1.Public().(ed25519.PublicKey)})
	for b.Loop() {
		if _, err := v.Verify(tok, now, Where{EVSEID: "DE*CGT*E0001*1"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthorizeSingleUse is what the caller waits for with a single-use token: Verify plus
// the used-token record written and fsynced (the file holds the IDs used so far).
func BenchmarkAuthorizeSingleUse(b *testing.B) {
	now := time.Unix(1780000000, 0)
	a, err := New(Config{Dir: b.TempDir(), EVSEID: "DE*CGT*E0001*1", Policy: DefaultPolicy(), Now: func() time.Time { return now },
		Issuers: map[string]ed25519.PublicKey{"k1": k1.Public().(ed25519.PublicKey)}})
	if err != nil {
		b.Fatal(err)
	}
	toks := make([]string, b.N)
	for i := range toks {
		toks[i], _ = Issue(k1, "k1", Claims{Subject: "A", Expiry: now.Add(time.Hour).Unix(), ID: fmt.Sprint(i), SingleUse: true})
	}
	b.ResetTimer()
	for i := range b.N {
		if d := a.Authorize(b.Context(), Request{Token: toks[i]}); !d.Allowed {
			b.Fatal(d)
		}
	}
}

// BenchmarkAuthorizeAllowList is an RFID card found on the allow-list (no I/O).
func BenchmarkAuthorizeAllowList(b *testing.B) {
	a, err := New(Config{Dir: b.TempDir(), Policy: DefaultPolicy()})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 500 {
		a.AllowList().Put(ListEntry{IDToken: fmt.Sprintf("%08X", i)})
	}
	for b.Loop() {
		if d := a.Authorize(b.Context(), Request{IDToken: "000001F3"}); !d.Allowed {
			b.Fatal(d)
		}
	}
}

// BenchmarkAllowListAdd measures one operator change (an allow_list add) on a full list of
// 1,000 entries: the whole file rewritten and fsynced, as every change is.
func BenchmarkAllowListAdd(b *testing.B) {
	l, err := OpenAllowList(filepath.Join(b.TempDir(), "allow-list.json"))
	if err != nil {
		b.Fatal(err)
	}
	full := make([]ListEntry, MaxListEntries-1)
	for i := range full {
		full[i] = ListEntry{IDToken: fmt.Sprintf("04%08X", i), Group: "fleet-7"}
	}
	if err := l.Apply(ListReplace, 1, full); err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		if err := l.Apply(ListAdd, int64(i+2), []ListEntry{{IDToken: "04FFFFFFFF", Note: fmt.Sprint(i)}}); err != nil {
			b.Fatal(err)
		}
	}
}
