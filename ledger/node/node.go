package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sort"
	"sync"
	"time"

	iotago "github.com/iotaledger/iota.go/v3"
)

// Defaults of Config.
const (
	DefaultMinPoWScore       = 1500
	DefaultMilestoneInterval = 5 * time.Second
	DefaultBelowMaxDepth     = 15
	// maxTips is how many tips GET /tips returns at most, as Hornet's URTS (optimalTipCount).
	maxTips = 4
	// Tip-score thresholds of Hornet's config_defaults.json (tangle.*): a solid, unreferenced block
	// whose youngest cone root is more than maxDeltaYCRI milestones old, or whose oldest is more
	// than maxDeltaOCRI old, should be promoted; beyond belowMaxDepth it should be reattached.
	maxDeltaYCRI = 8
	maxDeltaOCRI = 13
)

// ErrClosed is returned by methods of a Node after Close.
var ErrClosed = errors.New("node closed")

// Outage is a window, relative to the node's start, during which the API drops every connection.
type Outage struct {
	Start, Duration time.Duration
}

// Faults configures fault injection. The zero value injects nothing.
type Faults struct {
	// ErrorRate is the fraction (0..1) of API requests answered with 500 before being handled.
	ErrorRate float64
	// LostResponseRate is the fraction of block submissions that are stored but answered 500, as
	// when a response is lost on the way back.
	LostResponseRate float64
	// OrphanRate is the fraction of accepted blocks left out of tip selection and milestones,
	// as a block lost to gossip; such blocks need promotion or reattachment.
	OrphanRate float64
	// Latency is added to every API request.
	Latency time.Duration
	// Outages are windows during which every API connection is closed without an answer.
	Outages []Outage
	// Seed seeds the random choices of the faults; 0 picks a random seed.
	Seed uint64
}

