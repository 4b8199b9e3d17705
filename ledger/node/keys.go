package node

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	iotago "github.com/iotaledger/iota.go/v3"
)

// KeysFileName is the file in Config.Dir where the node publishes its coordinator public keys
// (KeysFile), for verifiers that trust milestones offline (chargegate verify-proof --offline
// --coordinator-keys).
const KeysFileName = "coordinator-keys.json"

// KeyRange is a coordinator public key and the milestone indexes it signs, as in Hornet's
// protocol.publicKeyRanges: start ≤ index ≤ end, or every index from start on when end is 0
// (hive.go keymanager: "EndIndex == 0 means the key is valid forever").
type KeyRange struct {
	Key   string `json:"key"` // 0x-hex Ed25519 public key
	Start uint32 `json:"start"`
	End   uint32 `json:"end"`
}

// validFor reports whether the range covers milestone index.
func (r KeyRange) validFor(index uint32) bool {
	return index >= r.Start && (r.End == 0 || index <= r.End)
}

// KeysFile is the public half of the node's coordinator: what a Hornet node of the same
// network is configured with (protocol.milestonePublicKeyCount and protocol.publicKeyRanges).
type KeysFile struct {
	MilestonePublicKeyCount int        `json:"milestonePublicKeyCount"`
	PublicKeyRanges         []KeyRange `json:"publicKeyRanges"`
	MinPoWScore             uint32     `json:"minPowScore,omitempty"`
}

// coordKey is one coordinator signing key and its range.
type coordKey struct {
	Seed  []byte `json:"seed"`
	Start uint32 `json:"start"`
	End   uint32 `json:"end"`
}

func (k coordKey) private() ed25519.PrivateKey { return ed25519.NewKeyFromSeed(k.Seed) }

func (k coordKey) rng() KeyRange {
	return KeyRange{Key: iotago.EncodeHex(k.private().Public().(ed25519.PublicKey)), Start: k.Start, End: k.End}
}

// newCoordKeys generates count keys valid from milestone start on.
func newCoordKeys(count int, start uint32) ([]coordKey, error) {
	out := make([]coordKey, count)
	for i := range out {
		seed := make([]byte, ed25519.SeedSize)
		if _, err := rand.Read(seed); err != nil {
			return nil, fmt.Errorf("generate coordinator key: %w", err)
		}
		out[i] = coordKey{Seed: seed, Start: start}
	}
	return out, nil
}

// coordinatorKeys returns the coordinator's keys with their ranges, creating count keys valid
// from milestone 0 on first use. A database of an earlier version, with one seed, keeps it as a
// key valid for every index.
func (d *database) coordinatorKeys(count int) ([]coordKey, error) {
	var raw []byte
	err := d.db.QueryRow(`SELECT value FROM meta WHERE key = 'coordinator_keys'`).Scan(&raw)
	if err == nil {
		var keys []coordKey
		if err := json.Unmarshal(raw, &keys); err != nil {
			return nil, fmt.Errorf("read coordinator keys: %w", err)
		}
		for _, k := range keys {
			if len(k.Seed) != ed25519.SeedSize {
				return nil, fmt.Errorf("coordinator key: bad seed length %d", len(k.Seed))
			}
		}
		return keys, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("read coordinator keys: %w", err)
	}
	var keys []coordKey
	var seed []byte
	err = d.db.QueryRow(`SELECT value FROM meta WHERE key = 'coordinator_seed'`).Scan(&seed)
	switch {
	case err == nil && len(seed) == ed25519.SeedSize:
		keys = []coordKey{{Seed: seed}}
	case err == nil:
		return nil, fmt.Errorf("coordinator key: bad seed length %d", len(seed))
	case errors.Is(err, sql.ErrNoRows):
		if keys, err = newCoordKeys(count, 0); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("read coordinator key: %w", err)
	}
	return keys, d.putCoordinatorKeys(keys)
}

func (d *database) putCoordinatorKeys(keys []coordKey) error {
	raw, err := json.Marshal(keys)
	if err != nil {
		return fmt.Errorf("encode coordinator keys: %w", err)
	}
	if _, err := d.db.Exec(`INSERT INTO meta (key, value) VALUES ('coordinator_keys', ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, raw); err != nil {
		return fmt.Errorf("store coordinator keys: %w", err)
	}
	return nil
}

// signers returns the keys valid for milestone index, ordered by public key as a milestone's
// signatures must be (iota.go: lexical order, no duplicates).
func signers(keys []coordKey, index uint32) ([]iotago.MilestonePublicKey, iotago.MilestonePublicKeyMapping) {
	var pubs []iotago.MilestonePublicKey
	m := iotago.MilestonePublicKeyMapping{}
	for _, k := range keys {
		if !k.rng().validFor(index) {
			continue
		}
		var pub iotago.MilestonePublicKey
		priv := k.private()
		copy(pub[:], priv.Public().(ed25519.PublicKey))
		pubs = append(pubs, pub)
		m[pub] = priv
	}
	sort.Slice(pubs, func(i, j int) bool { return bytes.Compare(pubs[i][:], pubs[j][:]) < 0 })
	return pubs, m
}

// Keys returns the node's coordinator public keys with their ranges, the signature threshold
// and the minimum PoW score: what a verifier needs to trust its milestones without asking it.
func (n *Node) Keys() KeysFile {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.keysFile()
}

// keysFile builds the public keys file. Callers hold n.mu.
func (n *Node) keysFile() KeysFile {
	f := KeysFile{MilestonePublicKeyCount: n.threshold, MinPoWScore: n.params.MinPoWScore}
	for _, k := range n.coordKeys {
		f.PublicKeyRanges = append(f.PublicKeyRanges, k.rng())
	}
	return f
}

// writeKeysFile publishes the public keys in Config.Dir (nothing for an in-memory node).
// Callers hold n.mu.
func (n *Node) writeKeysFile() error {
	if n.cfg.Dir == "" {
		return nil
	}
	b, err := json.MarshalIndent(n.keysFile(), "", "  ")
	if err != nil {
		return fmt.Errorf("encode coordinator keys file: %w", err)
	}
	path := filepath.Join(n.cfg.Dir, KeysFileName)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write coordinator keys file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write coordinator keys file: %w", err)
	}
	return nil
}

// RotateKeys replaces the coordinator keys as a network does on a key rotation: the keys in
// use sign up to the next milestone, Config.CoordinatorKeys new keys sign from the one after
// on. Proofs under earlier milestones stay valid under the old keys' ranges. It returns the
// first index of the new keys.
func (n *Node) RotateKeys() (uint32, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return 0, ErrClosed
	}
	from := n.confirmedIndex() + 2
	fresh, err := newCoordKeys(n.cfg.CoordinatorKeys, from)
	if err != nil {
		return 0, err
	}
	keys := append([]coordKey{}, n.coordKeys...)
	for i, k := range keys {
		if k.rng().validFor(from) {
			keys[i].End = from - 1
		}
	}
	keys = append(keys, fresh...)
	if err := n.db.putCoordinatorKeys(keys); err != nil {
		return 0, err
	}
	n.coordKeys = keys
	if err := n.writeKeysFile(); err != nil {
		return 0, err
	}
	n.log.Info("coordinator keys rotated", "from", from, "keys", len(fresh))
	return from, nil
}
