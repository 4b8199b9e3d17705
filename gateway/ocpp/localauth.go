package ocpp

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/chargegate/chargegate/gateway"
)

// Local authorization (OCPP 1.6 §3.5): the Local Authorization List the CSMS sends
// (SendLocalList) and the cache of the idTagInfo the CSMS returned (Authorize.conf,
// StartTransaction.conf), both in ocpp.db, consulted per the keys LocalAuthListEnabled,
// AuthorizationCacheEnabled, LocalPreAuthorize, LocalAuthorizeOffline and
// AllowOfflineTxForUnknownId.

// localListVersionKey stores the Local Authorization List's version in the config table.
const localListVersionKey = "chargegate:local_list_version"

// Limits published as LocalAuthListMaxLength and SendLocalListMaxLength.
const (
	localListMax = 1000
	sendListMax  = 100
)

// ErrNotAuthorized is returned by StartLocal and StopLocal when the idTag may not start or
// stop; the error text names the AuthorizationStatus or the rule.
var ErrNotAuthorized = errors.New("idTag not authorized")

// ErrOffline is returned by Authorize when the CSMS is unreachable and no local rule decides.
var ErrOffline = errors.New("the CSMS is not connected and the idTag is not authorized locally")

const timeLayout = time.RFC3339Nano

// lookupAuth returns the entry of idTag in table (local_list or auth_cache).
func (q *Queue) lookupAuth(ctx context.Context, table, idTag string) (idTagInfo, bool, error) {
	var info idTagInfo
	var expiry string
	err := q.db.QueryRowContext(ctx, `SELECT status, expiry, parent_id_tag FROM `+table+` WHERE id_tag = ?`, idTag).
		Scan(&info.Status, &expiry, &info.ParentIDTag)
	if errors.Is(err, sql.ErrNoRows) {
		return info, false, nil
	}
	if err != nil {
		return info, false, fmt.Errorf("look up %s in %s: %w", idTag, table, err)
	}
	if expiry != "" {
		if t, err := time.Parse(timeLayout, expiry); err == nil {
			info.ExpiryDate = &Time{t}
		}
	}
	return info, true, nil
}

func upsertAuth(ctx context.Context, ex interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, table, idTag string, info idTagInfo) error {
	_, err := ex.ExecContext(ctx, `INSERT INTO `+table+`(id_tag, status, expiry, parent_id_tag) VALUES(?, ?, ?, ?)
		ON CONFLICT(id_tag) DO UPDATE SET status = excluded.status, expiry = excluded.expiry, parent_id_tag = excluded.parent_id_tag`,
		idTag, info.Status, info.expiryText(), info.ParentIDTag)
	if err != nil {
		return fmt.Errorf("store %s in %s: %w", idTag, table, err)
	}
	return nil
}

// expiryText is the expiry column's value: UTC in timeLayout, "" without an expiry.
func (i idTagInfo) expiryText() string {
	if i.ExpiryDate == nil {
		return ""
	}
	return i.ExpiryDate.UTC().Format(timeLayout)
}

// cacheAuth stores idTagInfo from the CSMS in the authorization cache, used at now.
func (q *Queue) cacheAuth(ctx context.Context, idTag string, info idTagInfo, now time.Time) error {
	_, err := q.db.ExecContext(ctx, `INSERT INTO auth_cache(id_tag, status, expiry, parent_id_tag, used_at) VALUES(?, ?, ?, ?, ?)
		ON CONFLICT(id_tag) DO UPDATE SET status = excluded.status, expiry = excluded.expiry, parent_id_tag = excluded.parent_id_tag,
		used_at = excluded.used_at`, idTag, info.Status, info.expiryText(), info.ParentIDTag, now.UnixMilli())
	if err != nil {
		return fmt.Errorf("store %s in auth_cache: %w", idTag, err)
	}
	return nil
}

