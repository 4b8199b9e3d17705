package checkpoint

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Errors of a witness, with the HTTP status C2SP tlog-witness gives them.
var (
	// ErrUnknownLog (404): the checkpoint's origin is not a log the witness follows.
	ErrUnknownLog = errors.New("unknown log")
)

// ConflictError (409) says the request's old size is not the size the witness last cosigned
// for the log; Size is that size. A Size larger than the device's tree means a rollback.
type ConflictError struct{ Size int64 }

func (e *ConflictError) Error() string {
	return fmt.Sprintf("witness holds a checkpoint of size %d", e.Size)
}

// maxProofLines bounds a consistency proof: 2·log2(2^63) hashes.
const maxProofLines = 128

// logState is what a witness keeps per log: the latest checkpoint it cosigned.
type logState struct {
	Size int64     `json:"size"`
	Hash tlog.Hash `json:"hash"`
	Note string    `json:"note"` // the signed checkpoint, for inspection
}

// Witness follows devices' logs and cosigns a checkpoint only if it is consistent with the last
// one it cosigned for that log (C2SP tlog-witness): it never cosigns a fork nor a smaller tree.
// Its state is a JSON file written durably before any cosignature leaves it, so a restart
// forgets nothing.
type Witness struct {
	cosigner *Cosigner
	logs     map[string]note.Verifier // by origin
	path     string
	log      *slog.Logger

	mu    sync.Mutex
	state map[string]logState
}

// NewWitness returns a witness that cosigns with cosigner the logs of the given device verifier
// keys (DeviceVerifierKey; the key's name is the log's origin), keeping its state in the file
// at statePath (created on first cosignature).
func NewWitness(cosigner *Cosigner, deviceKeys []string, statePath string, log *slog.Logger) (*Witness, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &Witness{cosigner: cosigner, logs: map[string]note.Verifier{}, path: statePath, log: log, state: map[string]logState{}}
	for _, k := range deviceKeys {
		v, err := note.NewVerifier(k)
		if err != nil {
			return nil, fmt.Errorf("log key %q: %w", k, err)
		}
		w.logs[v.Name()] = v
	}
	b, err := os.ReadFile(statePath)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("read witness state: %w", err)
	default:
		if err := json.Unmarshal(b, &w.state); err != nil {
			return nil, fmt.Errorf("decode witness state %s: %w", statePath, err)
		}
	}
	return w, nil
}

// Size returns the size of the latest checkpoint the witness cosigned for origin (0 if none).
func (w *Witness) Size(origin string) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.state[origin].Size
}

// AddCheckpoint checks signed (a checkpoint signed by its log's device key) against the last
// checkpoint cosigned for its origin: old must be that checkpoint's size (else *ConflictError),
// and proof must prove the new tree consistent with it (else ErrInconsistent). It records the
// new checkpoint durably and returns its cosignature as a note signature line. Errors wrap
// ErrUnknownLog, ErrSignature, ErrFormat, ErrInconsistent, or are a *ConflictError.
func (w *Witness) AddCheckpoint(old int64, proof tlog.TreeProof, signed []byte) ([]byte, error) {
	body, ok := noteBody(signed)
	if !ok {
		return nil, fmt.Errorf("checkpoint note: %w", ErrFormat)
	}
	first, _, _ := strings.Cut(string(body), "\n")
	v, ok := w.logs[first]
	if !ok {
		return nil, fmt.Errorf("origin %q: %w", first, ErrUnknownLog)
	}
	c, _, err := Open(signed, v)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	prev := w.state[c.Origin]
	if old != prev.Size {
		return nil, &ConflictError{Size: prev.Size}
	}
	if c.Size < old {
		return nil, fmt.Errorf("checkpoint of size %d below the old size %d: %w", c.Size, old, ErrFormat)
	}
	if old > 0 {
		if err := tlog.CheckTree(proof, c.Size, c.Hash, old, prev.Hash); err != nil {
			w.log.Warn("refused an inconsistent checkpoint", "origin", c.Origin, "old", old, "size", c.Size, "err", err)
			return nil, fmt.Errorf("checkpoint %d not consistent with %d: %v: %w", c.Size, old, err, ErrInconsistent)
		}
	}
	next := map[string]logState{}
	for k, s := range w.state {
		next[k] = s
	}
	next[c.Origin] = logState{Size: c.Size, Hash: c.Hash, Note: string(signed)}
	if err := writeState(w.path, next); err != nil {
		return nil, err
	}
	w.state = next
	cosigned, err := note.Sign(&note.Note{Text: c.String()}, w.cosigner)
	if err != nil {
		return nil, fmt.Errorf("cosign: %w", err)
	}
	_, sigLine, _ := bytes.Cut(cosigned, []byte("\n\n"))
	return sigLine, nil
}

