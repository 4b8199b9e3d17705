package stardust

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/anchor"
	"github.com/iotaledger/iota.go/v3/nodeclient"
)

// Defaults of Config.
const (
	DefaultBatchSize    = 10000
	DefaultBatchAge     = 60 * time.Second
	DefaultPollInterval = 2 * time.Second
	DefaultCallTimeout  = 30 * time.Second
	DefaultMaxBackoff   = 60 * time.Second
)

// Store is what the publisher needs of the entry store (ledger/sqlite.Store implements it).
type Store interface {
	// Head returns the highest sequence number stored (0 when empty) and its entry's hash.
	Head() (seq uint64, hash [32]byte)
	// Entries returns up to max entries with Seq >= from in ascending order.
	Entries(ctx context.Context, from uint64, max int) ([]ledger.Entry, error)
	// PutAnchor inserts or updates the anchor record with a.First; it fails for a different
	// range or root under the same First. Storing AnchorConfirmed acknowledges sink ledger.SinkLedger.
	PutAnchor(ctx context.Context, a ledger.AnchorRecord) error
	// Anchors returns the anchors in a state, ascending by First.
	Anchors(ctx context.Context, state ledger.AnchorState) ([]ledger.AnchorRecord, error)
	// LastAnchor returns the anchor with the highest First; ok is false if there is none.
	LastAnchor(ctx context.Context) (a ledger.AnchorRecord, ok bool, err error)
	// DeclaredHole returns the declared hole (ledger.Hole: seq_skipped, entries_lost,
	// store_replaced) that contains seq; an error when seq is in none.
	DeclaredHole(ctx context.Context, seq uint64) (ledger.Hole, error)
}

// Config configures a Publisher. Zero fields take the defaults.
type Config struct {
	// NodeURL is the node's base URL, e.g. http://127.0.0.1:14265.
	NodeURL string
	// BatchSize is the most entries one anchor covers, and the count that triggers an anchor
	// (default 10,000).
	BatchSize int
	// BatchAge triggers an anchor when the oldest unanchored entry is this old (default 60 s).
	BatchAge time.Duration
	// PollInterval is how often the publisher looks for new entries and follows block metadata
	// (default 2 s).
	PollInterval time.Duration
	// Logger receives the publisher's log; nil discards it.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Workers is the number of PoW goroutines (default: all cores).
	Workers int
	// CallTimeout bounds each call to the node (default 30 s).
	CallTimeout time.Duration
	// MaxBackoff caps the wait after repeated failures (default 60 s); waits start at
	// PollInterval, double, and are jittered.
	MaxBackoff time.Duration
	// HTTPClient is used for the node API; nil means a client with CallTimeout.
	HTTPClient *http.Client
}

// AnchorStatus describes one anchor.
type AnchorStatus struct {
	First, Last uint64
	BlockID     [32]byte
	State       ledger.AnchorState
	Milestone   uint32
}

// Status is a snapshot of the publisher for status pages and metrics.
type Status struct {
	Last        AnchorStatus // the newest anchor; State 0 if there is none yet
	Confirmed   int          // anchors confirmed since the publisher started
	Pending     int          // anchors built or submitted, not yet confirmed
	Blocks      int          // blocks submitted since start (anchors, reattachments, promotions)
	Reattached  int          // reattachments since start
	Promoted    int          // promotions since start
	PoW         time.Duration
	LastError   string
	LastErrorAt time.Time
}

// Publisher anchors the store's entries on an IOTA Stardust node; see the package documentation.
type Publisher struct {
	store  Store
	key    ed25519.PrivateKey
	tag    []byte
	cfg    Config
	client *nodeclient.Client
	log    *slog.Logger
	rng    *rand.Rand // used by Run's goroutine only

	mu          sync.Mutex
	status      Status
	lastPromote time.Time

	// seenSeq and seenAt record when Run first saw the oldest unanchored entry, so that a batch
	// falls due BatchAge after that even if the entry's own time is wrong (unsynchronised clock).
	seenSeq uint64
	seenAt  time.Time
}

