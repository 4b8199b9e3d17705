package access

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"
)

// Source says which source decided.
type Source string

// The sources, in the order the Authorizer consults them.
const (
	SourceLocalList Source = "local_list"
	SourceCache     Source = "cache"
	SourceOnline    Source = "online"
	SourceToken     Source = "token"
	// SourceOfflineUnknown is an unknown id_token let through offline by Policy.OfflineUnknown.
	SourceOfflineUnknown Source = "offline_unknown"
	// SourceOperator is an id_token the operator's own start command carried (MQTT start without
	// a capability token): the operator decided, the box only records it.
	SourceOperator Source = "operator"
	// SourceNone is a refusal no source decided (unknown, offline).
	SourceNone Source = "none"
)

// Refusal reasons that are not token errors.
const (
	ReasonUnknown      = "unknown"        // no source knows the id_token (online or not asked)
	ReasonOffline      = "offline"        // unknown offline, and the policy refuses unknown tokens
	ReasonNotOffline   = "not_offline"    // the source that knows it does not count offline
	ReasonOnlineRefuse = "online_refused" // the online check refused without a reason
	ReasonEmpty        = "empty"          // nothing presented
	ReasonStore        = "store_error"    // the single-use record could not be saved
)

// Decision is the answer to one authorization request: what the session-begin entry records.
type Decision struct {
	// Allowed says whether a session may start.
	Allowed bool
	// Source is the source that decided.
	Source Source
	// TokenHash is the hex SHA-256 of the id_token (of the holder key for a token naming none).
	TokenHash string
	// IssuerKeyID is the key ID of the token's issuer (SourceToken only).
	IssuerKeyID string
	// TokenID is the token's jti (SourceToken only).
	TokenID string
	// Group is the id_token's group.
	Group string
	// Limits bound the session (zero fields: no limit).
	Limits Limits
	// Reason is the refusal reason code ("" when allowed).
	Reason string
}

// Detail renders d as the ledger Detail of a session-begin or refusal entry: space-separated
// key=value pairs, at most about 200 bytes (doc.go, "Decision detail").
func (d Decision) Detail() string {
	var b strings.Builder
	fmt.Fprintf(&b, "auth=%s tok=%s", d.Source, d.TokenHash)
	if d.IssuerKeyID != "" {
		fmt.Fprintf(&b, " kid=%s", clip(d.IssuerKeyID))
	}
	if d.TokenID != "" {
		fmt.Fprintf(&b, " jti=%s", clip(d.TokenID))
	}
	if d.Group != "" {
		fmt.Fprintf(&b, " grp=%s", clip(d.Group))
	}
	if d.Limits.MaxEnergyWh > 0 {
		fmt.Fprintf(&b, " max_wh=%d", d.Limits.MaxEnergyWh)
	}
	if d.Limits.MaxDurationS > 0 {
		fmt.Fprintf(&b, " max_s=%d", d.Limits.MaxDurationS)
	}
	if d.Limits.MaxPowerW > 0 {
		fmt.Fprintf(&b, " max_w=%d", d.Limits.MaxPowerW)
	}
	if !d.Allowed {
		fmt.Fprintf(&b, " refused=%s", d.Reason)
	}
	return b.String()
}

// clip keeps a free-text value to 64 bytes without spaces so Detail stays parseable and short.
func clip(s string) string {
	s = strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f {
			return '_'
		}
		return r
	}, s)
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

// OnlineResult is the answer of an online check.
type OnlineResult struct {
	// Allowed is the answer.
	Allowed bool
	// Group is the token's group (OCPP parentIdTag).
	Group string
	// Reason is the refusal reason (OCPP status: Blocked, Expired, Invalid).
	Reason string
	// CacheUntil is how long the answer may be cached (zero: Policy.CacheFor).
	CacheUntil time.Time
}

// OnlineChecker asks a central system (OCPP Authorize, MQTT authorize) about an id_token.
type OnlineChecker interface {
	// Available reports, without I/O, whether the link is up now.
	Available() bool
	// Check asks about idToken. It must honour ctx's deadline; any error (timeout, link down)
	// makes the Authorizer treat the box as offline for this request.
	Check(ctx context.Context, idToken string) (OnlineResult, error)
}

// Policy says which sources count, and how long online answers are cached.
type Policy struct {
	// OfflineAllowList lets the local allow-list authorize while offline.
	OfflineAllowList bool
	// OfflineCache lets cached online answers authorize while offline.
	OfflineCache bool
	// OfflineTokens lets signed capability tokens authorize while offline.
	OfflineTokens bool
	// OfflineUnknown lets any unknown id_token charge while offline (free vend when offline).
	OfflineUnknown bool
	// OnlineTimeout bounds the online check (0: 3 s).
	OnlineTimeout time.Duration
	// CacheFor is how long an online answer is cached when it does not say (0: 24 h).
	CacheFor time.Duration
}

