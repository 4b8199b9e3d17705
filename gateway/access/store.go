package access

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// The three files of the access state (doc.go, "Files"). Each is one JSON document, replaced
// whole by an atomic write: a temporary file in the same directory, fsync, rename, fsync of the
// directory. A crash leaves the old or the new document, never a torn one.

// writeJSON writes v to path atomically with mode 0600.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", filepath.Base(path), err)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}

// readJSON reads path into v; a missing file leaves v as it is.
func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	return nil
}

// ListEntry is one id_token on the operator's local allow-list.
type ListEntry struct {
	// IDToken is the token as presented (RFID UID in upper-case hex, eMAID).
	IDToken string `json:"id_token"`
	// Group is the token's group (a fleet, a household): tokens of one group stop each other's sessions.
	Group string `json:"group,omitempty"`
	// Note is the operator's remark.
	Note string `json:"note,omitempty"`
	// Expires ends the entry (zero: never).
	Expires time.Time `json:"expires,omitzero"`
	// Limits bound sessions this token starts.
	Limits Limits `json:"limits,omitzero"`
	// Status is the OCPP AuthorizationStatus of the entry: "" or "Accepted" charges; "Blocked",
	// "Expired" or "Invalid" is a known token that is refused (OCPP's local list holds those).
	Status string `json:"status,omitempty"`
}

// Accepted reports whether the entry lets its token charge.
func (e ListEntry) Accepted() bool { return e.Status == "" || e.Status == "Accepted" }

// The operations of Apply (the operator's allow_list command, OCPP SendLocalList).
const (
	ListAdd     = "add"     // put the entries, replacing those of the same id_token (differential)
	ListRemove  = "remove"  // delete the entries' id_tokens (differential)
	ListReplace = "replace" // the entries become the whole list (full)
)

// MaxListEntries is the most entries the allow-list holds (OCPP's LocalAuthListMaxLength as
// the box publishes it).
const MaxListEntries = 1000

// Errors of Apply.
var (
	// ErrListVersion is an add or remove whose version is not above the list's (OCPP 1.6
	// §5.15 VersionMismatch): a change made against another state of the list.
	ErrListVersion = errors.New("list version not newer than the list's")
	// ErrListFull is a change that would leave more than MaxListEntries entries.
	ErrListFull = errors.New("the allow-list would exceed its maximum length")
)

// AllowList is the operator-managed local allow-list, persisted in one JSON file. It is safe for
// concurrent use.
type AllowList struct {
	path string
	mu   sync.Mutex
	doc  listDoc
}

type listDoc struct {
	Version int `json:"version"` // the file format's, 1
	// ListVersion is the operator's version of the list's content, set by Apply (OCPP's
	// listVersion when the list is shared with OCPP).
	ListVersion int64       `json:"list_version,omitempty"`
	Entries     []ListEntry `json:"entries"`
}

// OpenAllowList loads the list at path (a missing file is an empty list).
func OpenAllowList(path string) (*AllowList, error) {
	l := &AllowList{path: path, doc: listDoc{Version: 1}}
	if err := readJSON(path, &l.doc); err != nil {
		return nil, err
	}
	if l.doc.Version != 1 {
		return nil, fmt.Errorf("allow-list %s: version %d, want 1", path, l.doc.Version)
	}
	return l, nil
}

// Put adds e or replaces the entry of the same id_token, and saves the list.
func (l *AllowList) Put(e ListEntry) error {
	if e.IDToken == "" {
		return errors.New("allow-list entry without id_token")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	next := slices.DeleteFunc(slices.Clone(l.doc.Entries), func(x ListEntry) bool { return x.IDToken == e.IDToken })
	next = append(next, e)
	slices.SortFunc(next, func(a, b ListEntry) int { return compareStrings(a.IDToken, b.IDToken) })
	return l.save(next)
}

// Apply changes the list as op says (ListAdd, ListRemove, ListReplace) and sets its version,
// saving it before it returns. An add or remove must carry a version above the list's
// (ErrListVersion); a replace sets any version. It fails with ErrListFull beyond MaxListEntries,
// and changes nothing on any error.
func (l *AllowList) Apply(op string, version int64, entries []ListEntry) error {
	switch op {
	case ListReplace:
		return l.Update(version, true, entries, nil)
	case ListAdd:
		return l.Update(version, false, entries, nil)
	case ListRemove:
		ids := make([]string, len(entries))
		for i, e := range entries {
			ids[i] = e.IDToken
		}
		return l.Update(version, false, nil, ids)
	}
	return fmt.Errorf("unknown allow-list operation %q (add, remove, replace)", op)
}

// Update changes the list in one step and sets its version: full replaces the list by put;
// otherwise (a differential update, whose version must be above the list's) the id_tokens in
// remove are deleted and put's entries put. It is Apply's and OCPP SendLocalList's common core.
func (l *AllowList) Update(version int64, full bool, put []ListEntry, remove []string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range put {
		if e.IDToken == "" {
			return errors.New("allow-list entry without id_token")
		}
	}
	var next []ListEntry
	if full {
		next = slices.Clone(put)
	} else {
		if version <= l.doc.ListVersion {
			return fmt.Errorf("%w: %d, the list is at %d", ErrListVersion, version, l.doc.ListVersion)
		}
		next = slices.DeleteFunc(slices.Clone(l.doc.Entries), func(x ListEntry) bool {
			return slices.Contains(remove, x.IDToken) || slices.ContainsFunc(put, func(e ListEntry) bool { return e.IDToken == x.IDToken })
		})
		next = append(next, put...)
	}
	slices.SortStableFunc(next, func(a, b ListEntry) int { return compareStrings(a.IDToken, b.IDToken) })
	next = slices.CompactFunc(next, func(a, b ListEntry) bool { return a.IDToken == b.IDToken })
	if len(next) > MaxListEntries {
		return fmt.Errorf("%w: %d entries, at most %d", ErrListFull, len(next), MaxListEntries)
	}
	return l.saveVersion(next, version)
}

// Version returns the list's version (0 before the first Apply).
func (l *AllowList) Version() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.doc.ListVersion
}

