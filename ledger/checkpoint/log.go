package checkpoint

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// DefaultInterval is how often a Log signs a checkpoint when nothing triggers one sooner.
const DefaultInterval = 5 * time.Minute

// LogConfig configures a Log. Zero fields take the defaults.
type LogConfig struct {
	// Interval is the longest time between two checkpoints (default 5 min); Trigger signs one
	// sooner (the gateway triggers one at every anchor).
	Interval time.Duration
	// TreeFile, when set, keeps the tree's stored hashes in that file (OpenTree) instead of in
	// memory: memory stays flat as the chain grows, and the tree outlives the store pruning
	// old entries.
	TreeFile string
	// Witnesses are asked to cosign every checkpoint; one client per witness.
	Witnesses []*WitnessClient
	// OnAlarm is called (from Run's goroutine) when a witness shows a rollback or a fork:
	// err wraps ErrRolledBack or ErrInconsistent, witnessSize is the largest size a witness
	// holds. The gateway raises its alarm, records a signed event, and continues its
	// sequence above witnessSize.
	OnAlarm func(err error, witnessSize int64)
	// Logger receives the log's messages; nil discards them.
	Logger *slog.Logger
}

// Log keeps a device's chain as a tree, signs checkpoints of it, has them cosigned by
// witnesses, and serves checkpoints and proofs over HTTP.
type Log struct {
	src    Source
	signer note.Signer
	cfg    LogConfig
	log    *slog.Logger
	tree   *Tree
	wake   chan struct{}

	mu     sync.Mutex
	latest []byte // the latest signed checkpoint with its cosignatures
	cp     Checkpoint
}

// NewLog returns the log of the entries in src, signed with the device's entry key.
func NewLog(src Source, key ed25519.PrivateKey, cfg LogConfig) (*Log, error) {
	if src == nil || len(key) != ed25519.PrivateKeySize {
		return nil, errors.New("new checkpoint log: need a source and the device key")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	tree := &Tree{}
	if cfg.TreeFile != "" {
		var err error
		if tree, err = OpenTree(cfg.TreeFile); err != nil {
			return nil, err
		}
	}
	return &Log{src: src, signer: DeviceSigner(key), cfg: cfg, log: cfg.Logger, tree: tree, wake: make(chan struct{}, 1)}, nil
}

// Close closes the tree's file.
func (l *Log) Close() error { return l.tree.Close() }

// Tree returns the log's tree (for proofs).
func (l *Log) Tree() *Tree { return l.tree }

// Trigger asks Run to sign a checkpoint now.
func (l *Log) Trigger() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Latest returns the latest signed (and cosigned) checkpoint and its body; nil before the first.
func (l *Log) Latest() ([]byte, Checkpoint) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.latest, l.cp
}

// Checkpoint catches the tree up with the store, signs a checkpoint and asks the witnesses to
// cosign it. It returns an error wrapping ErrRolledBack or ErrInconsistent when a witness shows
// one (after calling OnAlarm), and the largest size a witness holds. The gateway calls it once
// at start, before it appends, so that a restored data directory is noticed before any
// sequence number is reused; Run calls it on every tick.
func (l *Log) Checkpoint(ctx context.Context) (witnessSize int64, err error) {
	if err := l.tree.CatchUp(ctx, l.src); err != nil {
		return 0, err
	}
	// What is shown to anyone is durable first: a checkpoint must never outlive its tree.
	if err := l.tree.Sync(); err != nil {
		return 0, err
	}
	c, signed, results, alarm := CheckWitnesses(ctx, l.cfg.Witnesses, l.tree, l.signer)
	if signed == nil {
		return 0, alarm
	}
	for _, r := range results {
		witnessSize = max(witnessSize, r.Size)
		if r.Err != nil && !errors.Is(r.Err, ErrRolledBack) && !errors.Is(r.Err, ErrInconsistent) {
			l.log.Warn("witness did not cosign", "witness", r.Witness, "err", r.Err)
		}
	}
	l.mu.Lock()
	l.latest, l.cp = signed, c
	l.mu.Unlock()
	if alarm != nil {
		l.log.Error("witness shows the log was rolled back or forked", "err", alarm, "size", c.Size, "witness_size", witnessSize)
		if l.cfg.OnAlarm != nil {
			l.cfg.OnAlarm(alarm, witnessSize)
		}
	}
	return witnessSize, alarm
}

// Run signs a checkpoint every Interval and whenever Trigger is called, until ctx is done.
// Failures are logged and retried at the next tick; it returns nil when ctx ends.
func (l *Log) Run(ctx context.Context) error {
	t := time.NewTicker(l.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := l.Checkpoint(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, ErrRolledBack) && !errors.Is(err, ErrInconsistent) {
			l.log.Warn("checkpoint failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-l.wake:
		}
	}
}

// Handler serves the log for the local API (and any relay to MQTT):
//
//	GET checkpoint                         the latest signed checkpoint (text/plain; 503 before the first)
//	GET checkpoint/inclusion?seq=N&size=M  the inclusion proof of entry N in the tree of size M,
//	                                       base64 hashes one per line
//	GET checkpoint/consistency?old=A&size=B the consistency proof from size A to B, likewise
//
// Mount it under a prefix with http.StripPrefix.
func (l *Log) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /checkpoint", func(w http.ResponseWriter, _ *http.Request) {
		signed, _ := l.Latest()
		if signed == nil {
			http.Error(w, "no checkpoint yet", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(signed) //nolint:errcheck // the client went away
	})
	mux.HandleFunc("GET /checkpoint/inclusion", func(w http.ResponseWriter, r *http.Request) {
		seq, err1 := strconv.ParseUint(r.URL.Query().Get("seq"), 10, 64)
		size, err2 := strconv.ParseInt(r.URL.Query().Get("size"), 10, 64)
		if err1 != nil || err2 != nil {
			http.Error(w, "want seq and size", http.StatusBadRequest)
			return
		}
		p, err := l.tree.InclusionProof(seq, size)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		writeHashes(w, p)
	})
	mux.HandleFunc("GET /checkpoint/consistency", func(w http.ResponseWriter, r *http.Request) {
		old, err1 := strconv.ParseInt(r.URL.Query().Get("old"), 10, 64)
		size, err2 := strconv.ParseInt(r.URL.Query().Get("size"), 10, 64)
		if err1 != nil || err2 != nil {
			http.Error(w, "want old and size", http.StatusBadRequest)
			return
		}
		p, err := l.tree.ConsistencyProof(old, size)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		writeHashes(w, p)
	})
	return mux
}

func writeHashes[H ~[32]byte](w http.ResponseWriter, hs []H) {
	var b strings.Builder
	for _, h := range hs {
		b.WriteString(base64.StdEncoding.EncodeToString(h[:]))
		b.WriteByte('\n')
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprint(w, b.String())
}
