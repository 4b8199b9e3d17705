package ocpp

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/chargegate/chargegate/ota"
	"github.com/chargegate/chargegate/ota/bundle"
)

// Firmware Management (OCPP 1.6 §5.19 UpdateFirmware, §4.5 FirmwareStatusNotification) and
// signed firmware (Security Whitepaper edition 3, §3.5 SignedUpdateFirmware,
// SignedFirmwareStatusNotification): both hand the location to the A/B update agent (package
// ota), which downloads, verifies, waits for the running session to end, installs, restarts
// into the new slot and commits after the health check. The charge point follows the agent's
// state and reports it; the job is kept in ocpp.db so that the report goes on after the
// restart into the new firmware.

// Firmware is the update agent as the charge point drives it (FirmwareAgent adapts ota.Agent).
type Firmware interface {
	// Update starts an update from an http(s) bundle URL once the request is persisted; it
	// fails when an update runs already or the agent is broken.
	Update(ctx context.Context, url string) error
	// Progress reports the agent's state.
	Progress() FirmwareProgress
}

// FirmwareProgress is the update agent's state as the charge point maps it.
type FirmwareProgress struct {
	State ota.State
	Error string // why the update failed or rolled back
	// BadBundle: the update failed because the bundle did not verify (signature, hashes,
	// hardware, security floor), not because the download failed.
	BadBundle bool
	// BadSignature: BadBundle because of the bundle's signature (no trusted key, bad signature).
	BadSignature bool
	// WaitingFor says what holds a downloaded update before it installs (the running charging
	// session, the maintenance window); empty when nothing does.
	WaitingFor string
}

// FirmwareAgent adapts the update agent.
func FirmwareAgent(a *ota.Agent) Firmware { return agentFirmware{a} }

type agentFirmware struct{ a *ota.Agent }

func (f agentFirmware) Update(ctx context.Context, url string) error { return f.a.Update(ctx, url) }

// Progress classifies a failure by the agent's error text: ota.Status carries the error as a
// string, and the bundle errors are the sentinels of package bundle and ota.
func (f agentFirmware) Progress() FirmwareProgress {
	st := f.a.Status()
	p := FirmwareProgress{State: st.State, Error: st.Error, WaitingFor: st.WaitingFor}
	if st.State == ota.StateFailed {
		for _, e := range []error{bundle.ErrUnsigned, bundle.ErrUnknownKey, bundle.ErrBadSignature} {
			if strings.Contains(st.Error, e.Error()) {
				p.BadBundle, p.BadSignature = true, true
			}
		}
		for _, e := range []error{bundle.ErrMalformed, bundle.ErrChunkMismatch, bundle.ErrHashMismatch, ota.ErrIncompatible, ota.ErrDowngrade} {
			if strings.Contains(st.Error, e.Error()) {
				p.BadBundle = true
			}
		}
	}
	return p
}

// Firmware statuses (OCPP 1.6 §7.25 FirmwareStatus; Security Whitepaper FirmwareStatusEnumType).
const (
	fwDownloaded                = "Downloaded"
	fwDownloadFailed            = "DownloadFailed"
	fwDownloading               = "Downloading"
	fwDownloadScheduled         = "DownloadScheduled"
	fwIdle                      = "Idle"
	fwInstallationFailed        = "InstallationFailed"
	fwInstalling                = "Installing"
	fwInstalled                 = "Installed"
	fwInstallRebooting          = "InstallRebooting"
	fwInstallScheduled          = "InstallScheduled"
	fwInstallVerificationFailed = "InstallVerificationFailed"
	fwInvalidSignature          = "InvalidSignature"
	fwSignatureVerified         = "SignatureVerified"
)

// Security events of firmware updates (Security Whitepaper, security events list).
const (
	EventFirmwareUpdated                    = "FirmwareUpdated"
	EventInvalidFirmwareSignature           = "InvalidFirmwareSignature"
	EventInvalidFirmwareSigningCertificate  = "InvalidFirmwareSigningCertificate"
	firmwareKey                             = "chargegate:firmware"
	firmwareManifestPrefix                  = "chargegate-bundle-manifest/1\n"
	maxFirmwareCertificate, maxSignatureB64 = 5500, 800
)

