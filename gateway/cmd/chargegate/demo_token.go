package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/chargegate/chargegate/gateway"
	"github.com/chargegate/chargegate/gateway/access"
)

// The demo plays an eMSP that issues its driver a signed capability token (gateway/access), and
// the driver who presents it whenever the charger is idle: every demo session is authorized by
// the token, verified on the box without a network, and bounded by its limits.
const (
	demoIssuerKID = "demo-emsp"
	demoIDToken   = "DEMO0001"
	demoSessionS  = 10 // the token's duration limit, seconds: a few sessions in a short demo
)

// newIssuer creates the demo eMSP's key pair (dir/issuer.key 0600, dir/issuer.pub) and returns
// the public key's path, which the gateway's access.issuers names.
func (d *demo) newIssuer() (string, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", fmt.Errorf("issuer key: %w", err)
	}
	privPEM, pubPEM, err := access.MarshalKeyPEM(priv)
	if err != nil {
		return "", err
	}
	pub := filepath.Join(d.dir, "issuer.pub")
	if err := os.WriteFile(filepath.Join(d.dir, "issuer.key"), privPEM, 0o600); err != nil {
		return "", err
	}
	if err := os.WriteFile(pub, pubPEM, 0o644); err != nil {
		return "", err
	}
	d.issuer = priv
	return pub, nil
}

func (d *demo) tokenFile() string { return filepath.Join(d.dir, "token.jws") }

// drive issues the token, starts a session with it whenever the charger is idle, and writes each
// finished session's receipt (fetched from the local API, as a phone would) to
// dir/receipts/SESSION.json — again once it is signed with its anchor.
func (d *demo) drive(ctx context.Context, app *App) {
	now := time.Now()
	var evses []string
	for _, p := range app.points {
		evses = append(evses, p.id)
	}
	tok, err := access.Issue(d.issuer, demoIssuerKID, access.Claims{
		Issuer: "chargegate demo eMSP", Subject: demoIDToken, EVSEs: evses,
		IssuedAt: now.Unix(), Expiry: now.Add(24 * time.Hour).Unix(), Limits: access.Limits{MaxDurationS: demoSessionS},
	})
	if err == nil {
		err = os.WriteFile(d.tokenFile(), []byte(tok+"\n"), 0o600)
	}
	if err != nil {
		fmt.Fprintln(d.out, "chargegate demo: issue the token:", err)
		return
	}
	if err := os.MkdirAll(filepath.Join(d.dir, "receipts"), 0o700); err != nil {
		fmt.Fprintln(d.out, "chargegate demo:", err)
		return
	}
	client := &http.Client{Timeout: 2 * time.Second}
	written := map[string][]byte{}
	n := 0
	every(ctx, 500*time.Millisecond, func() {
		for _, p := range app.points {
			st := p.gw.Status()
			if st.Session == nil && len(st.Alarms) == 0 && st.Meter.Readable {
				n++
				cmd, _ := json.Marshal(gateway.Command{RequestID: fmt.Sprintf("demo-%d", n), Token: tok, EVSE: p.n})
				app.operator.Execute(ctx, gateway.CmdStart, cmd) // refused while the meter warms up: tried again
			}
			if st.LastSession == nil {
				continue
			}
			id := st.LastSession.ID
			doc, ok := fetchReceipt(ctx, client, app.APIAddr(), id)
			if !ok || bytes.Equal(written[id], doc) {
				continue
			}
			path := filepath.Join(d.dir, "receipts", id+".json")
			if err := os.WriteFile(path, append(doc, '\n'), 0o644); err == nil {
				written[id], d.receipt = doc, path
			}
		}
	})
}

func fetchReceipt(ctx context.Context, c *http.Client, addr, session string) ([]byte, bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/api/v1/sessions/"+session+"/receipt", nil)
	if err != nil {
		return nil, false
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return b, err == nil && resp.StatusCode == http.StatusOK
}