// NewPublisher returns a publisher for the entries of store, signing anchors with the device's
// entry key.
func NewPublisher(store Store, key ed25519.PrivateKey, cfg Config) (*Publisher, error) {
	if store == nil {
		return nil, errors.New("new publisher: nil store")
	}
	if len(key) != ed25519.PrivateKeySize {
		return nil, errors.New("new publisher: bad device key")
	}
	if cfg.NodeURL == "" {
		return nil, errors.New("new publisher: NodeURL is empty")
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.BatchAge <= 0 {
		cfg.BatchAge = DefaultBatchAge
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.NumCPU()
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: cfg.CallTimeout}
	}
	tag, err := anchor.Tag(ledger.DeviceID(key.Public().(ed25519.PublicKey)))
	if err != nil {
		return nil, fmt.Errorf("new publisher: %w", err)
	}
	return &Publisher{
		store:  store,
		key:    key,
		tag:    tag,
		cfg:    cfg,
		client: nodeclient.New(cfg.NodeURL, nodeclient.WithHTTPClient(cfg.HTTPClient)),
		log:    cfg.Logger,
		rng:    rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}, nil
}

// Status returns a snapshot of the publisher's state.
func (p *Publisher) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status
}

func (p *Publisher) update(f func(s *Status)) {
	p.mu.Lock()
	f(&p.status)
	p.mu.Unlock()
}

