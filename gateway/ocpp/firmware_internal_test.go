package ocpp

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/chargegate/chargegate/ota"
)

// The firmware job as kept in ocpp.db (doc.go, "Disk format"): frozen.
func TestFirmwareJobGolden(t *testing.T) {
	const golden = `{"id":1796464800000000000,"signed":true,"requestId":7,"location":"https://fw.example/2.0.0.bundle","retrieve":"2026-12-05T10:00:00Z","started":true,"sent":["Downloading","Downloaded"]}`
	j := firmwareJob{ID: 1796464800000000000, Signed: true, RequestID: 7, Location: "https://fw.example/2.0.0.bundle",
		Retrieve: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC), Started: true, Sent: []string{"Downloading", "Downloaded"}}
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != golden {
		t.Errorf("encoding\n got %s\nwant %s", b, golden)
	}
	var back firmwareJob
	if err := json.Unmarshal([]byte(golden), &back); err != nil || back.ID != j.ID || !back.Retrieve.Equal(j.Retrieve) || len(back.Sent) != 2 {
		t.Errorf("decoding the golden job: %+v, %v", back, err)
	}
}

// The agent's states → the statuses each kind of request reports next (doc.go, "Firmware").
func TestFirmwareStatusMapping(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name      string
		job       firmwareJob
		p         FirmwareProgress
		want      string
		wantFinal bool
	}{
		{"plain downloading", firmwareJob{Started: true}, FirmwareProgress{State: ota.StateDownloading}, fwDownloading, false},
		{"plain waiting", firmwareJob{Started: true, Sent: []string{fwDownloading}}, FirmwareProgress{State: ota.StateWaiting}, fwDownloaded, false},
		{"plain waiting, reported", firmwareJob{Started: true, Sent: []string{fwDownloading, fwDownloaded}}, FirmwareProgress{State: ota.StateWaiting}, "", false},
		{"plain committed after a restart", firmwareJob{Started: true, Sent: []string{fwDownloading, fwDownloaded}}, FirmwareProgress{State: ota.StateCommitted}, fwInstalling, false},
		{"plain committed", firmwareJob{Started: true, Sent: []string{fwDownloading, fwDownloaded, fwInstalling}}, FirmwareProgress{State: ota.StateCommitted}, fwInstalled, true},
		{"plain bad bundle", firmwareJob{Started: true, Sent: []string{fwDownloading}}, FirmwareProgress{State: ota.StateFailed, BadBundle: true}, fwInstallationFailed, true},
		{"plain download failed", firmwareJob{Started: true, Sent: []string{fwDownloading}}, FirmwareProgress{State: ota.StateFailed}, fwDownloadFailed, true},
		{"plain rolled back", firmwareJob{Started: true, Sent: []string{fwDownloading, fwDownloaded, fwInstalling}}, FirmwareProgress{State: ota.StateRolledBack}, fwInstallationFailed, true},
		{"plain not started", firmwareJob{Retrieve: now.Add(time.Hour)}, FirmwareProgress{State: ota.StateIdle}, "", false},
		{"signed scheduled", firmwareJob{Signed: true, Retrieve: now.Add(time.Hour)}, FirmwareProgress{State: ota.StateIdle}, fwDownloadScheduled, false},
		{"signed verified", firmwareJob{Signed: true, Started: true, Sent: []string{fwDownloading, fwDownloaded}}, FirmwareProgress{State: ota.StateDownloaded}, fwSignatureVerified, false},
		{"signed waiting", firmwareJob{Signed: true, Started: true, Sent: []string{fwDownloading, fwDownloaded, fwSignatureVerified}}, FirmwareProgress{State: ota.StateWaiting, WaitingFor: "charging session"}, fwInstallScheduled, false},
		{"signed waiting, nothing holds it", firmwareJob{Signed: true, Started: true, Sent: []string{fwDownloading, fwDownloaded, fwSignatureVerified}}, FirmwareProgress{State: ota.StateWaiting}, "", false},
		{"2.0.1 unsigned downloaded", firmwareJob{OCPP201: true, Started: true, Sent: []string{fwDownloading, fwDownloaded}}, FirmwareProgress{State: ota.StateWaiting, WaitingFor: "charging session"}, fwInstallScheduled, false},
		{"2.0.1 unsigned trial", firmwareJob{OCPP201: true, Started: true, Sent: []string{fwDownloading, fwDownloaded, fwInstalling}}, FirmwareProgress{State: ota.StateTrial}, fwInstallRebooting, false},
		{"2.0.1 unsigned scheduled", firmwareJob{OCPP201: true, Retrieve: now.Add(time.Hour)}, FirmwareProgress{State: ota.StateIdle}, fwDownloadScheduled, false},
		{"2.0.1 unsigned bad signature", firmwareJob{OCPP201: true, Started: true, Sent: []string{fwDownloading}}, FirmwareProgress{State: ota.StateFailed, BadBundle: true, BadSignature: true}, fwInvalidSignature, true},
		{"2.0.1 unsigned bad hashes", firmwareJob{OCPP201: true, Started: true, Sent: []string{fwDownloading}}, FirmwareProgress{State: ota.StateFailed, BadBundle: true}, fwInstallVerificationFailed, true},
		{"signed no session", firmwareJob{Signed: true, Started: true, Sent: []string{fwDownloading, fwDownloaded, fwSignatureVerified}}, FirmwareProgress{State: ota.StateInstalling}, fwInstalling, false},
		{"signed trial", firmwareJob{Signed: true, Started: true, Sent: []string{fwDownloading, fwDownloaded, fwSignatureVerified, fwInstalling}}, FirmwareProgress{State: ota.StateTrial}, fwInstallRebooting, false},
		{"signed bad signature", firmwareJob{Signed: true, Started: true, Sent: []string{fwDownloading}}, FirmwareProgress{State: ota.StateFailed, BadBundle: true, BadSignature: true}, fwInvalidSignature, true},
		{"signed bad hashes", firmwareJob{Signed: true, Started: true, Sent: []string{fwDownloading}}, FirmwareProgress{State: ota.StateFailed, BadBundle: true}, fwInstallVerificationFailed, true},
		{"failed before a tick saw it download", firmwareJob{OCPP201: true, Started: true}, FirmwareProgress{State: ota.StateFailed, BadBundle: true, BadSignature: true}, fwDownloading, false},
		{"plain failed before a tick saw it download", firmwareJob{Started: true}, FirmwareProgress{State: ota.StateFailed}, fwDownloading, false},
		{"decided before the agent", firmwareJob{Final: fwDownloadFailed}, FirmwareProgress{State: ota.StateIdle}, fwDownloadFailed, true},
	} {
		got, final := tc.job.next(tc.p, now)
		if got != tc.want || final != tc.wantFinal {
			t.Errorf("%s: next = %q final %v, want %q final %v", tc.name, got, final, tc.want, tc.wantFinal)
		}
	}
}