// Get returns the entry of idToken, expired or not.
func (l *AllowList) Get(idToken string) (ListEntry, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.doc.Entries {
		if e.IDToken == idToken {
			return e, true
		}
	}
	return ListEntry{}, false
}

// Remove deletes the entry of idToken and saves the list; it reports whether there was one.
func (l *AllowList) Remove(idToken string) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	next := slices.DeleteFunc(slices.Clone(l.doc.Entries), func(x ListEntry) bool { return x.IDToken == idToken })
	if len(next) == len(l.doc.Entries) {
		return false, nil
	}
	return true, l.save(next)
}

// List returns the entries, by id_token; a non-empty group selects one group.
func (l *AllowList) List(group string) []ListEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []ListEntry
	for _, e := range l.doc.Entries {
		if group == "" || e.Group == group {
			out = append(out, e)
		}
	}
	return out
}

// Lookup returns the unexpired entry of idToken.
func (l *AllowList) Lookup(idToken string, now time.Time) (ListEntry, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.doc.Entries {
		if e.IDToken == idToken && (e.Expires.IsZero() || now.Before(e.Expires)) {
			return e, true
		}
	}
	return ListEntry{}, false
}

func (l *AllowList) save(entries []ListEntry) error { return l.saveVersion(entries, l.doc.ListVersion) }

func (l *AllowList) saveVersion(entries []ListEntry, version int64) error {
	doc := listDoc{Version: 1, ListVersion: version, Entries: entries}
	if err := writeJSON(l.path, doc); err != nil {
		return fmt.Errorf("save allow-list: %w", err)
	}
	l.doc = doc
	return nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// CacheEntry is a remembered online answer, keyed by token hash (the cache holds no id_token).
type CacheEntry struct {
	// Allowed is the online answer.
	Allowed bool `json:"allowed"`
	// Group is the token's group from the online answer.
	Group string `json:"group,omitempty"`
	// Reason is the online refusal reason.
	Reason string `json:"reason,omitempty"`
	// Expires ends the entry.
	Expires time.Time `json:"expires"`
}

// Cache remembers online answers until they expire, persisted in one JSON file, bounded to max
// entries (the soonest-expiring go first). It is safe for concurrent use.
type Cache struct {
	path string
	max  int
	mu   sync.Mutex
	m    map[string]CacheEntry
}

// OpenCache loads the cache at path; max ≤ 0 means 1000.
func OpenCache(path string, max int) (*Cache, error) {
	if max <= 0 {
		max = 1000
	}
	c := &Cache{path: path, max: max, m: map[string]CacheEntry{}}
	if err := readJSON(path, &c.m); err != nil {
		return nil, err
	}
	return c, nil
}

// Get returns the unexpired entry of a token hash.
func (c *Cache) Get(hash string, now time.Time) (CacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[hash]
	if !ok || !now.Before(e.Expires) {
		return CacheEntry{}, false
	}
	return e, true
}

// Put remembers e for a token hash, drops expired entries and the soonest-expiring beyond the
// bound, and saves the cache.
func (c *Cache) Put(hash string, e CacheEntry, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	next := make(map[string]CacheEntry, len(c.m)+1)
	for k, v := range c.m {
		if now.Before(v.Expires) {
			next[k] = v
		}
	}
	next[hash] = e
	for len(next) > c.max {
		var oldest string
		for k, v := range next {
			if oldest == "" || v.Expires.Before(next[oldest].Expires) {
				oldest = k
			}
		}
		delete(next, oldest)
	}
	if err := writeJSON(c.path, next); err != nil {
		return fmt.Errorf("save authorization cache: %w", err)
	}
	c.m = next
	return nil
}

// usedTokens remembers the IDs of single-use tokens until they expire, persisted in one JSON
// file, so a replay is refused across restarts.
type usedTokens struct {
	path string
	mu   sync.Mutex
	m    map[string]int64 // "kid/jti" → expiry, Unix seconds
}

func openUsedTokens(path string) (*usedTokens, error) {
	u := &usedTokens{path: path, m: map[string]int64{}}
	if err := readJSON(path, &u.m); err != nil {
		return nil, err
	}
	return u, nil
}

// use records kid/jti until expiry; it fails with ErrReplayed if it is already recorded. The
// record is on disk before use returns nil.
func (u *usedTokens) use(kid, jti string, expiry int64, now time.Time) error {
	key := kid + "/" + jti
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.m[key]; ok {
		return fmt.Errorf("%w: token ID %q", ErrReplayed, jti)
	}
	next := make(map[string]int64, len(u.m)+1)
	for k, exp := range u.m {
		if exp+int64(DefaultSkew/time.Second) > now.Unix() {
			next[k] = exp
		}
	}
	next[key] = expiry
	if err := writeJSON(u.path, next); err != nil {
		return fmt.Errorf("save used token IDs: %w", err)
	}
	u.m = next
	return nil
}

// release forgets kid/jti, for a single-use token whose session never began.
func (u *usedTokens) release(kid, jti string) error {
	key := kid + "/" + jti
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.m[key]; !ok {
		return nil
	}
	next := make(map[string]int64, len(u.m))
	for k, exp := range u.m {
		if k != key {
			next[k] = exp
		}
	}
	if err := writeJSON(u.path, next); err != nil {
		return fmt.Errorf("save used token IDs: %w", err)
	}
	u.m = next
	return nil
}