// Run anchors until ctx is done and then returns nil. It never skips an entry: on any failure
// it logs, records the error in Status, waits (exponential backoff with jitter) and retries the
// same step. It resumes whatever a previous run left in the store. Only one Run may be active
// per store at a time.
func (p *Publisher) Run(ctx context.Context) error {
	p.refreshPending(ctx)
	backoff := p.cfg.PollInterval
	for {
		wait, err := p.step(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			p.log.Warn("anchoring failed; will retry", "err", err, "in", backoff)
			p.update(func(s *Status) { s.LastError, s.LastErrorAt = err.Error(), p.cfg.Now() })
			wait = backoff/2 + time.Duration(p.rng.Int64N(int64(backoff/2)+1))
			backoff = min(2*backoff, p.cfg.MaxBackoff)
		} else {
			backoff = p.cfg.PollInterval
		}
		if wait <= 0 {
			continue
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// refreshPending counts the anchors in flight and loads the newest anchor into Status.
func (p *Publisher) refreshPending(ctx context.Context) {
	n := 0
	for _, st := range []ledger.AnchorState{ledger.AnchorBuilt, ledger.AnchorSubmitted} {
		as, err := p.store.Anchors(ctx, st)
		if err != nil {
			return
		}
		n += len(as)
	}
	last, ok, err := p.store.LastAnchor(ctx)
	if err != nil {
		return
	}
	p.update(func(s *Status) {
		s.Pending = n
		if ok {
			s.Last = statusOf(last)
		}
	})
}

func statusOf(a ledger.AnchorRecord) AnchorStatus {
	return AnchorStatus{First: a.First, Last: a.Last, BlockID: a.BlockID, State: a.State, Milestone: a.Milestone}
}

// step does the next piece of work and says how long to wait before the next step.
// In-flight anchors (built or submitted) are finished first, oldest first; only then is the
// next batch cut, so each anchor's Prev is the block ID of a confirmed anchor.
func (p *Publisher) step(ctx context.Context) (time.Duration, error) {
	for _, st := range []ledger.AnchorState{ledger.AnchorBuilt, ledger.AnchorSubmitted} {
		as, err := p.store.Anchors(ctx, st)
		if err != nil {
			return 0, fmt.Errorf("list %s anchors: %w", st, err)
		}
		if len(as) > 0 {
			return p.advance(ctx, as[0])
		}
	}
	a, wait, err := p.cut(ctx)
	if err != nil || a == nil {
		return wait, err
	}
	return p.advance(ctx, *a)
}

// cut builds, signs and durably stores the next anchor (state Built, no block yet), or returns
// nil and how long to wait when no batch is due.
func (p *Publisher) cut(ctx context.Context) (*ledger.AnchorRecord, time.Duration, error) {
	last, ok, err := p.store.LastAnchor(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("read last anchor: %w", err)
	}
	from := uint64(1)
	var prev [32]byte
	if ok {
		if last.State != ledger.AnchorConfirmed {
			return nil, 0, fmt.Errorf("last anchor %d..%d is %s, not confirmed", last.First, last.Last, last.State)
		}
		from, prev = last.Last+1, last.BlockID
	}
	head, _ := p.store.Head()
	if head < from {
		return nil, p.cfg.PollInterval, nil
	}
	entries, err := p.store.Entries(ctx, from, p.cfg.BatchSize)
	if err != nil {
		return nil, 0, fmt.Errorf("read entries from %d: %w", from, err)
	}
	if len(entries) == 0 {
		return nil, p.cfg.PollInterval, nil
	}
	// Anchors cover consecutive entries (a proof's leaf index is seq − First). A declared hole
	// before the batch moves its start; one inside it ends the batch, which is then due, since
	// nothing can join it any more. An undeclared hole stops anchoring.
	if entries[0].Seq != from {
		if err := p.checkHole(ctx, from, &entries[0]); err != nil {
			return nil, 0, err
		}
	}
	cutByHole := false
	for i := 1; i < len(entries); i++ {
		if entries[i].Seq != entries[i-1].Seq+1 {
			if err := p.checkHole(ctx, entries[i-1].Seq+1, &entries[i]); err != nil {
				return nil, 0, err
			}
			entries, cutByHole = entries[:i], true
			break
		}
	}
	if len(entries) < p.cfg.BatchSize && !cutByHole {
		now := p.cfg.Now()
		if p.seenSeq != from {
			p.seenSeq, p.seenAt = from, now
		}
		oldest := entries[0].Time
		if p.seenAt.Before(oldest) {
			oldest = p.seenAt
		}
		if due := oldest.Add(p.cfg.BatchAge); now.Before(due) {
			return nil, min(due.Sub(now), p.cfg.PollInterval), nil
		}
	}
	leaves := make([][32]byte, len(entries))
	for i := range entries {
		leaves[i] = entries[i].Hash()
	}
	a := anchor.Anchor{
		First: entries[0].Seq, Last: entries[len(entries)-1].Seq,
		Root: anchor.Root(leaves), LastHash: leaves[len(leaves)-1], Prev: prev,
	}
	a.Sign(p.key)
	payload, err := a.MarshalBinary()
	if err != nil {
		return nil, 0, fmt.Errorf("encode anchor: %w", err)
	}
	rec := ledger.AnchorRecord{
		First: a.First, Last: a.Last, Root: a.Root, Payload: payload,
		State: ledger.AnchorBuilt, UpdatedAt: p.cfg.Now(),
	}
	if err := p.store.PutAnchor(ctx, rec); err != nil {
		return nil, 0, fmt.Errorf("store anchor %d..%d: %w", a.First, a.Last, err)
	}
	p.log.Info("anchor cut", "first", a.First, "last", a.Last)
	p.update(func(s *Status) { s.Pending++; s.Last = statusOf(rec) })
	return &rec, 0, nil
}

// checkHole returns nil if the sequence numbers from up to next's are declared missing: by
// next itself (a store_replaced or seq_skipped event, as ledger.VerifyChain accepts) or by the
// store's declared holes.
func (p *Publisher) checkHole(ctx context.Context, from uint64, next *ledger.Entry) error {
	to := next.Seq - 1
	if next.Kind == ledger.KindEvent && (next.Event == ledger.EventStoreReplaced || next.Event == ledger.EventSeqSkipped) {
		p.log.Info("anchoring across a declared jump", "from", from, "to", to, "event", next.Event)
		return nil
	}
	for seq := from; seq <= to; {
		h, err := p.store.DeclaredHole(ctx, seq)
		if err != nil || h.From > seq || h.To < seq {
			return fmt.Errorf("entries %d..%d missing: the store has a hole no event declares: %v", from, to, err)
		}
		p.log.Info("anchoring across a declared hole", "from", h.From, "to", h.To, "event", h.Event, "declared_by", h.DeclaredBy)
		seq = h.To + 1
	}
	return nil
}