// DefaultPolicy counts the allow-list, the cache and tokens offline and refuses unknown tokens.
func DefaultPolicy() Policy {
	return Policy{OfflineAllowList: true, OfflineCache: true, OfflineTokens: true}
}

// Config is what an Authorizer needs.
type Config struct {
	// Dir holds the files allow-list.json, auth-cache.json and used-tokens.json (doc.go, "Files").
	Dir string
	// AllowListPath overrides Dir/allow-list.json.
	AllowListPath string
	// Issuers are the trusted token issuer keys by key ID.
	Issuers map[string]ed25519.PublicKey
	// EVSEID is this EVSE's ID; EVSEGroups the groups it belongs to.
	EVSEID     string
	EVSEGroups []string
	// Policy is the offline policy.
	Policy Policy
	// Online is the online check (nil: always offline).
	Online OnlineChecker
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Log receives one line per decision (nil: discarded).
	Log *slog.Logger
}

// Request is one attempt to start a session.
type Request struct {
	// IDToken is the presented id_token (RFID UID, eMAID, MQTT id_token).
	IDToken string
	// Token is a presented capability token (compact JWS), if any. With both set, the token's
	// subject must be IDToken.
	Token string
	// HolderNonce and HolderProof prove possession of the token's holder key: HolderProof is the
	// Ed25519 signature of HolderChallenge(Token, HolderNonce). The caller chose the nonce fresh.
	HolderNonce []byte
	HolderProof []byte
}

// Authorizer decides who may charge: one decision path for every channel (MQTT, OCPP, the local
// UI, RFID). It is safe for concurrent use.
type Authorizer struct {
	cfg      Config
	verifier *Verifier
	list     *AllowList
	cache    *Cache
	used     *usedTokens
	now      func() time.Time
	log      *slog.Logger
}

// New opens the access state in cfg.Dir and returns an Authorizer.
func New(cfg Config) (*Authorizer, error) {
	if cfg.Dir == "" {
		return nil, errors.New("access: no state directory")
	}
	listPath := cfg.AllowListPath
	if listPath == "" {
		listPath = filepath.Join(cfg.Dir, "allow-list.json")
	}
	list, err := OpenAllowList(listPath)
	if err != nil {
		return nil, fmt.Errorf("open allow-list: %w", err)
	}
	cache, err := OpenCache(filepath.Join(cfg.Dir, "auth-cache.json"), 0)
	if err != nil {
		return nil, fmt.Errorf("open authorization cache: %w", err)
	}
	used, err := openUsedTokens(filepath.Join(cfg.Dir, "used-tokens.json"))
	if err != nil {
		return nil, fmt.Errorf("open used token IDs: %w", err)
	}
	if cfg.Policy.OnlineTimeout <= 0 {
		cfg.Policy.OnlineTimeout = 3 * time.Second
	}
	if cfg.Policy.CacheFor <= 0 {
		cfg.Policy.CacheFor = 24 * time.Hour
	}
	a := &Authorizer{cfg: cfg, verifier: NewVerifier(cfg.Issuers), list: list, cache: cache, used: used,
		now: cfg.Now, log: cfg.Log}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	return a, nil
}

// AllowList returns the operator's allow-list (add, remove, list).
func (a *Authorizer) AllowList() *AllowList { return a.list }

// Authorize decides req. A presented capability token is checked alone; an id_token goes through
// the allow-list, the cache and the online check, in that order. The online check is the only
// I/O that may wait, for at most Policy.OnlineTimeout.
func (a *Authorizer) Authorize(ctx context.Context, req Request) Decision {
	d := a.authorize(ctx, req)
	a.log.Info("authorization", "allowed", d.Allowed, "source", string(d.Source), "token_hash", d.TokenHash,
		"kid", d.IssuerKeyID, "reason", d.Reason)
	return d
}

