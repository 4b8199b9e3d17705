package ota

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/chargegate/chargegate/ota/bundle"
	"github.com/chargegate/chargegate/ota/durable"
)

// errTransient marks a download failure worth retrying (network, server 5xx, stall).
var errTransient = errors.New("network")

// errStalled is the cause of a request abandoned because nothing arrived in a window.
var errStalled = errors.New("no data received")

// maxChunkRetries is how often one chunk that fails its hash is fetched again before the
// bundle counts as tampered: a flipped bit in transit should not fail an update, a bundle
// whose bytes are wrong on the server must.
const maxChunkRetries = 3

// download fetches the bundle with Range resume until every payload is written to the
// inactive slot or a permanent error ends the update. It returns an error only when the
// state cannot be saved; when ctx ends (shutdown or Cancel) it returns nil.
func (a *Agent) download(ctx context.Context) error {
	failures, badChunks := 0, 0
	retry := newBackoff(a.cfg.RetryDelay, 5*time.Minute)
	for {
		before := a.current()
		err := a.fetch(ctx)
		if err == nil {
			a.setLastError(nil, 0)
			return nil
		}
		if ctx.Err() != nil {
			return nil
		}
		after := a.current()
		if after.Offset > before.Offset || after.Payload > before.Payload {
			failures, badChunks = 0, 0
			retry.Reset()
		}
		switch {
		case errors.Is(err, bundle.ErrChunkMismatch) && badChunks < maxChunkRetries:
			badChunks++
		case errors.Is(err, errTransient) && failures+1 < a.cfg.MaxAttempts:
			failures++
		case errors.Is(err, errTransient):
			a.setLastError(err, failures+1)
			return a.fail(after, fmt.Errorf("download: gave up after %d attempts without progress: %w", failures+1, err))
		default:
			a.setLastError(err, failures+1)
			return a.fail(after, fmt.Errorf("download: %w", err))
		}
		d := retry.NextBackOff()
		a.setLastError(err, failures+badChunks)
		a.log.Warn("download interrupted", "err", err, "offset", after.Offset, "attempt", failures+badChunks, "retry_in", d)
		if sleep(ctx, d) != nil {
			return nil
		}
	}
}

// fetch makes one HTTP request from the persisted cursor and writes what it receives. A
// rate guard watches it (see Config.StallTimeout).
func (a *Agent) fetch(ctx context.Context) error {
	r := a.current()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	got := &counter{}
	defer a.guardRate(ctx, got, cancel)()
	err := a.fetchFrom(ctx, r, got)
	if err != nil {
		// The guard's verdict explains the read error it caused ("context canceled").
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
			return cause
		}
	}
	return err
}

func (a *Agent) fetchFrom(ctx context.Context, r record, got *counter) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.URL, nil)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	if r.Offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", r.Offset))
		if r.ETag != "" {
			req.Header.Set("If-Range", r.ETag)
		}
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return classify(err)
	}
	defer resp.Body.Close()
	total, skip, err := a.checkResponse(resp, r)
	if err != nil {
		return err
	}
	got.r = &bodyReader{r: resp.Body}
	var body io.Reader = got
	if a.cfg.BandwidthLimit > 0 {
		body = &limiter{ctx: ctx, r: body, rate: a.cfg.BandwidthLimit, start: time.Now()}
	}
	pos := &position{r: body, n: r.Offset - skip}
	if skip > 0 {
		// The server ignored Range and sent the whole bundle: drop what we have.
		if _, err := io.CopyN(io.Discard, pos, skip); err != nil {
			return a.readErr(pos, total, fmt.Errorf("skip %d bytes of a full response: %w", skip, err))
		}
	}
	if r.Offset == 0 {
		r.Total, r.ETag = total, resp.Header.Get("ETag")
	}
	if err := a.consume(ctx, pos, r); err != nil {
		return a.readErr(pos, total, err)
	}
	return nil
}

