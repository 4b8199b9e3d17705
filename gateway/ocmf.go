package gateway

import (
	"context"
	"crypto/ed25519"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/ocmf"
)

// ocmfSigner renders finished sessions as gateway-signed OCMF records (GI/GS/GV name the
// gateway, so calibration-law tools see who signed).
type ocmfSigner struct {
	signer  *ocmf.Signer
	serial  string
	version string
	evseID  string
}

// NewOCMFSigner returns the SessionSigner for meters that do not sign: it renders finished
// sessions as OCMF records signed with the device's P-256 key, keeping its pagination in state.
func NewOCMFSigner(state ocmf.StateStore, keys *ledger.Keys, evseID, version string) (SessionSigner, error) {
	s, err := ocmf.NewSigner(keys.OCMF, state, 3)
	if err != nil {
		return nil, err
	}
	return &ocmfSigner{signer: s, serial: ledger.DeviceID(keys.Entry.Public().(ed25519.PublicKey)), version: version, evseID: evseID}, nil
}

// endTX maps a session's end reason to the OCMF transaction code of its last reading.
func endTX(reason string) string {
	switch reason {
	case ledger.EndPowerFailure:
		return "P"
	case ledger.EndRemote:
		return "R"
	case ledger.EndLocal, ledger.EndShutdown:
		return "L"
	case ledger.EndEnergyLimit, ledger.EndTimeLimit:
		return "E"
	}
	return "A" // aborted by a fault
}

// SignSession implements SessionSigner.
func (o *ocmfSigner) SignSession(ctx context.Context, s SessionRecord) (string, error) {
	sess := ocmf.Session{
		GatewayID: "chargegate", GatewaySerial: o.serial, GatewayVersion: o.version,
		MeterSerial: s.MeterSerial, CurrentType: "AC",
		IdentStatus: s.IDToken != "", IdentType: "NONE",
		Readings: []ocmf.Reading{
			{Time: s.Start, TimeStatus: timeStatus(s.StartStatus), TX: "B", EnergyMWh: s.BeginMWh},
			{Time: s.End, TimeStatus: timeStatus(s.EndStatus), TX: endTX(s.Reason), EnergyMWh: s.EndMWh},
		},
	}
	if s.EndExportMWh > 0 {
		// A meter that measures export (a bidirectional, V2G session) settles it too: the export
		// register at begin and end, beside the import readings.
		sess.Readings = append(sess.Readings,
			ocmf.Reading{Time: s.Start, TimeStatus: timeStatus(s.StartStatus), TX: "B", EnergyMWh: s.BeginExportMWh, OBIS: ocmf.OBISExport},
			ocmf.Reading{Time: s.End, TimeStatus: timeStatus(s.EndStatus), TX: endTX(s.Reason), EnergyMWh: s.EndExportMWh, OBIS: ocmf.OBISExport})
	}
	if s.IDToken != "" {
		sess.IdentType, sess.IdentData = "CENTRAL", s.IDToken
	}
	if o.evseID != "" {
		sess.ChargePointIDType, sess.ChargePointID = "EVSEID", o.evseID
	}
	return o.signer.Sign(ctx, sess)
}

func timeStatus(b byte) byte {
	if ledger.TimeStatus(b).Valid() {
		return b
	}
	return byte(ledger.TimeUnsynchronised)
}
