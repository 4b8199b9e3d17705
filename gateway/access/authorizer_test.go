package access

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// central is a state fake of a central system behind an OnlineChecker: tokens it knows, whether
// the link is up, and whether it hangs until the caller's deadline (a CSMS that stopped answering).
type central struct {
	mu     sync.Mutex
	up     bool
	hang   bool
	known  map[string]OnlineResult
	checks int
}

func (c *central) Available() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.up }

func (c *central) Check(ctx context.Context, idToken string) (OnlineResult, error) {
	c.mu.Lock()
	c.checks++
	hang, r, ok := c.hang, c.known[idToken], c.known[idToken] != (OnlineResult{})
	c.mu.Unlock()
	if hang {
		<-ctx.Done()
		return OnlineResult{}, ctx.Err()
	}
	if !ok {
		return OnlineResult{Reason: "Invalid"}, nil
	}
	return r, nil
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newAuthorizer(t *testing.T, dir string, cfg Config) *Authorizer {
	t.Helper()
	cfg.Dir = dir
	if cfg.Issuers == nil {
		cfg.Issuers = map[string]ed25519.PublicKey{"k1": k1.Public().(ed25519.PublicKey)}
	}
	if cfg.EVSEID == "" {
		cfg.EVSEID = "DE*CGT*E0001*1"
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestSingleUseReplayAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{time.Unix(1780000000, 0)}
	cfg := Config{Policy: DefaultPolicy(), Now: clk.now}
	tok, err := Issue(k1, "k1", Claims{Subject: "04A1B2C3", Expiry: clk.t.Add(time.Hour).Unix(), ID: "once-1", SingleUse: true,
		Group: "fleet", Limits: Limits{MaxEnergyWh: 5000, MaxDurationS: 1800}})
	if err != nil {
		t.Fatal(err)
	}
	a := newAuthorizer(t, dir, cfg)
	d := a.Authorize(t.Context(), Request{Token: tok})
	want := Decision{Allowed: true, Source: SourceToken, TokenHash: TokenHash("04A1B2C3"), IssuerKeyID: "k1", TokenID: "once-1",
		Group: "fleet", Limits: Limits{MaxEnergyWh: 5000, MaxDurationS: 1800}}
	if d != want {
		t.Fatalf("first use = %+v\nwant %+v", d, want)
	}
	if d := a.Authorize(t.Context(), Request{Token: tok}); d.Allowed || d.Reason != "replayed" {
		t.Fatalf("second use = %+v, want replayed", d)
	}
	// The box restarts: the ID is still remembered.
	b := newAuthorizer(t, dir, cfg)
	if d := b.Authorize(t.Context(), Request{Token: tok}); d.Allowed || d.Reason != "replayed" || d.IssuerKeyID != "k1" {
		t.Fatalf("after reopen = %+v, want replayed", d)
	}
	// The same jti under another issuer key is another token.
	cfg2 := cfg
	cfg2.Issuers = map[string]ed25519.PublicKey{"k1": k1.Public().(ed25519.PublicKey), "k2": k2.Public().(ed25519.PublicKey)}
	c := newAuthorizer(t, dir, cfg2)
	tok2, _ := Issue(k2, "k2", Claims{Subject: "04A1B2C3", Expiry: clk.t.Add(time.Hour).Unix(), ID: "once-1", SingleUse: true})
	if d := c.Authorize(t.Context(), Request{Token: tok2}); !d.Allowed {
		t.Fatalf("same jti, other issuer = %+v", d)
	}
	// After expiry the remembered IDs are pruned at the next write.
	clk.t = clk.t.Add(2 * time.Hour)
	tok3, _ := Issue(k1, "k1", Claims{Subject: "X", Expiry: clk.t.Add(time.Hour).Unix(), ID: "once-2", SingleUse: true})
	if d := c.Authorize(t.Context(), Request{Token: tok3}); !d.Allowed {
		t.Fatalf("fresh token = %+v", d)
	}
	b2, err := os.ReadFile(filepath.Join(dir, "used-tokens.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b2), "once-1") || !strings.Contains(string(b2), "k1/once-2") {
		t.Errorf("used-tokens.json = %s, want only k1/once-2", b2)
	}
}

func TestTokenChecksInAuthorizer(t *testing.T) {
	clk := &clock{time.Unix(1780000000, 0)}
	a := newAuthorizer(t, t.TempDir(), Config{Policy: DefaultPolicy(), Now: clk.now})
	exp := clk.t.Add(time.Hour).Unix()
	tok, _ := Issue(k1, "k1", Claims{Subject: "CARD-1", Expiry: exp})
	if d := a.Authorize(t.Context(), Request{IDToken: "CARD-2", Token: tok}); d.Reason != "wrong_id_token" {
		t.Errorf("token for another card = %+v", d)
	}
	if d := a.Authorize(t.Context(), Request{IDToken: "CARD-1", Token: tok}); !d.Allowed {
		t.Errorf("token with its card = %+v", d)
	}
	expired, _ := Issue(k1, "k1", Claims{Subject: "CARD-1", Expiry: clk.t.Add(-time.Hour).Unix()})
	if d := a.Authorize(t.Context(), Request{Token: expired}); d.Allowed || d.Reason != "expired" || d.IssuerKeyID != "k1" || d.Source != SourceToken {
		t.Errorf("expired = %+v", d)
	}
	foreign, _ := Issue(kx, "kx", Claims{Subject: "CARD-1", Expiry: exp})
	if d := a.Authorize(t.Context(), Request{Token: foreign}); d.Reason != "unknown_issuer" {
		t.Errorf("foreign = %+v", d)
	}
	wrong, _ := Issue(k1, "k1", Claims{Subject: "CARD-1", Expiry: exp, EVSEs: []string{"DE*CGT*E0009*1"}})
	if d := a.Authorize(t.Context(), Request{Token: wrong}); d.Reason != "wrong_evse" {
		t.Errorf("wrong EVSE = %+v", d)
	}

	// A holder-key token: the presenter signs the box's challenge.
	holder := seedKey(0xc0)
	hk := base64.RawURLEncoding.EncodeToString(holder.Public().(ed25519.PublicKey))
	htok, _ := Issue(k1, "k1", Claims{HolderKey: hk, Expiry: exp})
	nonce := []byte("box nonce 1")
	proof := ed25519.Sign(holder, HolderChallenge(htok, nonce))
	if d := a.Authorize(t.Context(), Request{Token: htok, HolderNonce: nonce, HolderProof: proof}); !d.Allowed || d.TokenHash != TokenHash(hk) {
		t.Errorf("holder proof = %+v", d)
	}
	if d := a.Authorize(t.Context(), Request{Token: htok, HolderNonce: []byte("other nonce"), HolderProof: proof}); d.Reason != "bad_holder_proof" {
		t.Errorf("proof for another nonce = %+v", d)
	}
	if d := a.Authorize(t.Context(), Request{Token: htok}); d.Reason != "bad_holder_proof" {
		t.Errorf("no proof = %+v", d)
	}
	if d := a.Authorize(t.Context(), Request{}); d.Allowed || d.Reason != ReasonEmpty {
		t.Errorf("empty request = %+v", d)
	}
}

// TestOfflinePolicy is the policy table: which source decides for which token, link state and policy.
func TestOfflinePolicy(t *testing.T) {
	now := time.Unix(1780000000, 0)
	tok, _ := Issue(k1, "k1", Claims{Subject: "TOK", Expiry: now.Add(time.Hour).Unix()})
	all := DefaultPolicy()
	none := Policy{}
	unknownOK := Policy{OfflineUnknown: true}
	type link int
	const (
		up link = iota
		down
		hangs
		absent
	)
	tests := []struct {
		name    string
		link    link
		policy  Policy
		req     Request
		allowed bool
		source  Source
		reason  string
	}{
		{"listed, online", up, none, Request{IDToken: "LISTED"}, true, SourceLocalList, ""},
		{"listed, offline, list counts", down, all, Request{IDToken: "LISTED"}, true, SourceLocalList, ""},
		{"listed, offline, list does not count", down, none, Request{IDToken: "LISTED"}, false, SourceNone, ReasonNotOffline},
		{"listed, no online check configured", absent, all, Request{IDToken: "LISTED"}, true, SourceLocalList, ""},
		{"cached, online", up, none, Request{IDToken: "CACHED"}, true, SourceCache, ""},
		{"cached, offline, cache counts", down, all, Request{IDToken: "CACHED"}, true, SourceCache, ""},
		{"cached, offline, cache does not count", down, none, Request{IDToken: "CACHED"}, false, SourceNone, ReasonNotOffline},
		{"cached refusal", up, all, Request{IDToken: "BLOCKED"}, false, SourceCache, "Blocked"},
		{"known online", up, none, Request{IDToken: "CENTRAL"}, true, SourceOnline, ""},
		{"unknown online", up, unknownOK, Request{IDToken: "NOBODY"}, false, SourceOnline, "Invalid"},
		{"unknown offline", down, all, Request{IDToken: "NOBODY"}, false, SourceNone, ReasonOffline},
		{"unknown offline, free vend", down, unknownOK, Request{IDToken: "NOBODY"}, true, SourceOfflineUnknown, ""},
		{"online check times out", hangs, all, Request{IDToken: "CENTRAL"}, false, SourceNone, ReasonOffline},
		{"online check times out, free vend", hangs, unknownOK, Request{IDToken: "CENTRAL"}, true, SourceOfflineUnknown, ""},
		{"token online", up, none, Request{Token: tok}, true, SourceToken, ""},
		{"token offline, tokens count", down, all, Request{Token: tok}, true, SourceToken, ""},
		{"token offline, tokens do not count", down, none, Request{Token: tok}, false, SourceToken, ReasonNotOffline},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &central{up: tt.link == up || tt.link == hangs, hang: tt.link == hangs,
				known: map[string]OnlineResult{"CENTRAL": {Allowed: true, Group: "g"}}}
			pol := tt.policy
			pol.OnlineTimeout = 50 * time.Millisecond
			cfg := Config{Policy: pol, Now: func() time.Time { return now }, Online: c}
			if tt.link == absent {
				cfg.Online = nil
			}
			a := newAuthorizer(t, t.TempDir(), cfg)
			if err := a.AllowList().Put(ListEntry{IDToken: "LISTED", Group: "staff"}); err != nil {
				t.Fatal(err)
			}
			if err := a.cache.Put(TokenHash("CACHED"), CacheEntry{Allowed: true, Expires: now.Add(time.Hour)}, now); err != nil {
				t.Fatal(err)
			}
			if err := a.cache.Put(TokenHash("BLOCKED"), CacheEntry{Reason: "Blocked", Expires: now.Add(time.Hour)}, now); err != nil {
				t.Fatal(err)
			}
			d := a.Authorize(t.Context(), tt.req)
			if d.Allowed != tt.allowed || d.Source != tt.source || d.Reason != tt.reason {
				t.Errorf("Authorize = %+v, want allowed=%v source=%s reason=%q", d, tt.allowed, tt.source, tt.reason)
			}
			if tt.req.IDToken != "" && d.TokenHash != TokenHash(tt.req.IDToken) {
				t.Errorf("TokenHash = %s", d.TokenHash)
			}
		})
	}
}

func TestOnlineAnswerIsCached(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{time.Unix(1780000000, 0)}
	c := &central{up: true, known: map[string]OnlineResult{"CARD": {Allowed: true, Group: "fleet", CacheUntil: clk.t.Add(time.Hour)}}}
	a := newAuthorizer(t, dir, Config{Policy: DefaultPolicy(), Now: clk.now, Online: c})
	if d := a.Authorize(t.Context(), Request{IDToken: "CARD"}); d.Source != SourceOnline || !d.Allowed || d.Group != "fleet" {
		t.Fatalf("first = %+v", d)
	}
	c.up = false
	b := newAuthorizer(t, dir, Config{Policy: DefaultPolicy(), Now: clk.now, Online: c}) // after a restart
	if d := b.Authorize(t.Context(), Request{IDToken: "CARD"}); d.Source != SourceCache || !d.Allowed || d.Group != "fleet" {
		t.Fatalf("offline after restart = %+v", d)
	}
	clk.t = clk.t.Add(time.Hour)
	if d := b.Authorize(t.Context(), Request{IDToken: "CARD"}); d.Allowed || d.Reason != ReasonOffline {
		t.Fatalf("after the cache entry expired = %+v", d)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "auth-cache.json")); strings.Contains(string(b), "CARD") {
		t.Errorf("the cache holds the id_token in clear: %s", b)
	}
}