// firmwareJob is an update the CSMS asked for, persisted as the config key
// "chargegate:firmware" (see doc.go, "Disk format").
type firmwareJob struct {
	ID        int64     `json:"id"` // when it was asked for (Unix ns): tells jobs apart
	Signed    bool      `json:"signed,omitempty"`
	OCPP201   bool      `json:"ocpp201,omitempty"` // asked for by 2.0.1's UpdateFirmware: its statuses
	RequestID int       `json:"requestId,omitempty"`
	Location  string    `json:"location"`
	Retrieve  time.Time `json:"retrieve"`
	Started   bool      `json:"started,omitempty"` // handed to the agent
	Sent      []string  `json:"sent,omitempty"`    // statuses delivered, in order
	Final     string    `json:"final,omitempty"`   // a failure decided before the agent ran
	Detail    string    `json:"detail,omitempty"`
}

// level orders the agent's states for the milestone lists below.
func level(s ota.State) int {
	switch s {
	case ota.StateDownloading:
		return 1
	case ota.StateDownloaded, ota.StateWaiting:
		return 2
	case ota.StateInstalling:
		return 3
	case ota.StateInstalled, ota.StateTrial:
		return 4
	case ota.StateCommitted:
		return 5
	}
	return 0
}

type milestone struct {
	status string
	level  int
}

// The statuses each kind of request reports, in order, with the agent level that reaches
// them. UpdateFirmware: Downloading, Downloaded (also while waiting for the session to end),
// Installing, Installed (after the new slot committed). SignedUpdateFirmware adds
// SignatureVerified (the bundle's manifest was checked against the request's signature before
// the download), InstallScheduled (waiting for the running session) and InstallRebooting.
// 2.0.1's UpdateFirmware reports the signed list, SignatureVerified only when the request
// carried a signature.
var (
	plainMilestones  = []milestone{{fwDownloading, 1}, {fwDownloaded, 2}, {fwInstalling, 3}, {fwInstalled, 5}}
	signedMilestones = []milestone{{fwDownloading, 1}, {fwDownloaded, 2}, {fwSignatureVerified, 2}, {fwInstallScheduled, 2},
		{fwInstalling, 3}, {fwInstallRebooting, 4}, {fwInstalled, 5}}
)

// failure maps a failed or rolled-back update to its final status. A signed job and any
// 2.0.1 job (FirmwareStatusEnumType, L01/L02) tell a bad signature and a bundle that does not
// verify apart from a failed installation.
func (j *firmwareJob) failure(p FirmwareProgress) string {
	strict := j.Signed || j.OCPP201
	switch {
	case strict && p.BadSignature:
		return fwInvalidSignature
	case strict && p.BadBundle:
		return fwInstallVerificationFailed
	case p.BadBundle:
		return fwInstallationFailed
	case p.State == ota.StateRolledBack:
		return fwInstallationFailed
	case !slices.Contains(j.Sent, fwDownloaded):
		return fwDownloadFailed
	}
	return fwInstallationFailed
}

// next returns the next status to report for j with the agent at p, and whether it ends the
// job; "" when nothing is due.
func (j *firmwareJob) next(p FirmwareProgress, now time.Time) (status string, final bool) {
	if j.Final != "" {
		return j.Final, true
	}
	if !j.Started {
		if (j.Signed || j.OCPP201) && now.Before(j.Retrieve) && !slices.Contains(j.Sent, fwDownloadScheduled) {
			return fwDownloadScheduled, false
		}
		return "", false
	}
	if p.State == ota.StateFailed || p.State == ota.StateRolledBack || p.State == ota.StateBroken {
		if !slices.Contains(j.Sent, fwDownloading) {
			// The agent took the job and failed before a tick saw it download (a bundle
			// refused at its head): it did start, so Downloading comes first, then the failure.
			return fwDownloading, false
		}
		return j.failure(p), true
	}
	list := plainMilestones
	if j.Signed || j.OCPP201 {
		list = signedMilestones
	}
	l := level(p.State)
	for _, m := range list {
		if m.level > l || slices.Contains(j.Sent, m.status) {
			continue
		}
		if m.status == fwSignatureVerified && !j.Signed {
			continue // 2.0.1 without a signature in the request (L02): nothing was checked
		}
		if m.status == fwInstallScheduled && (p.State != ota.StateWaiting || p.WaitingFor == "") {
			continue // only while something holds the installation (the session, the window)
		}
		return m.status, m.status == fwInstalled
	}
	return "", false
}

