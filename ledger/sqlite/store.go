package sqlite

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/chargegate/chargegate/ledger"
	sqlite3 "github.com/mattn/go-sqlite3"
)

// DBFileName is the database file inside the data directory.
const DBFileName = "chargegate.db"

// Errors callers branch on.
var (
	ErrDiskBudget = errors.New("disk budget reached: no new sessions")
	// ErrDiskFull: an append of ordinary records was refused because only the reserve for
	// closing records is left (or the disk is full). Closing records still commit.
	ErrDiskFull       = errors.New("disk full: only closing entries are accepted")
	ErrUnsafeSettings = errors.New("sqlite did not take the durability settings")
	ErrUnknownSink    = errors.New("unknown sink")
	ErrAnchorConflict = errors.New("anchor conflicts with a stored anchor")
	ErrKeyMismatch    = errors.New("database entries are signed by another device key")
	ErrClosed         = errors.New("store closed")
	ErrCorrupt        = errors.New("database damaged")
)

// ErrNotFound is returned for a missing entry, state key or anchor. It also matches
// fs.ErrNotExist, so consumers (ledger/ocmf) need not import this package to recognise it.
var ErrNotFound error = notFound{}

type notFound struct{}

func (notFound) Error() string        { return "not found" }
func (notFound) Is(target error) bool { return target == fs.ErrNotExist }

// Defaults of Options.
const (
	DefaultReserve   = 1024
	DefaultBallast   = 4 << 20
	DefaultTailCheck = 1000
	// DefaultDiskReserve keeps room for about a thousand closing entries.
	DefaultDiskReserve = 256 << 10
)

// Options configure a Store.
type Options struct {
	Key        ed25519.PrivateKey // signs entries; required
	Logger     *slog.Logger       // nil discards
	Now        func() time.Time   // nil is time.Now
	DiskBudget int64              // bytes of live database pages plus WAL at which Admit refuses; 0 = none
	Retention  time.Duration      // minimum age (store clock) before a delivered, anchored entry is pruned
	Sinks      []string           // readers that must acknowledge before pruning; nil = {ledger.SinkLedger, ledger.SinkMQTT}
	// Reserve is how many sequence numbers one fsync of the head file reserves ahead; 0 = DefaultReserve.
	Reserve uint64
	// Ballast is the size of a file kept to be freed when the disk fills, so that the store can
	// still record the alarm; 0 = DefaultBallast, negative = none.
	Ballast int64
	// TailCheck is how many of the newest entries are verified at open; 0 = DefaultTailCheck.
	TailCheck int
	// DiskLimit, when positive, is the most bytes the database may occupy (SQLite's
	// max_page_count): a full disk of that size, for tests and for a configured quota.
	DiskLimit int64
	// DiskReserve is the room, in bytes, kept for closing records (ledger.Record.Closing):
	// ordinary appends are refused with ErrDiskFull when less is left; 0 = DefaultDiskReserve.
	DiskReserve int64

	bootID func() [16]byte // tests: the kernel boot ID; nil reads /proc/sys/kernel/random/boot_id
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sinks == nil {
		o.Sinks = []string{ledger.SinkLedger, ledger.SinkMQTT}
	}
	if o.Reserve == 0 {
		o.Reserve = DefaultReserve
	}
	if o.Ballast == 0 {
		o.Ballast = DefaultBallast
	}
	if o.TailCheck == 0 {
		o.TailCheck = DefaultTailCheck
	}
	if o.DiskReserve <= 0 {
		o.DiskReserve = DefaultDiskReserve
	}
	if o.bootID == nil {
		o.bootID = readBootID
	}
}

//go:embed migrations/*.sql
var migrationFS embed.FS

// Store is the durable store and outbox of one device's entries. It is safe for concurrent use.
type Store struct {
	dir  string
	opts Options
	log  *slog.Logger
	pub  ed25519.PublicKey

	w *sql.DB // the single writer connection (_txlock=immediate)
	r *sql.DB // read pool

	mu        sync.Mutex // serialises writes and guards the fields below
	seq       uint64
	hash      [32]byte
	head      *headFile
	closed    bool
	full      bool // ENOSPC seen; cleared when space is back
	episode   bool // a full-disk or budget episode is under way
	alarmed   bool // its disk_budget event is recorded
	ballastOn bool

	pageHook     func(*sql.DB) error // tests: set before migrations (e.g. max_page_count)
	beforeCommit func() error        // tests: runs inside an append's transaction just before COMMIT
}

