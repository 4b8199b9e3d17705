package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/chargegate/chargegate/gateway"
	"github.com/chargegate/chargegate/gateway/access"
	"github.com/chargegate/chargegate/gateway/ocpp"
	"github.com/chargegate/chargegate/hal"
	"github.com/chargegate/chargegate/hal/mfrc522"
	halperiph "github.com/chargegate/chargegate/hal/periph"
	halsim "github.com/chargegate/chargegate/hal/sim"
	"github.com/chargegate/chargegate/ledger"
)

// Refusal events are rate-limited to refusalBurst per refusalWindow (access.RefusalGate): a card
// held at the reader or a replayed token cannot fill the store.
const (
	refusalWindow = time.Minute
	refusalBurst  = 10
)

// openAccess builds the authorization component from the access section: the operator's
// allow-list, the cache, signed capability tokens from the configured issuers, verified on the
// box, with the offline policy. Its state lives in DATA_DIR/access.
func (a *App) openAccess() (*access.Authorizer, error) {
	c := a.cfg.Access
	paths := map[string]string{}
	for _, s := range c.Issuers {
		kid, file, _ := strings.Cut(s, "=")
		paths[kid] = file
	}
	keys, err := access.LoadIssuerKeys(paths, os.ReadFile)
	if err != nil {
		return nil, fmt.Errorf("access.issuers: %w", err)
	}
	pol := access.DefaultPolicy()
	pol.OfflineUnknown = c.OfflineUnknown
	dir := filepath.Join(a.cfg.Device.DataDir, "access")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create access state directory: %w", err)
	}
	auth, err := access.New(access.Config{
		Dir: dir, Issuers: keys, EVSEID: a.cfg.Device.EVSEID, EVSEGroups: c.EVSEGroups, Policy: pol,
		// The online check is OCPP Authorize when OCPP is on; without it the box decides
		// offline, by its policy.
		Online: a.onlineChecker(),
		Log:    a.log.With("part", "access"),
	})
	if err != nil {
		return nil, fmt.Errorf("access: %w", err)
	}
	a.refusals = access.NewRefusalGate(refusalWindow, refusalBurst)
	return auth, nil
}

// refused records a refused attempt to charge as a signed auth_refused event, rate-limited; via
// names the channel (rfid, mqtt). The detail carries the token hash, never the id_token.
func (a *App) refused(ctx context.Context, via string, d access.Decision) {
	ok, suppressed := a.refusals.Allow(time.Now())
	if !ok {
		return
	}
	detail := d.Detail() + " via=" + via
	if suppressed > 0 {
		detail += fmt.Sprintf(" suppressed=%d", suppressed)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := a.gw.RecordEvent(rctx, ledger.EventAuthRefused, detail); err != nil {
		a.log.Error("record the refused authorization", "err", err)
	}
}

// openReader opens the card reader access.rfid.reader names: the MFRC522 on SPI, or the
// simulated reader fed through a FIFO. Nothing when none is configured.
func (a *App) openReader() error {
	c := a.cfg.Access.RFID
	switch c.Reader {
	case "":
		return nil
	case "sim":
		a.simReader = halsim.NewReader()
		a.reader = a.simReader
		a.readerFIFO = c.SimFIFO
		if a.readerFIFO == "" {
			a.readerFIFO = filepath.Join(a.cfg.Device.DataDir, "rfid.fifo")
		}
		if err := makeFIFO(a.readerFIFO); err != nil {
			return fmt.Errorf("access.rfid.sim_fifo: %w", err)
		}
		return nil
	case "mfrc522":
		host, err := halperiph.Open() // initialises periph's host drivers, SPI included
		if err != nil {
			return fmt.Errorf("access.rfid: %w", err)
		}
		r, err := mfrc522.Open(mfrc522.Config{SPI: c.SPI, Reset: c.ResetPin, IRQ: c.IRQPin, Gain: c.Gain}, host,
			mfrc522.Options{Log: a.log.With("part", "rfid")})
		if err != nil {
			return fmt.Errorf("access.rfid: %w", err)
		}
		a.reader = r
		return nil
	}
	return fmt.Errorf("access.rfid.reader: unknown reader %q", c.Reader)
}

// makeFIFO creates the named pipe at path (mode 0600), keeping one that is already there.
func makeFIFO(path string) error {
	fi, err := os.Stat(path)
	if err == nil {
		if fi.Mode()&os.ModeNamedPipe == 0 {
			return fmt.Errorf("%s exists and is not a FIFO", path)
		}
		return nil
	}
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		return fmt.Errorf("create FIFO %s: %w", path, err)
	}
	return nil
}