// Firmware requests (see handlers.go).

type updateFirmwareReq struct {
	Location      string `json:"location"`
	Retries       *int   `json:"retries,omitempty"`
	RetrieveDate  Time   `json:"retrieveDate"`
	RetryInterval *int   `json:"retryInterval,omitempty"`
}

type firmwareType struct {
	Location           string `json:"location"`
	RetrieveDateTime   Time   `json:"retrieveDateTime"`
	InstallDateTime    *Time  `json:"installDateTime,omitempty"`
	SigningCertificate string `json:"signingCertificate"`
	Signature          string `json:"signature"`
}

type signedUpdateFirmwareReq struct {
	Retries       *int         `json:"retries,omitempty"`
	RetryInterval *int         `json:"retryInterval,omitempty"`
	RequestID     int          `json:"requestId"`
	Firmware      firmwareType `json:"firmware"`
}

type signedFirmwareStatusReq struct {
	Status    string `json:"status"`
	RequestID *int   `json:"requestId,omitempty"`
}

// updateFirmware answers UpdateFirmware (the answer has no status): the job is persisted and
// handed to the agent at retrieveDate. Without an agent, or while another job runs, it ends
// with InstallationFailed / DownloadFailed reported at once.
func (cp *ChargePoint) updateFirmware(ctx context.Context, req updateFirmwareReq) {
	job := &firmwareJob{ID: time.Now().UnixNano(), Location: req.Location, Retrieve: req.RetrieveDate.Time}
	switch {
	case cp.cfg.Firmware == nil:
		job.Final, job.Detail = fwInstallationFailed, "no update agent"
	case !strings.HasPrefix(req.Location, "http://") && !strings.HasPrefix(req.Location, "https://"):
		job.Final, job.Detail = fwDownloadFailed, "only http and https locations are supported"
	case cp.firmwareBusy():
		job.Final, job.Detail = fwDownloadFailed, "an update is already in progress"
	}
	cp.setFirmwareJob(ctx, job)
}

// firmwareBusy reports whether a job or an agent update runs.
func (cp *ChargePoint) firmwareBusy() bool {
	cp.mu.Lock()
	running := cp.fwJob != nil && cp.fwJob.Final == ""
	cp.mu.Unlock()
	return running || cp.agentBusy()
}

// agentBusy reports whether the agent runs an update.
func (cp *ChargePoint) agentBusy() bool {
	switch cp.cfg.Firmware.Progress().State {
	case ota.StateDownloading, ota.StateDownloaded, ota.StateWaiting, ota.StateInstalling, ota.StateInstalled, ota.StateTrial:
		return true
	}
	return false
}

// signedUpdateFirmware answers SignedUpdateFirmware. The signing certificate must hold an
// Ed25519 key that is one of the device's trusted release keys (Config.FirmwareKeys; bundles
// are signed with Ed25519, see package ota), be valid now, and chain to the installed
// ManufacturerRootCertificate when one is installed; otherwise InvalidCertificate and the
// security event InvalidFirmwareSigningCertificate. The signature is checked at the retrieve
// time, before the agent downloads: it must be the Ed25519 signature by that key over
// "chargegate-bundle-manifest/1\n" + the bundle's manifest.json (the bytes the bundle's own
// manifest.sig signs), else InvalidSignature and the event InvalidFirmwareSignature.
func (cp *ChargePoint) signedUpdateFirmware(ctx context.Context, req signedUpdateFirmwareReq) string {
	f := req.Firmware
	if cp.cfg.Firmware == nil || cp.firmwareBusy() {
		return "Rejected"
	}
	if !strings.HasPrefix(f.Location, "http://") && !strings.HasPrefix(f.Location, "https://") {
		return "Rejected"
	}
	if _, err := cp.firmwareSigner(ctx, f.SigningCertificate); err != nil {
		cp.log.Warn("signed firmware refused", "err", err)
		cp.securityEvent(EventInvalidFirmwareSigningCertificate, err.Error())
		cp.poke()
		return "InvalidCertificate"
	}
	cp.setFirmwareJob(ctx, &firmwareJob{ID: time.Now().UnixNano(), Signed: true, RequestID: req.RequestID, Location: f.Location, Retrieve: f.RetrieveDateTime.Time})
	cp.mu.Lock()
	cp.fwSigned = signedCheck{cert: f.SigningCertificate, signature: f.Signature}
	cp.mu.Unlock()
	return "Accepted"
}