// dsn returns the connection string. synchronous=FULL: in WAL mode NORMAL may roll back
// committed transactions on power loss (sqlite.org/pragma.html#pragma_synchronous), and the
// driver's default is NORMAL; immediate transactions so that busy_timeout applies to writers.
func dsn(path string, readOnly bool) string {
	v := url.Values{}
	v.Set("_sync", syncMode)
	v.Set("_busy_timeout", "5000")
	if readOnly {
		// mode=ro: a reader writes nothing, not even the checkpoint a last connection makes on
		// close, so verifying a crashed gateway's data leaves the evidence as it was.
		v.Set("mode", "ro")
		v.Set("_query_only", "true")
	} else {
		v.Set("_journal_mode", "WAL")
		v.Set("_txlock", "immediate")
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + v.Encode()
}

// Open opens (or creates) the store in dir: dir/chargegate.db and the fsynced dir/head file. A
// database that cannot be opened, fails quick_check or its tail verification, or lost entries
// the head file knows of, is moved aside (never deleted), its verifiable entries are copied into
// a new database, and a signed store_replaced event continues the sequence and the chain.
func Open(ctx context.Context, dir string, opts Options) (*Store, error) {
	return open(ctx, dir, opts, nil)
}

func open(ctx context.Context, dir string, opts Options, hook func(*sql.DB) error) (*Store, error) {
	opts.defaults()
	if len(opts.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("open store: no entry signing key")
	}
	for _, s := range opts.Sinks {
		if s == "" || strings.ContainsAny(s, " /") {
			return nil, fmt.Errorf("open store: bad sink name %q", s)
		}
	}
	s := &Store{dir: dir, opts: opts, log: opts.Logger, pub: opts.Key.Public().(ed25519.PublicKey), pageHook: hook}
	if err := mkdirSync(dir); err != nil {
		return nil, err
	}
	head, herr := openHeadFile(filepath.Join(dir, headFileName))
	if herr != nil && !errors.Is(herr, errNoHead) {
		return nil, herr
	}
	s.head = head
	haveHead := herr == nil
	if err := s.openDB(ctx, haveHead); err != nil {
		head.close()
		return nil, err
	}
	if err := s.ensureSinks(ctx); err != nil {
		s.closeDB()
		head.close()
		return nil, err
	}
	s.setupBallast()
	if LossySync {
		s.log.Error("TEST BUILD: ledger store runs with synchronous=OFF; committed entries may be lost on power loss")
	}
	s.log.Info("ledger store open", "dir", dir, "head", s.seq, "high_water", s.head.state.highWater)
	return s, nil
}

// openDB opens the database, detects damage and quarantines, and sets the in-memory head.
func (s *Store) openDB(ctx context.Context, haveHead bool) error {
	path := filepath.Join(s.dir, DBFileName)
	hs := s.head.state
	boot := s.opts.bootID()
	seq, hash, err := s.tryOpen(ctx, path)
	if errors.Is(err, ErrUnsafeSettings) || errors.Is(err, ErrKeyMismatch) || errors.Is(err, errNewerSchema) {
		return err
	}
	reason := ""
	switch {
	case err != nil && isCorruption(err) && ctx.Err() == nil:
		reason = err.Error()
	case err != nil:
		s.closeDB()
		return fmt.Errorf("open database: %w", err)
	case haveHead && seq < hs.seq:
		reason = fmt.Sprintf("database head %d is behind the head file's %d: committed entries lost", seq, hs.seq)
	case haveHead && seq == hs.seq && hash != hs.hash:
		reason = fmt.Sprintf("database head %d does not match the head file's hash", seq)
	}
	if reason == "" {
		s.seq, s.hash = seq, hash
		hw := seq
		if haveHead {
			if seq > hs.highWater {
				s.log.Warn("head file behind database; raising high-water mark", "file", hs.highWater, "db", seq)
			}
			hw = max(hs.highWater, seq)
		}
		// Mark the store open (not clean) in this boot, on disk, before any number is used.
		if err := s.head.write(headState{highWater: hw, seq: seq, hash: hash, boot: boot}, true); err != nil {
			return err
		}
		if !haveHead {
			if err := ledger.SyncDir(s.dir); err != nil {
				return err
			}
		}
		// A process that died in this boot left every write in the page cache: the database
		// holds every acknowledged entry. After a reboot (or from an unknown boot) storage may
		// have lost what it confirmed.
		rebooted := hs.boot != boot || boot == [16]byte{}
		if haveHead && !hs.clean && rebooted && hw > seq {
			return s.declareSkip(ctx, seq, hw)
		}
		return nil
	}
	s.log.Error("ledger database damaged; quarantining", "reason", reason)
	s.closeDB()
	mark := hs
	mark.clean, mark.boot = false, boot
	if err := s.head.write(mark, true); err != nil {
		return err
	}
	return s.replace(ctx, path, reason, haveHead)
}

// tryOpen opens path and checks it; it returns the head found in the database.
func (s *Store) tryOpen(ctx context.Context, path string) (uint64, [32]byte, error) {
	var zero [32]byte
	// Create the file ourselves so that it (and the -wal and -shm SQLite derives from it) is 0600.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	}
	w, err := sql.Open("sqlite3", dsn(path, false))
	if err != nil {
		return 0, zero, fmt.Errorf("open database: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	s.w = w
	if err := checkSettings(ctx, w); err != nil {
		return 0, zero, err
	}
	if s.pageHook != nil {
		if err := s.pageHook(w); err != nil {
			return 0, zero, err
		}
	}
	var qc string
	if err := w.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&qc); err != nil {
		return 0, zero, fmt.Errorf("quick_check: %w", err)
	}
	if qc != "ok" {
		return 0, zero, fmt.Errorf("%w: quick_check: %s", ErrCorrupt, qc)
	}
	if err := migrate(ctx, w); err != nil {
		return 0, zero, err
	}
	if err := s.applyDiskLimit(ctx); err != nil {
		return 0, zero, err
	}
	r, err := sql.Open("sqlite3", dsn(path, true))
	if err != nil {
		return 0, zero, fmt.Errorf("open read pool: %w", err)
	}
	r.SetMaxOpenConns(4)
	s.r = r
	return s.checkTail(ctx)
}

// checkSettings reads back journal_mode and synchronous and refuses anything but WAL and FULL.
func checkSettings(ctx context.Context, db *sql.DB) error {
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("read journal_mode: %w", err)
	}
	var sync int
	if err := db.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
		return fmt.Errorf("read synchronous: %w", err)
	}
	if !strings.EqualFold(mode, "wal") || sync != syncLevel {
		return fmt.Errorf("%w: journal_mode=%s synchronous=%d, want wal and %d (%s)", ErrUnsafeSettings, mode, sync, syncLevel, syncMode)
	}
	return nil
}