// checkResponse validates status and size against the pinned bundle. It returns the
// bundle size (-1 if unknown) and how many leading bytes of the body to skip.
func (a *Agent) checkResponse(resp *http.Response, r record) (total, skip int64, err error) {
	switch resp.StatusCode {
	case http.StatusOK:
		total = resp.ContentLength
		skip = r.Offset
	case http.StatusPartialContent:
		var start int64
		start, total, err = parseContentRange(resp.Header.Get("Content-Range"))
		if err != nil {
			return 0, 0, fmt.Errorf("%w: %v", errTransient, err)
		}
		if start != r.Offset {
			return 0, 0, fmt.Errorf("%w: asked for offset %d, got %d", errTransient, r.Offset, start)
		}
	case http.StatusRequestedRangeNotSatisfiable:
		return 0, 0, fmt.Errorf("%w: server has no byte %d (416)", ErrBundleChanged, r.Offset)
	default:
		err := fmt.Errorf("get bundle: HTTP %s", resp.Status)
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			err = fmt.Errorf("%w: %v", errTransient, err)
		}
		return 0, 0, err
	}
	if r.Offset > 0 {
		if r.Total > 0 && total >= 0 && total != r.Total {
			return 0, 0, fmt.Errorf("%w: size %d, was %d", ErrBundleChanged, total, r.Total)
		}
		if et := resp.Header.Get("ETag"); r.ETag != "" && et != "" && et != r.ETag {
			return 0, 0, fmt.Errorf("%w: ETag %s, was %s", ErrBundleChanged, et, r.ETag)
		}
	}
	return total, skip, nil
}

// parseContentRange reads "bytes START-END/TOTAL" (TOTAL may be "*": unknown, -1).
func parseContentRange(s string) (start, total int64, err error) {
	rest, ok := strings.CutPrefix(s, "bytes ")
	span, size, ok2 := strings.Cut(rest, "/")
	first, _, ok3 := strings.Cut(span, "-")
	if !ok || !ok2 || !ok3 {
		return 0, 0, fmt.Errorf("bad Content-Range %q", s)
	}
	if start, err = strconv.ParseInt(first, 10, 64); err != nil {
		return 0, 0, fmt.Errorf("bad Content-Range %q", s)
	}
	if size == "*" {
		return start, -1, nil
	}
	if total, err = strconv.ParseInt(size, 10, 64); err != nil {
		return 0, 0, fmt.Errorf("bad Content-Range %q", s)
	}
	return start, total, nil
}

// readErr classifies a failure while reading the body: running out of bytes before the
// bundle's advertised end is a network cut (retry); running out at its end means the
// bundle itself is short.
func (a *Agent) readErr(pos *position, total int64, err error) error {
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, bundle.ErrTruncated) {
		if errors.Is(err, errBody) {
			return fmt.Errorf("%w: %v", errTransient, err)
		}
		return err
	}
	if total >= 0 && pos.n >= total {
		if errors.Is(err, bundle.ErrTruncated) {
			return err
		}
		return fmt.Errorf("%w: %v", bundle.ErrTruncated, err)
	}
	return fmt.Errorf("%w: connection ended at byte %d of %d: %v", errTransient, pos.n, total, err)
}

// errBody marks errors from the response body (connection reset, stall cancel).
var errBody = errors.New("read response")

// consume reads the bundle from the cursor in r: the manifest first if at offset 0, then
// each payload chunk by chunk. A chunk is verified before it is written; the slot is
// synced and the cursor saved after every chunk.
func (a *Agent) consume(ctx context.Context, pos *position, r record) error {
	var rd *bundle.Reader
	var m bundle.Manifest
	var err error
	if r.Offset == 0 {
		rd = bundle.NewReader(pos)
		var raw, sig []byte
		if m, raw, sig, err = rd.Manifest(a.cfg.TrustedKeys); err != nil {
			return err
		}
		if err := a.admit(m, r.Floor); err != nil {
			return err
		}
		r.Manifest, r.Signatures = raw, sig
		// Resume from the first payload's header from now on; saved before the first
		// write to the slot.
		r.Payload, r.InEntry, r.Chunk, r.Written, r.Offset = 0, false, 0, 0, rd.NextHeader()
		a.log.Info("bundle accepted", "version", m.Version, "security_version", m.SecurityVersion)
		if err := a.save(r); err != nil {
			return err
		}
	} else {
		if m, err = a.manifest(r); err != nil {
			return err
		}
		if r.Payload < 0 || r.Payload > len(m.Payloads) || (r.InEntry && r.Payload == len(m.Payloads)) {
			return fmt.Errorf("%w: download cursor at payload %d of %d", ErrStateCorrupt, r.Payload, len(m.Payloads))
		}
		if !r.InEntry {
			rd = bundle.ResumeReader(pos, r.Offset, m, r.Payload)
		}
	}
	for {
		if rd != nil {
			p, data, err := rd.NextPayload()
			if errors.Is(err, io.EOF) {
				r.State = StateDownloaded
				a.log.Info("download complete", "bytes", pos.n)
				return a.save(r)
			}
			if err != nil {
				return err
			}
			r.InEntry, r.Data, r.Chunk, r.Offset = true, data, 0, data
			a.log.Debug("payload", "name", p.Name, "size", p.Size, "offset", data)
		}
		p := m.Payloads[r.Payload]
		if err := a.writePayload(ctx, pos, p, &r); err != nil {
			return err
		}
		end := bundle.PaddedEnd(r.Data, p.Size)
		if _, err := io.CopyN(io.Discard, pos, end-pos.n); err != nil {
			return fmt.Errorf("skip padding: %w", err)
		}
		r.InEntry, r.Payload, r.Chunk, r.Offset = false, r.Payload+1, 0, end
		if err := a.save(r); err != nil {
			return err
		}
		rd = bundle.ResumeReader(pos, end, m, r.Payload)
	}
}