// replaceFirmwareJob installs job for 2.0.1's UpdateFirmware (L01.FR.24 asks to cancel a
// running update when possible): Accepted when none runs, AcceptedCanceled when the job in
// force had not reached the agent yet (it is dropped without a status), Rejected when an
// update reached the agent (it cannot be cancelled from here).
func (cp *ChargePoint) replaceFirmwareJob(ctx context.Context, job *firmwareJob, check signedCheck) string {
	cp.fwMu.Lock()
	defer cp.fwMu.Unlock()
	cp.mu.Lock()
	cur := cp.fwJob
	waiting := cur != nil && cur.Final == "" && !cur.Started
	cp.mu.Unlock()
	running := cur != nil && cur.Final == "" && cur.Started
	if running || cp.agentBusy() {
		return "Rejected"
	}
	status := "Accepted"
	if waiting {
		status = "AcceptedCanceled"
	}
	// The check before the job: a tick that reads the new check with the old job fails the
	// old job only, which is no longer in force (updateFirmwareJob's id test).
	cp.mu.Lock()
	cp.fwSigned = check
	cp.mu.Unlock()
	cp.storeFirmwareJob(ctx, job)
	return status
}

// signedCheck is what a signed job verifies at its retrieve time (kept in memory: after a
// restart before the retrieve time the job fails with InvalidSignature rather than run
// unchecked).
type signedCheck struct{ cert, signature string }

// firmwareSigner checks a firmware signing certificate (PEM) and returns its key.
func (cp *ChargePoint) firmwareSigner(ctx context.Context, certPEM string) (ed25519.PublicKey, error) {
	block, _ := pem.Decode([]byte(certPEM))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("signing certificate: no PEM CERTIFICATE block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("signing certificate: %w", err)
	}
	key, ok := cert.PublicKey.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("signing certificate: %T key, want Ed25519 (bundles are signed with Ed25519)", cert.PublicKey)
	}
	if !slices.ContainsFunc(cp.cfg.FirmwareKeys, func(k ed25519.PublicKey) bool { return k.Equal(key) }) {
		return nil, errors.New("signing certificate: its key is not a trusted release key")
	}
	now := time.Now()
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return nil, fmt.Errorf("signing certificate: not valid now (%s to %s)", cert.NotBefore.Format(time.RFC3339), cert.NotAfter.Format(time.RFC3339))
	}
	roots, err := cp.q.certificates(ctx, certManufacturerRoot)
	if err != nil {
		return nil, err
	}
	if len(roots) > 0 {
		pool := x509.NewCertPool()
		for _, r := range roots {
			pool.AddCert(r.cert)
		}
		if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			return nil, fmt.Errorf("signing certificate: %w", err)
		}
	}
	return key, nil
}

// checkSignature fetches the head of the bundle at location and checks the request's
// signature over its manifest.
func (cp *ChargePoint) checkSignature(ctx context.Context, location string, c signedCheck) error {
	key, err := cp.firmwareSigner(ctx, c.cert)
	if err != nil {
		return err
	}
	sig, err := base64.StdEncoding.DecodeString(c.signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return errors.New("signature: not a base64 Ed25519 signature")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, location, nil)
	if err != nil {
		return fmt.Errorf("fetch the bundle's manifest: %w", err)
	}
	resp, err := cp.cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("fetch the bundle's manifest: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch the bundle's manifest: HTTP %d", resp.StatusCode)
	}
	// The manifest must be signed by this key in the bundle itself, and the request's
	// signature must be one over the same manifest.
	_, raw, _, err := bundle.NewReader(resp.Body).Manifest(map[string]ed25519.PublicKey{bundle.KeyID(key): key})
	if err != nil {
		return fmt.Errorf("%w: %w", errSignature, err)
	}
	if !ed25519.Verify(key, append([]byte(firmwareManifestPrefix), raw...), sig) {
		return fmt.Errorf("%w: the request's signature does not match the bundle's manifest", errSignature)
	}
	return nil
}