var errNewerSchema = errors.New("database schema is newer than this program")

// migrate applies the embedded numbered migrations above PRAGMA user_version, each in its own transaction.
func migrate(ctx context.Context, db *sql.DB) error {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("list migrations: %w", err)
	}
	sort.Strings(names)
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("read user_version: %w", err)
	}
	if version > len(names) {
		return fmt.Errorf("%w: version %d, know %d", errNewerSchema, version, len(names))
	}
	for i := version; i < len(names); i++ {
		body, err := migrationFS.ReadFile(names[i])
		if err != nil {
			return fmt.Errorf("read migration %s: %w", names[i], err)
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("begin migration %s: %w", names[i], err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("apply migration %s: %w", names[i], err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", i+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("set user_version: %w", err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("commit migration %s: %w", names[i], err)
		}
	}
	return nil
}

// checkTail verifies the newest TailCheck entries (signatures, links, key) and returns the head.
func (s *Store) checkTail(ctx context.Context) (uint64, [32]byte, error) {
	var zero [32]byte
	rows, err := s.r.QueryContext(ctx, "SELECT seq, body FROM entries ORDER BY seq DESC LIMIT ?", s.opts.TailCheck)
	if err != nil {
		return 0, zero, fmt.Errorf("read tail: %w", err)
	}
	defer rows.Close()
	var tail []ledger.Entry
	for rows.Next() {
		var seq uint64
		var body []byte
		if err := rows.Scan(&seq, &body); err != nil {
			return 0, zero, fmt.Errorf("read tail: %w", err)
		}
		e, err := ledger.DecodeEntry(body)
		if err != nil {
			return 0, zero, fmt.Errorf("%w: entry %d: %v", ErrCorrupt, seq, err)
		}
		if e.Seq != seq {
			return 0, zero, fmt.Errorf("%w: row %d holds entry %d", ErrCorrupt, seq, e.Seq)
		}
		tail = append(tail, e)
	}
	if err := rows.Err(); err != nil {
		return 0, zero, fmt.Errorf("read tail: %w", err)
	}
	if len(tail) == 0 {
		return 0, zero, nil
	}
	if newest := tail[0]; newest.Verify() == nil && !newest.DeviceKey.Equal(s.pub) {
		return 0, zero, fmt.Errorf("%w: device %s, key is %s", ErrKeyMismatch, ledger.DeviceID(newest.DeviceKey), ledger.DeviceID(s.pub))
	}
	v := ledger.Verifier{Opts: ledger.ChainOptions{Key: s.pub}}
	for i := len(tail) - 1; i >= 0; i-- {
		if err := v.Add(&tail[i]); err != nil {
			return 0, zero, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
	}
	if err := v.Finish(); err != nil {
		return 0, zero, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return tail[0].Seq, tail[0].Hash(), nil
}

func (s *Store) ensureSinks(ctx context.Context) error {
	for _, sink := range s.opts.Sinks {
		if _, err := s.w.ExecContext(ctx, "INSERT OR IGNORE INTO cursors (sink, through) VALUES (?, 0)", sink); err != nil {
			return fmt.Errorf("create cursor %s: %w", sink, err)
		}
	}
	return nil
}

// Head returns the sequence number and hash of the newest entry (0 and zero when empty).
func (s *Store) Head() (seq uint64, hash [32]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq, s.hash
}

// DeviceKey returns the public key entries are signed with.
func (s *Store) DeviceKey() ed25519.PublicKey { return s.pub }

// declareSkip continues the chain after an unclean shutdown above every number that may have
// been handed out: a signed seq_skipped event at highWater+1, linked to the database head seq,
// naming the skipped numbers. Storage that confirmed commits it had not made durable (an SD
// card that acknowledges flushes early) may have lost acknowledged entries with those numbers;
// they are never issued again.
func (s *Store) declareSkip(ctx context.Context, seq, highWater uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq = highWater
	rec := ledger.Record{Time: s.opts.Now().Round(0).UTC(), TimeStatus: ledger.TimeInformative, Kind: ledger.KindEvent,
		Event: ledger.EventSeqSkipped, Detail: ledger.HoleDetail(seq+1, highWater,
			fmt.Sprintf("unclean shutdown; database head %d, numbers through the reserved high-water mark %d may have been handed out", seq, highWater))}
	if _, err := s.appendLocked(ctx, []ledger.Record{rec}, nil); err != nil {
		s.closeDB()
		return fmt.Errorf("declare skipped sequence numbers: %w", err)
	}
	s.log.Warn("unclean shutdown: sequence numbers skipped", "db_head", seq, "resumed_at", highWater+1)
	return nil
}

// Close writes the exact head to the head file (fsynced) and closes the database.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	// The database first: the head file says "clean" only once nothing more can be written.
	errDB := s.closeDB()
	st := s.head.state
	st.seq, st.hash, st.clean = s.seq, s.hash, errDB == nil
	errHead := s.head.write(st, true)
	return errors.Join(errHead, errDB, s.head.close())
}

func (s *Store) closeDB() error {
	// The handles stay set: database/sql answers calls on a closed DB with an error, not a panic.
	var errs []error
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	if s.w != nil {
		errs = append(errs, s.w.Close())
	}
	return errors.Join(errs...)
}

// isCorruption reports whether err means the database file itself is damaged.
func isCorruption(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.Code == sqlite3.ErrCorrupt || se.Code == sqlite3.ErrNotADB || se.ExtendedCode == sqlite3.ErrIoErrShortRead
	}
	return errors.Is(err, ErrCorrupt)
}