func (a *Authorizer) authorize(ctx context.Context, req Request) Decision {
	now := a.now()
	if req.Token != "" {
		return a.authorizeToken(req, now)
	}
	if req.IDToken == "" {
		return Decision{Source: SourceNone, Reason: ReasonEmpty}
	}
	hash := TokenHash(req.IDToken)
	online := a.cfg.Online != nil && a.cfg.Online.Available()
	pol := a.cfg.Policy
	notOffline := false // a source knew the token but does not count offline
	if e, ok := a.list.Lookup(req.IDToken, now); ok {
		if !e.Accepted() {
			// A blocked token is refused whatever the link: the list knows better than a cache.
			return Decision{Source: SourceLocalList, TokenHash: hash, Group: e.Group, Reason: strings.ToLower(e.Status)}
		}
		if online || pol.OfflineAllowList {
			return Decision{Allowed: true, Source: SourceLocalList, TokenHash: hash, Group: e.Group, Limits: e.Limits}
		}
		notOffline = true
	}
	if e, ok := a.cache.Get(hash, now); ok {
		if online || pol.OfflineCache {
			d := Decision{Allowed: e.Allowed, Source: SourceCache, TokenHash: hash, Group: e.Group}
			if !e.Allowed {
				d.Reason = orDefault(e.Reason, ReasonOnlineRefuse)
			}
			return d
		}
		notOffline = true
	}
	if online {
		cctx, cancel := context.WithTimeout(ctx, pol.OnlineTimeout)
		res, err := a.cfg.Online.Check(cctx, req.IDToken)
		cancel()
		if err == nil {
			until := res.CacheUntil
			if until.IsZero() {
				until = now.Add(pol.CacheFor)
			}
			if err := a.cache.Put(hash, CacheEntry{Allowed: res.Allowed, Group: res.Group, Reason: res.Reason, Expires: until}, now); err != nil {
				a.log.Warn("cache online answer", "err", err)
			}
			d := Decision{Allowed: res.Allowed, Source: SourceOnline, TokenHash: hash, Group: res.Group}
			if !res.Allowed {
				d.Reason = orDefault(res.Reason, ReasonOnlineRefuse)
			}
			return d
		}
		// Neither the allow-list nor the cache knows the token (they would have answered while
		// online), so the box decides about an unknown token offline.
		a.log.Warn("online check failed; deciding offline", "err", err)
	}
	if notOffline {
		return Decision{Source: SourceNone, TokenHash: hash, Reason: ReasonNotOffline}
	}
	if pol.OfflineUnknown {
		return Decision{Allowed: true, Source: SourceOfflineUnknown, TokenHash: hash}
	}
	return Decision{Source: SourceNone, TokenHash: hash, Reason: ReasonOffline}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (a *Authorizer) authorizeToken(req Request, now time.Time) Decision {
	refuse := func(v Verified, hash string, err error) Decision {
		return Decision{Source: SourceToken, TokenHash: hash, IssuerKeyID: v.KeyID, TokenID: v.Claims.ID, Reason: Reason(err)}
	}
	online := a.cfg.Online != nil && a.cfg.Online.Available()
	v, err := a.verifier.Verify(req.Token, now, Where{EVSEID: a.cfg.EVSEID, Groups: a.cfg.EVSEGroups})
	c := v.Claims
	hash := TokenHash(c.Subject)
	if c.Subject == "" {
		hash = TokenHash(c.HolderKey)
	}
	if err != nil {
		return refuse(v, hash, err)
	}
	if !online && !a.cfg.Policy.OfflineTokens {
		d := refuse(v, hash, nil)
		d.Reason = ReasonNotOffline
		return d
	}
	if req.IDToken != "" && c.Subject != req.IDToken {
		return refuse(v, hash, ErrWrongIDToken)
	}
	if c.HolderKey != "" {
		k, _ := base64.RawURLEncoding.DecodeString(c.HolderKey) // checked by Verify
		if len(req.HolderNonce) == 0 || !ed25519.Verify(k, HolderChallenge(req.Token, req.HolderNonce), req.HolderProof) {
			return refuse(v, hash, ErrHolderProof)
		}
	}
	if c.SingleUse {
		if err := a.used.use(v.KeyID, c.ID, c.Expiry, now); err != nil {
			d := refuse(v, hash, err)
			if !errors.Is(err, ErrReplayed) {
				a.log.Error("record single-use token", "err", err)
				d.Reason = ReasonStore
			}
			return d
		}
	}
	return Decision{Allowed: true, Source: SourceToken, TokenHash: hash, IssuerKeyID: v.KeyID, TokenID: c.ID,
		Group: c.Group, Limits: c.Limits}
}

// Stopper is who asks to stop a session.
type Stopper struct {
	// Operator is the operator (MQTT stop, OCPP RemoteStop, the local UI's operator login).
	Operator bool
	// IDToken is the presented id_token of a driver.
	IDToken string
	// Group is the presenter's group when the caller already knows it (from a token); otherwise
	// the allow-list and the cache are asked.
	Group string
}

// MayStop reports whether s may stop a session authorized as (sessionTokenHash, sessionGroup):
// only the operator, the same token, or a token of the same non-empty group.
func (a *Authorizer) MayStop(sessionTokenHash, sessionGroup string, s Stopper) bool {
	if s.Operator {
		return true
	}
	if s.IDToken == "" {
		return false
	}
	if TokenHash(s.IDToken) == sessionTokenHash {
		return true
	}
	if sessionGroup == "" {
		return false
	}
	group := s.Group
	if group == "" {
		now := a.now()
		if e, ok := a.list.Lookup(s.IDToken, now); ok && e.Accepted() {
			group = e.Group
		} else if e, ok := a.cache.Get(TokenHash(s.IDToken), now); ok && e.Allowed {
			group = e.Group
		}
	}
	return group == sessionGroup
}

// Release gives back a single-use token whose session never began (the relay did not close, the
// begin entry could not be written), so the driver can present it again. Call it only when no
// session-begin entry names the decision; other decisions are left alone.
func (a *Authorizer) Release(d Decision) error {
	if !d.Allowed || d.Source != SourceToken || d.TokenID == "" {
		return nil
	}
	return a.used.release(d.IssuerKeyID, d.TokenID)
}