var errSignature = errors.New("invalid firmware signature")

// setFirmwareJob persists and installs a new job (nil ends it).
func (cp *ChargePoint) setFirmwareJob(ctx context.Context, job *firmwareJob) {
	cp.fwMu.Lock()
	defer cp.fwMu.Unlock()
	cp.storeFirmwareJob(ctx, job)
}

// updateFirmwareJob applies f to a copy of the job in force if it is still job id, and
// persists the result (f returning false ends the job). The tick, the sender and the handlers
// change the job from their own goroutines; this keeps one change from undoing another.
func (cp *ChargePoint) updateFirmwareJob(ctx context.Context, id int64, f func(j *firmwareJob) bool) {
	cp.fwMu.Lock()
	defer cp.fwMu.Unlock()
	cp.mu.Lock()
	cur := cp.fwJob
	cp.mu.Unlock()
	if cur == nil || cur.ID != id {
		return
	}
	j := *cur
	j.Sent = slices.Clone(cur.Sent)
	if !f(&j) {
		cp.storeFirmwareJob(ctx, nil)
		return
	}
	cp.storeFirmwareJob(ctx, &j)
}

// storeFirmwareJob persists and installs job; the caller holds fwMu.
func (cp *ChargePoint) storeFirmwareJob(ctx context.Context, job *firmwareJob) {
	v := ""
	if job != nil {
		b, _ := json.Marshal(job)
		v = string(b)
	}
	if err := cp.q.setConfig(context.WithoutCancel(ctx), firmwareKey, v); err != nil {
		cp.log.Error("store the firmware job", "err", err)
	}
	cp.mu.Lock()
	cp.fwJob = job
	cp.mu.Unlock()
	cp.poke()
}

func (cp *ChargePoint) loadFirmwareJob(v string) {
	if v == "" {
		return
	}
	var j firmwareJob
	if err := json.Unmarshal([]byte(v), &j); err != nil {
		cp.log.Error("stored firmware job unreadable; dropped", "err", err)
		return
	}
	if j.Signed && !j.Started && j.Final == "" {
		// The signature to check was kept in memory only.
		j.Final, j.Detail = fwInvalidSignature, "restarted before the signature was checked"
	}
	cp.fwJob = &j
}

// firmwareTick hands a due job to the agent and wakes the loop when the agent's state
// changed; Run calls it every second.
func (cp *ChargePoint) firmwareTick(ctx context.Context) {
	cp.mu.Lock()
	job := cp.fwJob
	var j firmwareJob
	if job != nil {
		j = *job
	}
	check := cp.fwSigned
	cp.mu.Unlock()
	if job == nil || cp.cfg.Firmware == nil {
		return
	}
	if !j.Started && j.Final == "" && !time.Now().Before(j.Retrieve) {
		if j.Signed {
			if err := cp.checkSignature(ctx, j.Location, check); err != nil {
				cp.log.Warn("signed firmware refused", "err", err)
				if errors.Is(err, errSignature) {
					cp.securityEvent(EventInvalidFirmwareSignature, err.Error())
					j.Final = fwInvalidSignature
				} else {
					j.Final = fwDownloadFailed
				}
				j.Detail = err.Error()
				cp.updateFirmwareJob(ctx, j.ID, func(c *firmwareJob) bool { c.Final, c.Detail = j.Final, j.Detail; return true })
				return
			}
			// Verified: SignatureVerified is reported after Downloaded (signedMilestones).
		}
		err := cp.cfg.Firmware.Update(ctx, j.Location)
		if err != nil {
			cp.log.Warn("firmware update not started", "err", err)
		}
		// A new update: the next tick wakes the loop whatever state it finds, also the one the
		// previous update ended in (Failed after Failed would otherwise go unnoticed until the
		// next heartbeat).
		cp.fwSeen = ""
		cp.updateFirmwareJob(ctx, j.ID, func(c *firmwareJob) bool {
			if err != nil {
				c.Final, c.Detail = fwDownloadFailed, err.Error()
			} else {
				c.Started = true
			}
			return true
		})
		return
	}
	if s := cp.cfg.Firmware.Progress().State; s != cp.fwSeen {
		cp.fwSeen = s
		cp.poke()
	}
}