// admit applies the device's policy to a verified manifest.
func (a *Agent) admit(m bundle.Manifest, floor uint64) error {
	if !m.IsCompatible(a.cfg.Hardware) {
		return fmt.Errorf("%w: %s is for %v", ErrIncompatible, a.cfg.Hardware, m.Compatible)
	}
	floor = max(floor, a.floorMin())
	if m.SecurityVersion < floor {
		return fmt.Errorf("%w: security version %d, floor %d", ErrDowngrade, m.SecurityVersion, floor)
	}
	return nil
}

// writePayload writes p's chunks from r.Chunk on, reading them from pos.
func (a *Agent) writePayload(ctx context.Context, pos *position, p bundle.Payload, r *record) error {
	f, err := a.cfg.Slots.OpenTarget(ctx, r.To, p.Type)
	if err != nil {
		return fmt.Errorf("open slot %s for %s: %w", r.To, p.Name, err)
	}
	defer f.Close()
	buf := make([]byte, p.ChunkSize)
	for k := r.Chunk; k < p.NumChunks(); k++ {
		c := buf[:p.ChunkLen(k)]
		if _, err := io.ReadFull(pos, c); err != nil {
			return fmt.Errorf("read payload %s chunk %d: %w", p.Name, k, err)
		}
		if err := p.VerifyChunk(k, c); err != nil {
			return err // nothing of a bad chunk reaches the slot
		}
		if _, err := f.WriteAt(c, k*p.ChunkSize); err != nil {
			return fmt.Errorf("write slot %s chunk %d: %w", r.To, k, err)
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("sync slot %s: %w", r.To, err)
		}
		r.Chunk, r.Offset, r.Written = k+1, r.Data+min((k+1)*p.ChunkSize, p.Size), r.Written+int64(len(c))
		if err := a.save(*r); err != nil {
			return err
		}
	}
	r.Offset = r.Data + p.Size
	return truncateRegular(f, p.Size)
}

// truncateRegular cuts a regular file to size (a previous, longer payload may have been
// there); block devices keep their size.
func truncateRegular(f durable.File, size int64) error {
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat slot target: %w", err)
	}
	if !st.Mode().IsRegular() || st.Size() == size {
		return nil
	}
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("truncate slot target: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync slot target: %w", err)
	}
	return nil
}

// position counts the bundle offset of what has been read.
type position struct {
	r io.Reader
	n int64
}

func (p *position) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	return n, err
}

// bodyReader marks errors from the response body (connection reset, cancel).
type bodyReader struct{ r io.Reader }

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = fmt.Errorf("%w: %w", errBody, err)
	}
	return n, err
}

// limiter caps the average read rate at rate bytes per second.
type limiter struct {
	ctx   context.Context
	r     io.Reader
	rate  int64
	start time.Time
	n     int64
}

func (l *limiter) Read(b []byte) (int, error) {
	if maxRead := max(l.rate/10, 512); int64(len(b)) > maxRead {
		b = b[:maxRead]
	}
	n, err := l.r.Read(b)
	l.n += int64(n)
	due := l.start.Add(time.Duration(float64(l.n) / float64(l.rate) * float64(time.Second)))
	if d := time.Until(due); d > 0 {
		if serr := sleep(l.ctx, d); serr != nil && err == nil {
			err = serr
		}
	}
	return n, err
}

// fetchManifest reads only the head of a bundle: its verified manifest, checked against
// this device's policy.
func (a *Agent) fetchManifest(ctx context.Context, url string) (bundle.Manifest, error) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.StallTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return bundle.Manifest{}, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=0-%d", bundle.MaxManifestSize+bundle.MaxSignatureSize+4*512))
	resp, err := a.http.Do(req)
	if err != nil {
		return bundle.Manifest{}, fmt.Errorf("get bundle head: %w", classify(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent {
		return bundle.Manifest{}, fmt.Errorf("get bundle head: HTTP %s", resp.Status)
	}
	m, _, _, err := bundle.NewReader(resp.Body).Manifest(a.cfg.TrustedKeys)
	if err != nil {
		return bundle.Manifest{}, err
	}
	return m, a.admit(m, a.current().Floor)
}
