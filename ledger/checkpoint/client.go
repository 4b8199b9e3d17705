package checkpoint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// WitnessClient asks one witness (C2SP tlog-witness over HTTP) to cosign one device's
// checkpoints: use one client per witness and device, and one goroutine at a time.
type WitnessClient struct {
	// URL is the witness's base URL; requests go to URL + "/add-checkpoint".
	URL string
	// Verifier checks the witness's cosignatures (NewCosignatureVerifier of its key).
	Verifier *CosignatureVerifier
	// HTTP is the client; nil means one with a 10 s timeout.
	HTTP *http.Client
	// known is the size the witness last cosigned, as far as this client knows.
	known int64
}

// Result is what one witness said.
type Result struct {
	Witness     string // the witness's name
	Size        int64  // the size the witness holds after the exchange
	Cosignature []byte // the cosignature line, when it cosigned
	Err         error
}

// Cosign sends the signed checkpoint c of tree to the witness with a consistency proof from
// the size the witness holds. A witness holding a larger tree than c is ErrRolledBack; one
// that refuses the consistency proof is ErrInconsistent (the device's log forked from what the
// witness saw). Other failures (unreachable witness) are returned as they come.
func (w *WitnessClient) Cosign(ctx context.Context, tree *Tree, c Checkpoint, signed []byte) Result {
	res := Result{Witness: w.Verifier.Name(), Size: w.known}
	for attempt := 0; attempt < 2; attempt++ {
		if w.known > c.Size {
			res.Err = fmt.Errorf("witness %s holds size %d, the device only %d: %w", res.Witness, w.known, c.Size, ErrRolledBack)
			return res
		}
		proof, err := tree.ConsistencyProof(w.known, c.Size)
		if err != nil {
			res.Err = err
			return res
		}
		status, body, err := w.post(ctx, FormatAddCheckpoint(w.known, proof, signed))
		if err != nil {
			res.Err = err
			return res
		}
		switch status {
		case http.StatusOK:
			if err := w.checkCosignature(c, signed, body); err != nil {
				res.Err = err
				return res
			}
			w.known, res.Size, res.Cosignature = c.Size, c.Size, body
			return res
		case http.StatusConflict:
			size, err := strconv.ParseInt(strings.TrimSpace(string(body)), 10, 64)
			if err != nil || size < 0 {
				res.Err = fmt.Errorf("witness %s: conflict with size %q: %w", res.Witness, body, ErrFormat)
				return res
			}
			w.known, res.Size = size, size
			continue
		case http.StatusUnprocessableEntity:
			res.Err = fmt.Errorf("witness %s refuses checkpoint %d as inconsistent with %d: %s: %w", res.Witness, c.Size, w.known, bytes.TrimSpace(body), ErrInconsistent)
			return res
		default:
			res.Err = fmt.Errorf("witness %s answered %d: %s", res.Witness, status, bytes.TrimSpace(body))
			return res
		}
	}
	res.Err = fmt.Errorf("witness %s: conflicting sizes twice", res.Witness)
	return res
}

func (w *WitnessClient) post(ctx context.Context, body []byte) (int, []byte, error) {
	hc := w.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(w.URL, "/")+"/add-checkpoint", bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("witness request: %w", err)
	}
	res, err := hc.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("ask witness %s: %w", w.Verifier.Name(), err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if err != nil {
		return 0, nil, fmt.Errorf("read witness %s: %w", w.Verifier.Name(), err)
	}
	return res.StatusCode, b, nil
}

// checkCosignature verifies the witness's signature line over the checkpoint.
func (w *WitnessClient) checkCosignature(c Checkpoint, signed, line []byte) error {
	body, _ := noteBody(signed)
	n, err := note.Open(append(append(append([]byte{}, body...), '\n'), line...), note.VerifierList(w.Verifier))
	if err != nil || n.Text != c.String() {
		return fmt.Errorf("witness %s: cosignature does not verify: %v: %w", w.Verifier.Name(), err, ErrSignature)
	}
	return nil
}

// CheckWitnesses builds and signs the checkpoint of tree and asks every witness to cosign it.
// It is what the gateway does at start and on every checkpoint: an error wrapping
// ErrRolledBack (a witness holds a larger tree: the data directory was rolled back) or
// ErrInconsistent (a witness saw a different history: the chain forked) must raise the alarm.
// Witnesses that cannot be reached are reported in the results, not as an error.
func CheckWitnesses(ctx context.Context, ws []*WitnessClient, tree *Tree, signer note.Signer) (Checkpoint, []byte, []Result, error) {
	size, root, err := tree.Root()
	if err != nil {
		return Checkpoint{}, nil, nil, err
	}
	c := Checkpoint{Origin: signer.Name(), Size: size, Hash: root}
	signed, err := Sign(c, signer)
	if err != nil {
		return c, nil, nil, err
	}
	results := make([]Result, len(ws))
	var alarm error
	for i, w := range ws {
		results[i] = w.Cosign(ctx, tree, c, signed)
		if e := results[i].Err; e != nil && (errors.Is(e, ErrRolledBack) || errors.Is(e, ErrInconsistent)) && alarm == nil {
			alarm = e
		}
		if results[i].Cosignature != nil {
			signed = append(signed, results[i].Cosignature...)
		}
	}
	return c, signed, results, alarm
}