// Config configures a Node.
type Config struct {
	// Dir holds the node's SQLite database (node.db). Empty keeps everything in memory.
	Dir string
	// MinPoWScore is the protocol's minimum PoW score; 0 disables the PoW check.
	// Set it with SetMinPoWScore to reach 0 (the zero value of Config means the default, 1500).
	MinPoWScore uint32
	// NoPoW makes MinPoWScore 0 (no PoW needed), since 0 in MinPoWScore means "default".
	NoPoW bool
	// MilestoneInterval is how often Run issues a milestone (default 5 s).
	MilestoneInterval time.Duration
	// ProtocolParameters overrides the advertised protocol parameters; MinPoWScore and
	// BelowMaxDepth above take precedence when set.
	ProtocolParameters *iotago.ProtocolParameters
	// PeerlessHealth makes GET /health answer 503 while the node works, as a real node without
	// gossip peers does.
	PeerlessHealth bool
	// CoordinatorKeys is how many Ed25519 keys sign each milestone (default 1), as a Hornet
	// network's coordinator with several signers; RotateKeys replaces them by as many new ones.
	CoordinatorKeys int
	// SignatureThreshold is how many valid signatures a milestone needs (Hornet's
	// protocol.milestonePublicKeyCount); default CoordinatorKeys.
	SignatureThreshold int
	// Faults configures fault injection.
	Faults Faults
	// Logger receives the node's log; nil discards it.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// blockMeta is what the node keeps in memory about a block; the bytes stay in the database.
type blockMeta struct {
	id       iotago.BlockID
	parents  iotago.BlockIDs
	refMs    uint32 // milestone that referenced the block, 0 while unreferenced
	wfIndex  uint32 // white-flag index within refMs
	msIndex  uint32 // milestone index carried by the block, 0 for others
	ycri     uint32 // youngest cone root index
	ocri     uint32 // oldest cone root index
	orphan   bool   // fault injection: never a tip, never chosen by a milestone
	children int
}

type milestoneInfo struct {
	index     uint32
	timestamp uint32
	id        iotago.MilestoneID
	blockID   iotago.BlockID
}

// Node is a small IOTA Stardust node: it validates and stores blocks, serves them over the core
// REST API v2 subset, and issues its own signed milestones. Its methods are safe for concurrent use.
type Node struct {
	cfg    Config
	params iotago.ProtocolParameters
	log    *slog.Logger
	now    func() time.Time
	start  time.Time
	db     *database

	threshold int

	mu         sync.Mutex
	rng        *rand.Rand
	blocks     map[iotago.BlockID]*blockMeta
	tips       map[iotago.BlockID]struct{}
	milestones []milestoneInfo // index i holds milestone i+1
	coordKeys  []coordKey
	pruned     uint32 // milestones below this index (and the blocks they referenced) are pruned
	faults     Faults
	down       bool
	unsynced   bool
	closed     bool
}

// New opens (or creates) the node's state in cfg.Dir and issues the first milestone of a fresh
// network, so that tips exist from the start.
func New(cfg Config) (*Node, error) {
	if cfg.MilestoneInterval <= 0 {
		cfg.MilestoneInterval = DefaultMilestoneInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CoordinatorKeys <= 0 {
		cfg.CoordinatorKeys = 1
	}
	if cfg.SignatureThreshold <= 0 {
		cfg.SignatureThreshold = cfg.CoordinatorKeys
	}
	if cfg.SignatureThreshold > cfg.CoordinatorKeys {
		return nil, fmt.Errorf("signature threshold %d above %d coordinator keys", cfg.SignatureThreshold, cfg.CoordinatorKeys)
	}
	for _, r := range []float64{cfg.Faults.ErrorRate, cfg.Faults.LostResponseRate, cfg.Faults.OrphanRate} {
		if r < 0 || r > 1 {
			return nil, fmt.Errorf("fault rate %v out of range 0..1", r)
		}
	}
	params := iotago.ProtocolParameters{
		Version:       2,
		NetworkName:   "chargegate-local",
		Bech32HRP:     "cgl",
		MinPoWScore:   DefaultMinPoWScore,
		BelowMaxDepth: DefaultBelowMaxDepth,
		RentStructure: iotago.RentStructure{VByteCost: 100, VBFactorData: 1, VBFactorKey: 10},
		TokenSupply:   1_813_620_509_061_365,
	}
	if cfg.ProtocolParameters != nil {
		params = *cfg.ProtocolParameters
	}
	if cfg.MinPoWScore != 0 {
		params.MinPoWScore = cfg.MinPoWScore
	}
	if cfg.NoPoW {
		params.MinPoWScore = 0
	}
	if params.BelowMaxDepth == 0 {
		params.BelowMaxDepth = DefaultBelowMaxDepth
	}
	seed := cfg.Faults.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	n := &Node{
		cfg:       cfg,
		params:    params,
		log:       cfg.Logger,
		now:       cfg.Now,
		start:     cfg.Now(),
		rng:       rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		blocks:    map[iotago.BlockID]*blockMeta{},
		tips:      map[iotago.BlockID]struct{}{},
		faults:    cfg.Faults,
		threshold: cfg.SignatureThreshold,
	}
	path := ":memory:"
	if cfg.Dir != "" {
		if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("create node dir: %w", err)
		}
		path = cfg.Dir + "/node.db"
	}
	db, err := openDatabase(path)
	if err != nil {
		return nil, err
	}
	n.db = db
	if err := n.load(); err != nil {
		db.close()
		return nil, err
	}
	if err := n.writeKeysFile(); err != nil {
		db.close()
		return nil, err
	}
	if len(n.milestones) == 0 {
		if _, err := n.IssueMilestone(context.Background()); err != nil {
			db.close()
			return nil, fmt.Errorf("issue first milestone: %w", err)
		}
	}
	n.log.Info("ledger node ready", "blocks", len(n.blocks), "milestone", len(n.milestones),
		"minPowScore", n.params.MinPoWScore, "dir", cfg.Dir)
	return n, nil
}

// load reads the coordinator key, the blocks' metadata and the milestones from the database.
func (n *Node) load() error {
	keys, err := n.db.coordinatorKeys(n.cfg.CoordinatorKeys)
	if err != nil {
		return err
	}
	n.coordKeys = keys
	rows, err := n.db.loadBlocks()
	if err != nil {
		return err
	}
	for _, m := range rows {
		n.blocks[m.id] = m
	}
	// Rebuild children counts, cone root indexes (for unreferenced blocks, in insertion order,
	// which is a topological order) and the tip pool.
	for _, m := range rows {
		for _, p := range m.parents {
			if pm, ok := n.blocks[p]; ok {
				pm.children++
			}
		}
		if m.refMs == 0 {
			m.ycri, m.ocri = n.coneRootIndexes(m.parents)
		}
	}
	for _, m := range rows {
		if m.children == 0 && !m.orphan {
			n.tips[m.id] = struct{}{}
		}
	}
	ms, err := n.db.loadMilestones()
	if err != nil {
		return err
	}
	n.milestones = ms
	return nil
}

// Params returns the protocol parameters the node advertises and enforces.
func (n *Node) Params() iotago.ProtocolParameters { return n.params }

// CoordinatorKey returns the first public key that signs the node's next milestone.
func (n *Node) CoordinatorKey() ed25519.PublicKey {
	n.mu.Lock()
	defer n.mu.Unlock()
	pubs, _ := signers(n.coordKeys, n.confirmedIndex()+1)
	if len(pubs) == 0 {
		return nil
	}
	return ed25519.PublicKey(pubs[0][:])
}

// SetSynced switches the node between synced and not synced. A node that is not synced answers
// 503 "node is not synced" on the block, metadata, tips and PoI routes, as Hornet does while it
// catches up; /health and /info still answer.
func (n *Node) SetSynced(synced bool) {
	n.mu.Lock()
	n.unsynced = !synced
	n.mu.Unlock()
}

// SetFaults replaces the fault injection settings (Seed is ignored: the random source stays).
func (n *Node) SetFaults(f Faults) {
	n.mu.Lock()
	n.faults = f
	n.mu.Unlock()
}

// currentFaults returns the fault injection settings in force.
func (n *Node) currentFaults() Faults {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.faults
}

// SetDown switches a manual outage on or off: while down, the API drops every connection and
// no milestones are issued.
func (n *Node) SetDown(down bool) {
	n.mu.Lock()
	n.down = down
	n.mu.Unlock()
}

// isDown reports whether the API is in an outage now.
func (n *Node) isDown() bool {
	n.mu.Lock()
	down, outages := n.down, n.faults.Outages
	n.mu.Unlock()
	if down {
		return true
	}
	since := n.now().Sub(n.start)
	for _, o := range outages {
		if since >= o.Start && since < o.Start+o.Duration {
			return true
		}
	}
	return false
}

// chance reports true with probability p, from the node's seeded source.
func (n *Node) chance(p float64) bool {
	if p <= 0 {
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.rng.Float64() < p
}

// Run issues a milestone every MilestoneInterval until ctx is done. It returns nil when ctx ends.
func (n *Node) Run(ctx context.Context) error {
	t := time.NewTicker(n.cfg.MilestoneInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if n.isDown() {
			continue
		}
		if _, err := n.IssueMilestone(ctx); err != nil {
			if errors.Is(err, ErrClosed) {
				return nil
			}
			n.log.Error("issue milestone", "err", err)
		}
	}
}

// Close closes the database. The handler answers 503 afterwards.
func (n *Node) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	return n.db.close()
}

// pruningIndex is the highest pruned milestone index (0 when nothing is pruned).
func (n *Node) pruningIndex() uint32 {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.pruned == 0 {
		return 0
	}
	return n.pruned - 1
}

// confirmedIndex returns the latest milestone index (every milestone this node issues is
// confirmed at once). Callers hold n.mu.
func (n *Node) confirmedIndex() uint32 { return uint32(len(n.milestones)) }

// coneRootIndexes computes a new block's youngest and oldest cone root indexes from its parents,
// as Hornet does: a referenced parent contributes the milestone that referenced it, an
// unreferenced one its own indexes, the all-zero entry point index 0. Callers hold n.mu.
func (n *Node) coneRootIndexes(parents iotago.BlockIDs) (ycri, ocri uint32) {
	first := true
	for _, p := range parents {
		var y, o uint32
		if pm, ok := n.blocks[p]; ok {
			if pm.refMs != 0 {
				y, o = pm.refMs, pm.refMs
			} else {
				y, o = pm.ycri, pm.ocri
			}
		}
		if first || y > ycri {
			ycri = y
		}
		if first || o < ocri {
			ocri = o
		}
		first = false
	}
	return ycri, ocri
}

// tipScore returns shouldPromote and shouldReattach for a solid, unreferenced block.
// Callers hold n.mu.
func (n *Node) tipScore(m *blockMeta) (promote, reattach bool) {
	cmi := n.confirmedIndex()
	switch {
	case cmi-m.ocri > uint32(n.params.BelowMaxDepth):
		return false, true
	case cmi-m.ycri > maxDeltaYCRI || cmi-m.ocri > maxDeltaOCRI:
		return true, false
	}
	return false, false
}

// selectTips returns up to max tips, chosen at random among those not below max depth.
// Callers hold n.mu.
func (n *Node) selectTips(max int) iotago.BlockIDs {
	ids := make(iotago.BlockIDs, 0, len(n.tips))
	for id := range n.tips {
		m := n.blocks[id]
		if m.refMs == 0 {
			if _, reattach := n.tipScore(m); reattach {
				continue
			}
		} else if n.confirmedIndex()-m.refMs > uint32(n.params.BelowMaxDepth) {
			continue
		}
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return string(ids[i][:]) < string(ids[j][:]) })
	n.rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	if len(ids) > max {
		ids = ids[:max]
	}
	return ids.RemoveDupsAndSort()
}