// writeState writes the witness state durably: temporary file, fsync, rename, fsync of the dir.
func writeState(path string, state map[string]logState) error {
	b, err := json.MarshalIndent(state, "", "  ")
	if err != nil {
		return fmt.Errorf("encode witness state: %w", err)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".witness-*.tmp")
	if err != nil {
		return fmt.Errorf("write witness state: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write witness state: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync witness state: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write witness state: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("store witness state: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync witness dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync witness dir: %w", err)
	}
	return nil
}

// Handler serves C2SP tlog-witness: POST /add-checkpoint with the body
//
//	old <size>\n
//	<base64 consistency proof hash>\n   (zero or more)
//	\n
//	<signed checkpoint note>
//
// answered 200 with the cosignature line, 409 (text/x.tlog.size: the witness's size) on a
// wrong old size, 404 for an unknown log, 403 for a bad signature, 422 for a failed
// consistency proof, 400 for a malformed request.
func (w *Witness) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /add-checkpoint", func(rw http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		old, proof, signed, err := ParseAddCheckpoint(body)
		if err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		sig, err := w.AddCheckpoint(old, proof, signed)
		var conflict *ConflictError
		switch {
		case errors.As(err, &conflict):
			rw.Header().Set("Content-Type", "text/x.tlog.size")
			rw.WriteHeader(http.StatusConflict)
			fmt.Fprintf(rw, "%d\n", conflict.Size)
		case errors.Is(err, ErrUnknownLog):
			http.Error(rw, err.Error(), http.StatusNotFound)
		case errors.Is(err, ErrSignature):
			http.Error(rw, err.Error(), http.StatusForbidden)
		case errors.Is(err, ErrInconsistent):
			http.Error(rw, err.Error(), http.StatusUnprocessableEntity)
		case err != nil && errors.Is(err, ErrFormat):
			http.Error(rw, err.Error(), http.StatusBadRequest)
		case err != nil:
			w.log.Error("add-checkpoint", "err", err)
			http.Error(rw, "internal error", http.StatusInternalServerError)
		default:
			rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
			rw.Write(sig) //nolint:errcheck // the client went away
		}
	})
	return mux
}

// FormatAddCheckpoint builds an add-checkpoint request body (see Witness.Handler).
func FormatAddCheckpoint(old int64, proof tlog.TreeProof, signed []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", old)
	for _, h := range proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h[:]))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.Write(signed)
	return b.Bytes()
}

// ParseAddCheckpoint parses an add-checkpoint request body strictly.
func ParseAddCheckpoint(body []byte) (old int64, proof tlog.TreeProof, signed []byte, err error) {
	rd := bufio.NewReader(bytes.NewReader(body))
	line, err := rd.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "old ") {
		return 0, nil, nil, fmt.Errorf("add-checkpoint: first line: %w", ErrFormat)
	}
	s := strings.TrimSuffix(strings.TrimPrefix(line, "old "), "\n")
	old, err = strconv.ParseInt(s, 10, 64)
	if err != nil || old < 0 || strconv.FormatInt(old, 10) != s {
		return 0, nil, nil, fmt.Errorf("add-checkpoint: old size %q: %w", s, ErrFormat)
	}
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			return 0, nil, nil, fmt.Errorf("add-checkpoint: proof: %w", ErrFormat)
		}
		if line == "\n" {
			break
		}
		h, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(line, "\n"))
		if err != nil || len(h) != tlog.HashSize || len(proof) >= maxProofLines {
			return 0, nil, nil, fmt.Errorf("add-checkpoint: proof line: %w", ErrFormat)
		}
		proof = append(proof, tlog.Hash(h))
	}
	signed, _ = io.ReadAll(rd)
	if len(signed) == 0 {
		return 0, nil, nil, fmt.Errorf("add-checkpoint: no checkpoint: %w", ErrFormat)
	}
	return old, proof, signed, nil
}
