package stardust

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/iotaledger/iota.go/v3/nodeclient"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/anchor"
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
	// PollInterval, double, and are jittered ±50 % (cenkalti/backoff/v5).
	MaxBackoff time.Duration
	// HTTPClient is used for the node API; nil means a client with CallTimeout.
	HTTPClient *http.Client
	// AuthTokenFile names a file holding a bearer token for the node's API (a Hornet JWT, see
	// Hornet's restAPI.jwtAuth). The file must not be readable by group or others (0600 or
	// stricter); it is read once by NewPublisher. Empty sends no Authorization header.
	AuthTokenFile string
	// ProofDir, when set, is where the publisher keeps each confirmed anchor's milestone
	// inclusion proof (package ledger/anchor, "chargegate-poi/1", one file per anchor named
	// by anchor.PoIFileName), fetched from the node's PoI API right after confirmation, so that
	// proofs of the anchor's entries verify offline after the node has pruned the block. The
	// gateway uses <data>/proofs. A node without the PoI API leaves the directory empty and
	// logs why; anchoring goes on.
	ProofDir string
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
	Failures    int       // failed steps since start
	LastError   string    // the last step's error; empty once a step succeeds again
	LastErrorAt time.Time // when LastError happened; zero when LastError is empty
	Proofs      int       // inclusion proofs kept in Config.ProofDir since start
	ProofError  string    // the last failure to keep an inclusion proof; empty after a success
}

// Publisher anchors the store's entries on an IOTA Stardust node; see the package documentation.
type Publisher struct {
	store  Store
	key    ed25519.PrivateKey
	tag    []byte
	cfg    Config
	client *nodeclient.Client
	log    *slog.Logger

	mu          sync.Mutex
	status      Status
	lastPromote time.Time

	// seenSeq and seenAt record when Run first saw the oldest unanchored entry, so that a batch
	// falls due BatchAge after that even if the entry's own time is wrong (unsynchronised clock).
	seenSeq uint64
	seenAt  time.Time

	// missingProofs are confirmed anchors whose inclusion proof is not in ProofDir yet, retried
	// one per step while the node still has them (Run's goroutine only).
	missingProofs []ledger.AnchorRecord
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
	if cfg.AuthTokenFile != "" {
		tok, err := ReadTokenFile(cfg.AuthTokenFile)
		if err != nil {
			return nil, fmt.Errorf("new publisher: %w", err)
		}
		cfg.HTTPClient = WithBearer(cfg.HTTPClient, tok)
	}
	opts := []nodeclient.ClientOption{nodeclient.WithHTTPClient(cfg.HTTPClient)}
	tag, err := anchor.Tag(ledger.DeviceID(key.Public().(ed25519.PublicKey)))
	if err != nil {
		return nil, fmt.Errorf("new publisher: %w", err)
	}
	return &Publisher{
		store:  store,
		key:    key,
		tag:    tag,
		cfg:    cfg,
		client: nodeclient.New(cfg.NodeURL, opts...),
		log:    cfg.Logger,
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
// it logs, records the error in Status, waits (exponential backoff with jitter, cenkalti/backoff)
// and retries the same step. A block the node refused (400: below max depth, parents too old)
// is rebuilt at once, without waiting: waiting would only age its tips further. The first
// successful step clears Status.LastError. It resumes whatever a previous run left in the
// store. Only one Run may be active per store at a time.
func (p *Publisher) Run(ctx context.Context) error {
	p.refreshPending(ctx)
	p.findMissingProofs(ctx)
	bo := &backoff.ExponentialBackOff{
		InitialInterval:     p.cfg.PollInterval,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         p.cfg.MaxBackoff,
	}
	bo.Reset()
	for {
		wait, err := p.step(ctx)
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case errors.Is(err, errRejected):
			// The stored block was dropped by step; the next step builds a new one on fresh tips.
			p.log.Warn("block rejected; rebuilding now", "err", err)
			p.recordError(err)
			wait = 0
		case err != nil:
			wait = bo.NextBackOff()
			p.log.Warn("anchoring failed; will retry", "err", err, "in", wait)
			p.recordError(err)
		default:
			bo.Reset()
			p.update(func(s *Status) { s.LastError, s.LastErrorAt = "", time.Time{} })
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

// recordError puts err and its time into Status.
func (p *Publisher) recordError(err error) {
	now := p.cfg.Now()
	p.update(func(s *Status) { s.Failures++; s.LastError, s.LastErrorAt = err.Error(), now })
}

// ReadTokenFile reads a bearer token (such as a Hornet JWT) from path, trimmed of surrounding
// white space. It refuses a file that group or others may read, as ssh does for keys, and an
// empty one.
func ReadTokenFile(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("node auth token: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("node auth token %s: mode %04o, want 0600 or stricter", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("node auth token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("node auth token %s: file is empty", path)
	}
	return tok, nil
}

// WithBearer returns a copy of c whose requests carry "Authorization: Bearer tok", the header
// Hornet's JWT-protected routes expect.
func WithBearer(c *http.Client, tok string) *http.Client {
	cc := *c
	next := cc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	cc.Transport = bearer{next: next, header: "Bearer " + tok}
	return &cc
}

// bearer adds an Authorization header to every request.
type bearer struct {
	next   http.RoundTripper
	header string
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", b.header)
	return b.next.RoundTrip(r)
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
	p.retryProof(ctx)
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