// serveSimReader feeds the simulated reader from its FIFO. The FIFO is opened read-write so it
// never reports end-of-file when a writer closes it, and closed when ctx ends.
func (a *App) serveSimReader(ctx context.Context) error {
	f, err := os.OpenFile(a.readerFIFO, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open card reader FIFO: %w", err)
	}
	go func() {
		<-ctx.Done()
		f.Close()
	}()
	log := a.log.With("part", "rfid")
	return a.simReader.Serve(ctx, f, func(line string, err error) { log.Warn("card reader command", "line", line, "err", err) })
}

// readCards turns each card presented at the reader into a decision: a card that may stop the
// running session stops it (the same card, or one of the same group: access.Authorizer.MayStop);
// otherwise the card is authorized (allow-list, cache, online check, offline policy) and starts
// a session. Every refusal is recorded in the chain.
func (a *App) readCards(ctx context.Context) error {
	cards := a.reader.Cards()
	log := a.log.With("part", "rfid")
	for {
		select {
		case <-ctx.Done():
			return nil
		case c, ok := <-cards:
			if !ok {
				return nil
			}
			if c.Err != nil {
				log.Info("card read failed", "err", c.Err)
				continue
			}
			a.tap(ctx, c.IDToken())
		}
	}
}

// tap handles one card presentation.
func (a *App) tap(ctx context.Context, idToken string) {
	log := a.log.With("part", "rfid", "token_hash", access.TokenHash(idToken))
	if err := gateway.ValidIDToken(idToken); err != nil {
		log.Warn("card UID is not an id_token", "err", err)
		return
	}
	res, err := a.gw.StopIf(ctx, func(hash, group string) bool {
		return a.access.MayStop(hash, group, access.Stopper{IDToken: idToken})
	})
	switch {
	case err == nil:
		log.Info("session stopped at the reader", "session", res["session_id"])
		return
	case errors.Is(err, gateway.ErrUnauthorized):
		a.refused(ctx, "rfid", access.Decision{Source: access.SourceNone, TokenHash: access.TokenHash(idToken), Reason: "not_session_holder"})
		log.Info("card may not stop the running session")
		return
	case !errors.Is(err, gateway.ErrNoSession):
		log.Warn("stop at the reader", "err", err)
		return
	}
	d := a.access.Authorize(ctx, access.Request{IDToken: idToken})
	if !d.Allowed {
		a.refused(ctx, "rfid", d)
		return
	}
	res, err = a.sessions.Do(ctx, gateway.Command{Name: gateway.CmdStart, RequestID: "rfid-" + randomID(), IDToken: idToken, Decision: &d})
	if err != nil {
		if rerr := a.access.Release(d); rerr != nil {
			log.Error("give back the single-use token", "err", rerr)
		}
		log.Warn("start at the reader", "err", err)
		return
	}
	log.Info("session started at the reader", "session", res["session_id"], "source", string(d.Source))
}

func randomID() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

var _ hal.CardReader = (*halsim.Reader)(nil)

// sharedList is the access allow-list as OCPP's Local Authorization List (ocpp.LocalList): with
// OCPP on, the CSMS's SendLocalList and the operator's allow_list command change one list. An
// idTag's parentIdTag is the entry's group, its expiryDate the entry's expiry.
type sharedList struct{ l *access.AllowList }

func (s sharedList) LookupTag(idTag string) (ocpp.LocalListEntry, bool) {
	e, ok := s.l.Get(idTag)
	if !ok {
		return ocpp.LocalListEntry{}, false
	}
	status := e.Status
	if status == "" {
		status = "Accepted"
	}
	return ocpp.LocalListEntry{IDTag: e.IDToken, Status: status, Expiry: e.Expires, Parent: e.Group}, true
}

func (s sharedList) ListVersion() int64 { return s.l.Version() }

func (s sharedList) ApplyList(version int64, full bool, entries []ocpp.LocalListEntry) error {
	var put []access.ListEntry
	var remove []string
	for _, e := range entries {
		if e.Status == "" {
			remove = append(remove, e.IDTag)
			continue
		}
		le := access.ListEntry{IDToken: e.IDTag, Group: e.Parent, Expires: e.Expiry, Status: e.Status}
		if old, ok := s.l.Get(e.IDTag); ok {
			le.Note, le.Limits = old.Note, old.Limits // what OCPP cannot say stays the operator's
		}
		put = append(put, le)
	}
	return s.l.Update(version, full, put, remove)
}

// shareLocalList makes the access allow-list OCPP's Local Authorization List when OCPP is on.
func (a *App) shareLocalList() {
	if a.ocpp != nil && a.access != nil {
		a.ocpp.ShareLocalList(sharedList{a.access.AllowList()})
	}
}

// onlineChecker returns the central system's check of an id_token: the CSMS's Authorize when
// OCPP is on (ocpp.ChargePoint.OnlineChecker: the CSMS only, its parentIdTag as the token's
// group; the allow-list and the cache are the access component's), else nil.
func (a *App) onlineChecker() access.OnlineChecker {
	if a.ocpp == nil {
		return nil
	}
	return a.ocpp.OnlineChecker()
}