func TestAllowListPersisted(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "list.json")
	l, err := OpenAllowList(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []ListEntry{{IDToken: "B", Group: "fleet"}, {IDToken: "A", Group: "staff", Note: "caretaker"}, {IDToken: "C", Group: "fleet"}} {
		if err := l.Put(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Put(ListEntry{IDToken: "B", Group: "staff"}); err != nil { // replaces
		t.Fatal(err)
	}
	if ok, err := l.Remove("C"); !ok || err != nil {
		t.Fatalf("Remove = %v, %v", ok, err)
	}
	if ok, _ := l.Remove("C"); ok {
		t.Error("removed C twice")
	}
	l2, err := OpenAllowList(path)
	if err != nil {
		t.Fatal(err)
	}
	got := l2.List("")
	if len(got) != 2 || got[0].IDToken != "A" || got[1].IDToken != "B" || got[1].Group != "staff" || got[0].Note != "caretaker" {
		t.Errorf("reopened list = %+v", got)
	}
	if g := l2.List("staff"); len(g) != 2 {
		t.Errorf("group staff = %+v", g)
	}
	if g := l2.List("fleet"); len(g) != 0 {
		t.Errorf("group fleet = %+v", g)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, %v", st.Mode(), err)
	}
	now := time.Now()
	if err := l2.Put(ListEntry{IDToken: "OLD", Expires: now.Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	if _, ok := l2.Lookup("OLD", now); ok {
		t.Error("expired entry found")
	}
	if err := l2.Put(ListEntry{}); err == nil {
		t.Error("entry without id_token accepted")
	}
	// A damaged file is an error naming it, not an empty list.
	os.WriteFile(path, []byte(`{"version":1,"entries":[`), 0o600)
	if _, err := OpenAllowList(path); err == nil || !strings.Contains(err.Error(), "list.json") {
		t.Errorf("damaged list: %v", err)
	}
	os.WriteFile(path, []byte(`{"version":2}`), 0o600)
	if _, err := OpenAllowList(path); err == nil {
		t.Error("version 2 accepted")
	}
	// No temporary files are left behind.
	if m, _ := filepath.Glob(filepath.Join(dir, ".list.json.*")); len(m) != 0 {
		t.Errorf("left behind: %v", m)
	}
}

func TestCacheBounded(t *testing.T) {
	now := time.Unix(1780000000, 0)
	c, err := OpenCache(filepath.Join(t.TempDir(), "c.json"), 3)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := c.Put(string(rune('a'+i)), CacheEntry{Allowed: true, Expires: now.Add(time.Duration(i+1) * time.Hour)}, now); err != nil {
			t.Fatal(err)
		}
	}
	for k, want := range map[string]bool{"a": false, "b": false, "c": true, "d": true, "e": true} {
		if _, ok := c.Get(k, now); ok != want {
			t.Errorf("Get(%s) = %v, want %v", k, ok, want)
		}
	}
}

func TestMayStop(t *testing.T) {
	a := newAuthorizer(t, t.TempDir(), Config{Policy: DefaultPolicy()})
	a.AllowList().Put(ListEntry{IDToken: "MATE", Group: "fleet"})
	a.AllowList().Put(ListEntry{IDToken: "STRANGER", Group: "other"})
	s := TokenHash("OWNER")
	for _, tt := range []struct {
		name    string
		group   string
		stopper Stopper
		want    bool
	}{
		{"operator", "fleet", Stopper{Operator: true}, true},
		{"same token", "fleet", Stopper{IDToken: "OWNER"}, true},
		{"same token, no group", "", Stopper{IDToken: "OWNER"}, true},
		{"group mate from the list", "fleet", Stopper{IDToken: "MATE"}, true},
		{"group mate from a token", "fleet", Stopper{IDToken: "X", Group: "fleet"}, true},
		{"other group", "fleet", Stopper{IDToken: "STRANGER"}, false},
		{"unknown token", "fleet", Stopper{IDToken: "NOBODY"}, false},
		{"session without group", "", Stopper{IDToken: "MATE"}, false},
		{"nobody", "fleet", Stopper{}, false},
	} {
		if got := a.MayStop(s, tt.group, tt.stopper); got != tt.want {
			t.Errorf("%s: MayStop = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestDecisionDetail(t *testing.T) {
	d := Decision{Allowed: true, Source: SourceToken, TokenHash: TokenHash("04A1B2C3"), IssuerKeyID: "k1", TokenID: "t 1",
		Group: strings.Repeat("g", 300), Limits: Limits{MaxEnergyWh: 20000, MaxDurationS: 7200, MaxPowerW: 11000}}
	got := d.Detail()
	want := "auth=token tok=" + TokenHash("04A1B2C3") + " kid=k1 jti=t_1 grp=" + strings.Repeat("g", 64) + " max_wh=20000 max_s=7200 max_w=11000"
	if got != want {
		t.Errorf("Detail = %q\nwant     %q", got, want)
	}
	r := Decision{Source: SourceNone, TokenHash: TokenHash("X"), Reason: ReasonOffline}.Detail()
	if !strings.HasSuffix(r, " refused=offline") {
		t.Errorf("refusal detail = %q", r)
	}
	if len(got) > 1024 {
		t.Errorf("detail is %d bytes", len(got))
	}
}

func TestOnlineTimeoutHonoursCallerContext(t *testing.T) {
	c := &central{up: true, hang: true}
	a := newAuthorizer(t, t.TempDir(), Config{Policy: Policy{OnlineTimeout: time.Hour}, Online: c})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if d := a.Authorize(ctx, Request{IDToken: "A"}); d.Allowed || d.Reason != ReasonOffline {
		t.Errorf("cancelled = %+v", d)
	}
	if c.checks != 1 {
		t.Errorf("checks = %d", c.checks)
	}
}

func TestSingleUseConcurrentAndRelease(t *testing.T) {
	dir := t.TempDir()
	now := time.Unix(1780000000, 0)
	cfg := Config{Policy: DefaultPolicy(), Now: func() time.Time { return now }}
	a := newAuthorizer(t, dir, cfg)
	tok, _ := Issue(k1, "k1", Claims{Subject: "A", Expiry: now.Add(time.Hour).Unix(), ID: "j", SingleUse: true})
	var wg sync.WaitGroup
	results := make(chan Decision, 8)
	for range 8 {
		wg.Go(func() { results <- a.Authorize(t.Context(), Request{Token: tok}) })
	}
	wg.Wait()
	close(results)
	var won Decision
	allowed := 0
	for d := range results {
		if d.Allowed {
			allowed++
			won = d
		} else if d.Reason != "replayed" {
			t.Errorf("loser = %+v", d)
		}
	}
	if allowed != 1 {
		t.Fatalf("%d of 8 concurrent uses allowed, want 1", allowed)
	}
	// The session did not begin: the token is given back, also across a reopen.
	if err := a.Release(won); err != nil {
		t.Fatal(err)
	}
	b := newAuthorizer(t, dir, cfg)
	if d := b.Authorize(t.Context(), Request{Token: tok}); !d.Allowed {
		t.Fatalf("after Release = %+v", d)
	}
	if d := b.Authorize(t.Context(), Request{Token: tok}); d.Reason != "replayed" {
		t.Fatalf("reuse after Release = %+v", d)
	}
	if err := b.Release(Decision{Allowed: true, Source: SourceLocalList}); err != nil {
		t.Errorf("Release of a list decision: %v", err)
	}
}