// useCached reports whether idTag's cache entry was stored or used within lifetime before now
// (OCPP 2.0.1 AuthCacheCtrlr.LifeTime: "since it is last used"), and if so marks it used now.
func (q *Queue) useCached(ctx context.Context, idTag string, lifetime time.Duration, now time.Time) (bool, error) {
	res, err := q.db.ExecContext(ctx, `UPDATE auth_cache SET used_at = ? WHERE id_tag = ? AND used_at >= ?`,
		now.UnixMilli(), idTag, now.Add(-lifetime).UnixMilli())
	if err != nil {
		return false, fmt.Errorf("use %s from auth_cache: %w", idTag, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// clearCache empties the authorization cache (ClearCache).
func (q *Queue) clearCache(ctx context.Context) error {
	if _, err := q.db.ExecContext(ctx, `DELETE FROM auth_cache`); err != nil {
		return fmt.Errorf("clear the authorization cache: %w", err)
	}
	return nil
}

// localListVersion returns the Local Authorization List's version, 0 when none was sent.
func (q *Queue) localListVersion(ctx context.Context) (int, error) {
	var v string
	err := q.db.QueryRowContext(ctx, `SELECT value FROM config WHERE key = ?`, localListVersionKey).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the local list version: %w", err)
	}
	n, _ := strconv.Atoi(v)
	return n, nil
}

// applyLocalList replaces (full) or updates the Local Authorization List and sets its version,
// in one transaction; it fails with errListFull when the list would exceed localListMax.
func (q *Queue) applyLocalList(ctx context.Context, version int, full bool, entries []authorizationData) error {
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("update the local list: %w", err)
	}
	defer tx.Rollback()
	if full {
		if _, err := tx.ExecContext(ctx, `DELETE FROM local_list`); err != nil {
			return fmt.Errorf("update the local list: %w", err)
		}
	}
	for _, e := range entries {
		if e.IDTagInfo == nil {
			if _, err := tx.ExecContext(ctx, `DELETE FROM local_list WHERE id_tag = ?`, e.IDTag); err != nil {
				return fmt.Errorf("update the local list: %w", err)
			}
			continue
		}
		if err := upsertAuth(ctx, tx, "local_list", e.IDTag, *e.IDTagInfo); err != nil {
			return fmt.Errorf("update the local list: %w", err)
		}
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM local_list`).Scan(&n); err != nil {
		return fmt.Errorf("update the local list: %w", err)
	}
	if n > localListMax {
		return errListFull
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO config(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
		localListVersionKey, strconv.Itoa(version)); err != nil {
		return fmt.Errorf("update the local list: %w", err)
	}
	return tx.Commit()
}

var errListFull = errors.New("the local list would exceed LocalAuthListMaxLength")

// sendLocalList answers SendLocalList (OCPP 1.6 §5.15).
func (cp *ChargePoint) sendLocalList(ctx context.Context, req sendLocalListReq) string {
	if !cp.confBool(KeyLocalAuthListEnabled) {
		return "NotSupported"
	}
	if (req.UpdateType != "Full" && req.UpdateType != "Differential") || len(req.LocalAuthorizationList) > sendListMax || req.ListVersion < 0 {
		return "Failed"
	}
	for _, e := range req.LocalAuthorizationList {
		if e.IDTag == "" || len(e.IDTag) > 20 || (req.UpdateType == "Full" && e.IDTagInfo == nil) {
			return "Failed"
		}
	}
	if req.UpdateType == "Differential" {
		cur, err := cp.localListVersion(ctx)
		if err != nil {
			cp.log.Error("send local list", "err", err)
			return "Failed"
		}
		// §5.15: a differential update not newer than the list is a VersionMismatch.
		if req.ListVersion <= cur {
			return "VersionMismatch"
		}
	}
	if err := cp.applyLocalList(ctx, req.ListVersion, req.UpdateType == "Full", req.LocalAuthorizationList); err != nil {
		cp.log.Error("send local list", "err", err)
		return "Failed"
	}
	return "Accepted"
}

// authRules are the local-authorization switches, read from the 1.6 configuration keys or
// the 2.0.1 device model: one decision (decide) for both faces.
type authRules struct {
	list, cache                  bool // LocalAuthListEnabled / AuthorizationCacheEnabled (AuthCacheCtrlr.Enabled)
	preAuthorize                 bool // LocalPreAuthorize
	offlineLocal, offlineUnknown bool // LocalAuthorizeOffline / AllowOfflineTxForUnknownId (OfflineTxForUnknownIdEnabled)
	maxLen                       int  // idTag 20 (1.6 CiString20), idToken 36 (2.0.1)
	// cacheLifetime is AuthCacheCtrlr.LifeTime (2.0.1): a cache entry not stored or used for
	// longer is not used. 0: no limit (1.6 has no such key).
	cacheLifetime time.Duration
}

// rules16 reads the rules from the 1.6 configuration keys.
func (cp *ChargePoint) rules16() authRules {
	return authRules{list: cp.confBool(KeyLocalAuthListEnabled), cache: cp.confBool(KeyAuthorizationCacheEnabled),
		preAuthorize: cp.confBool(KeyLocalPreAuthorize), offlineLocal: cp.confBool(KeyLocalAuthorizeOffline),
		offlineUnknown: cp.confBool(KeyAllowOfflineTxForUnknownID), maxLen: 20}
}

// localInfo looks idTag up in the Local Authorization List (when enabled), then in the cache
// (when enabled); an entry past its expiryDate says Expired.
func (cp *ChargePoint) localInfo(ctx context.Context, idTag string) (idTagInfo, bool) {
	return cp.lookupLocal(ctx, idTag, cp.rules16())
}

func (cp *ChargePoint) lookupLocal(ctx context.Context, idTag string, r authRules) (idTagInfo, bool) {
	for _, src := range []struct {
		table string
		on    bool
	}{{"local_list", r.list}, {"auth_cache", r.cache}} {
		if !src.on {
			continue
		}
		info, ok, err := cp.lookupAuth(ctx, src.table, idTag)
		if err == nil && ok && src.table == "auth_cache" && r.cacheLifetime > 0 {
			ok, err = cp.q.useCached(ctx, idTag, r.cacheLifetime, cp.now())
		}
		if err != nil {
			cp.log.Error("local authorization", "err", err)
			continue
		}
		if ok {
			if info.Status == "Accepted" && info.ExpiryDate != nil && info.ExpiryDate.Before(time.Now()) {
				info.Status = "Expired"
			}
			return info, true
		}
	}
	return idTagInfo{}, false
}

// remember puts idTagInfo the CSMS returned for idTag into the cache, unless the cache is off
// or idTag is on the Local Authorization List (whose entries only SendLocalList changes).
func (cp *ChargePoint) remember(ctx context.Context, idTag string, info idTagInfo) {
	cp.rememberIf(ctx, cp.confBool(KeyAuthorizationCacheEnabled), idTag, info)
}

func (cp *ChargePoint) rememberIf(ctx context.Context, cacheOn bool, idTag string, info idTagInfo) {
	if idTag == "" || !cacheOn {
		return
	}
	if _, listed, err := cp.lookupAuth(ctx, "local_list", idTag); err != nil || listed {
		return
	}
	if err := cp.q.cacheAuth(ctx, idTag, info, cp.now()); err != nil {
		cp.log.Error("authorization cache", "err", err)
	}
}

// authorize decides whether idTag may charge (OCPP 1.6 §3.5) with the 1.6 Authorize.
func (cp *ChargePoint) authorize(ctx context.Context, idTag string) (idTagInfo, error) {
	conn := cp.connection()
	return cp.decide(ctx, idTag, cp.rules16(), conn != nil, func(ctx context.Context) (idTagInfo, error) {
		return authorize16(ctx, conn, idTag)
	})
}

// authorize16 asks the CSMS with OCPP 1.6's Authorize.
func authorize16(ctx context.Context, conn *rpcConn, idTag string) (idTagInfo, error) {
	var conf authorizeConf
	err := conn.call(ctx, "", "Authorize", authorizeReq{IDTag: idTag}, &conf)
	return conf.IDTagInfo, err
}

// decide is the local-authorization decision of both faces (OCPP 1.6 §3.5, OCPP 2.0.1 C01,
// C10–C14): online, an Accepted local entry decides at once with LocalPreAuthorize, else the
// CSMS's answer (ask; cached); offline (or when the call fails for a lost connection), a local
// entry decides with LocalAuthorizeOffline and an unknown idTag is Accepted with the
// unknown-id rule.
func (cp *ChargePoint) decide(ctx context.Context, idTag string, r authRules, online bool, ask func(context.Context) (idTagInfo, error)) (idTagInfo, error) {
	if idTag == "" || len(idTag) > r.maxLen {
		return idTagInfo{}, fmt.Errorf("authorize: idTag must be 1..%d characters", r.maxLen)
	}
	local, known := cp.lookupLocal(ctx, idTag, r)
	if online {
		if known && local.Status == "Accepted" && r.preAuthorize {
			return local, nil
		}
		info, err := ask(ctx)
		if err == nil {
			cp.rememberIf(ctx, r.cache, idTag, info)
			return info, nil
		}
		var cerr *CallError
		if errors.As(err, &cerr) || ctx.Err() != nil {
			return idTagInfo{}, fmt.Errorf("authorize: %w", err)
		}
		cp.log.Warn("authorize: CSMS unreachable, deciding offline", "err", err)
	}
	switch {
	case known && r.offlineLocal:
		return local, nil
	case !known && r.offlineUnknown:
		return idTagInfo{Status: "Accepted"}, nil
	}
	return idTagInfo{}, fmt.Errorf("authorize %s: %w", idTag, ErrOffline)
}

// Authorize decides whether idTag may charge and returns its AuthorizationStatus (Accepted,
// Blocked, Expired, Invalid, ConcurrentTx): from the CSMS when connected (or from the local
// list or cache first with LocalPreAuthorize), else from the local list or cache with
// LocalAuthorizeOffline, or Accepted for an unknown idTag with AllowOfflineTxForUnknownId. It
// fails with ErrOffline when the CSMS is unreachable and no local rule decides.
func (cp *ChargePoint) Authorize(ctx context.Context, idTag string) (string, error) {
	if f := cp.face201; f != nil {
		return f.Authorize(ctx, idTag)
	}
	info, err := cp.authorize(ctx, idTag)
	return info.Status, err
}

// StartLocal starts a session for an idTag presented at the charger (an RFID reader, the local
// API): authorized as Authorize does, refused while a reservation holds the connector for
// another idTag, then started through Sessions and its StartTransaction queued. It fails with
// ErrNotAuthorized (or ErrOffline, ErrReserved) and starts nothing when the idTag may not
// charge.
func (cp *ChargePoint) StartLocal(ctx context.Context, idTag string) (string, error) {
	info, err := cp.authorize(ctx, idTag)
	if err != nil {
		return "", fmt.Errorf("start for %s: %w", idTag, err)
	}
	if info.Status != "Accepted" {
		return "", fmt.Errorf("start for %s: %w (%s)", idTag, ErrNotAuthorized, info.Status)
	}
	if err := cp.claimReservation(idTag, info.ParentIDTag); err != nil {
		return "", fmt.Errorf("start for %s: %w", idTag, err)
	}
	cp.mu.Lock()
	if cp.current != "" || cp.pendingTag != "" {
		cp.reservedStart = ""
		cp.mu.Unlock()
		return "", fmt.Errorf("start for %s: %w", idTag, gateway.ErrSessionRunning)
	}
	cp.pendingTag = idTag
	cp.mu.Unlock()
	id, err := cp.sessions.Start(ctx, idTag)
	if err != nil {
		cp.mu.Lock()
		cp.pendingTag, cp.reservedStart = "", ""
		cp.mu.Unlock()
		return "", fmt.Errorf("start for %s: %w", idTag, err)
	}
	cp.begin(id, idTag, time.Now(), cp.lastImportMWh())
	return id, nil
}

// StopLocal stops the running session for an idTag presented at the charger: only the idTag
// that started it, or one with the same parentIdTag (from the local list, the cache or the
// CSMS), may (OCPP 1.6 §3.5.1 "stopping a transaction"). The StopTransaction says Local.
func (cp *ChargePoint) StopLocal(ctx context.Context, idTag string) error {
	cp.mu.Lock()
	session, tag := cp.current, cp.currentTag
	cp.mu.Unlock()
	if session == "" {
		return fmt.Errorf("stop for %s: no transaction runs", idTag)
	}
	if idTag != tag {
		parent := func(t string) string {
			if info, ok := cp.localInfo(ctx, t); ok && info.ParentIDTag != "" {
				return info.ParentIDTag
			}
			if info, err := cp.authorize(ctx, t); err == nil {
				return info.ParentIDTag
			}
			return ""
		}
		p := parent(idTag)
		if p == "" || p != parent(tag) {
			return fmt.Errorf("stop for %s: %w (neither the idTag nor the parentIdTag of the transaction)", idTag, ErrNotAuthorized)
		}
	}
	if !cp.stopFor(ctx, session, ReasonLocal) {
		return fmt.Errorf("stop for %s: the transaction ended meanwhile", idTag)
	}
	return nil
}

// LocalList is a Local Authorization List kept outside ocpp.db: the box's own allow-list
// (gateway/access), so that SendLocalList and the operator's allow_list command manage one
// list. Hand it over with ShareLocalList before Run.
type LocalList interface {
	// LookupTag returns idTag's entry.
	LookupTag(idTag string) (LocalListEntry, bool)
	// ListVersion returns the list's version (0 before the first update).
	ListVersion() int64
	// ApplyList replaces (full) or updates the list and sets its version, saving it; an entry
	// with an empty Status is removed (a differential update without idTagInfo). On error the
	// list is unchanged.
	ApplyList(version int64, full bool, entries []LocalListEntry) error
}

// LocalListEntry is one idTag on a shared LocalList.
type LocalListEntry struct {
	IDTag  string
	Status string    // AuthorizationStatus: Accepted, Blocked, Expired, Invalid
	Expiry time.Time // zero: none
	Parent string    // parentIdTag
}

// ShareLocalList makes l the Local Authorization List: SendLocalList, GetLocalListVersion and
// local authorization use it instead of ocpp.db's local_list table.
func (cp *ChargePoint) ShareLocalList(l LocalList) {
	cp.mu.Lock()
	cp.shared = l
	cp.mu.Unlock()
}

func (cp *ChargePoint) sharedList() LocalList {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.shared
}

// lookupAuth looks idTag up in table, the local list from the shared list when there is one.
func (cp *ChargePoint) lookupAuth(ctx context.Context, table, idTag string) (idTagInfo, bool, error) {
	l := cp.sharedList()
	if table != "local_list" || l == nil {
		return cp.q.lookupAuth(ctx, table, idTag)
	}
	e, ok := l.LookupTag(idTag)
	if !ok {
		return idTagInfo{}, false, nil
	}
	info := idTagInfo{Status: e.Status, ParentIDTag: e.Parent}
	if !e.Expiry.IsZero() {
		info.ExpiryDate = &Time{e.Expiry}
	}
	return info, true, nil
}

func (cp *ChargePoint) localListVersion(ctx context.Context) (int, error) {
	if l := cp.sharedList(); l != nil {
		return int(l.ListVersion()), nil
	}
	return cp.q.localListVersion(ctx)
}

func (cp *ChargePoint) applyLocalList(ctx context.Context, version int, full bool, entries []authorizationData) error {
	l := cp.sharedList()
	if l == nil {
		return cp.q.applyLocalList(ctx, version, full, entries)
	}
	out := make([]LocalListEntry, len(entries))
	for i, e := range entries {
		out[i].IDTag = e.IDTag
		if e.IDTagInfo != nil {
			out[i].Status, out[i].Parent = e.IDTagInfo.Status, e.IDTagInfo.ParentIDTag
			if e.IDTagInfo.ExpiryDate != nil {
				out[i].Expiry = e.IDTagInfo.ExpiryDate.Time
			}
		}
	}
	return l.ApplyList(int64(version), full, out)
}