// sendFirmwareStatus sends the statuses due for the job in order; a final one ends the job.
func (cp *ChargePoint) sendFirmwareStatus(ctx context.Context, conn *rpcConn) error {
	for {
		cp.mu.Lock()
		job := cp.fwJob
		var j firmwareJob
		if job != nil {
			j = *job
			j.Sent = slices.Clone(job.Sent)
		}
		cp.mu.Unlock()
		if job == nil || cp.cfg.Firmware == nil && j.Final == "" {
			return nil
		}
		var p FirmwareProgress
		if cp.cfg.Firmware != nil {
			p = cp.cfg.Firmware.Progress()
		}
		status, final := j.next(p, time.Now())
		if status == "" {
			return nil
		}
		if err := cp.firmwareNotification(ctx, conn, j, status); err != nil {
			return err
		}
		cp.log.Info("firmware status", "status", status, "signed", j.Signed, "detail", j.Detail, "agent_error", p.Error)
		switch {
		case final && status == fwInstalled:
			cp.securityEvent(EventFirmwareUpdated, "")
		case status == fwInvalidSignature && j.Final == "": // the agent found it (the request's check keeps its own event)
			cp.securityEvent(EventInvalidFirmwareSignature, p.Error)
		}
		cp.updateFirmwareJob(ctx, j.ID, func(c *firmwareJob) bool {
			c.Sent = append(c.Sent, status)
			return !final
		})
	}
}

// firmwareNotification reports status: as OCPP 2.0.1's FirmwareStatusNotification (with the
// requestId) on the 2.0.1 face, else as 1.6's SignedFirmwareStatusNotification for a signed
// job and FirmwareStatusNotification for another.
func (cp *ChargePoint) firmwareNotification(ctx context.Context, conn *rpcConn, j firmwareJob, status string) error {
	action, req := "FirmwareStatusNotification", any(statusConf{Status: status})
	switch id := j.RequestID; {
	case cp.face201 != nil:
		req = signedFirmwareStatusReq{Status: status, RequestID: &id}
	case j.Signed:
		action, req = "SignedFirmwareStatusNotification", signedFirmwareStatusReq{Status: status, RequestID: &id}
	}
	if err := conn.call(ctx, "", action, req, nil); err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	return nil
}

// firmwareRebooted reports whether this start follows an installation of the job in force:
// the job reached the agent and is not over, and either Installing was reported or the agent
// is past installing (the new slot on trial or committed, or rolled back from it). OCPP
// 2.0.1's BootNotification says FirmwareUpdate then.
func (cp *ChargePoint) firmwareRebooted() bool {
	cp.mu.Lock()
	j := cp.fwJob
	installing := j != nil && j.Started && j.Final == "" && !slices.Contains(j.Sent, fwInstalled)
	reported := j != nil && slices.Contains(j.Sent, fwInstalling)
	cp.mu.Unlock()
	if !installing || cp.cfg.Firmware == nil {
		return false
	}
	s := cp.cfg.Firmware.Progress().State
	return reported || level(s) >= level(ota.StateInstalled) || s == ota.StateRolledBack
}

// firmwareNow is the status TriggerMessage reports: the latest one sent for the job in force
// (with its requestId when signed), else Idle.
func (cp *ChargePoint) firmwareNow() (status string, signed bool, requestID int) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if j := cp.fwJob; j != nil && len(j.Sent) > 0 {
		return j.Sent[len(j.Sent)-1], j.Signed, j.RequestID
	}
	return fwIdle, false, 0
}
