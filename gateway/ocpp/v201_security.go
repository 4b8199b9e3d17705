package ocpp

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
)

// Block A on the 2.0.1 face (A02 Update Charging Station Certificate by request of CSMS, M03
// GetInstalledCertificateIds, M04 DeleteCertificate, M05 InstallCertificate) over the core's
// certificate store and client-certificate renewal (certificates.go) and its security events
// (security.go). The box speaks no ISO 15118: the V2G and MO certificate uses are refused with
// a statusInfo that says so.

// Certificate uses of OCPP 2.0.1 (InstallCertificateUseEnumType, GetCertificateIdUseEnumType,
// CertificateSigningUseEnumType) and the limits of the 2.0.1 messages.
const (
	certCSMSRoot        = "CSMSRootCertificate"
	certV2GRoot         = "V2GRootCertificate"
	certMORoot          = "MORootCertificate"
	certV2GChain        = "V2GCertificateChain"
	certChargingStation = "ChargingStationCertificate"
	certV2G             = "V2GCertificate"
	maxCertificateChain = 10000 // CertificateSigned certificateChain (SecurityCtrlr.MaxCertificateChainSize)
	maxAdditionalInfo   = 512   // StatusInfoType additionalInfo
)

// certificateUses201 are the GetCertificateIdUseEnumType values, in report order.
func certificateUses201() []string {
	return []string{certV2GRoot, certMORoot, certCSMSRoot, certV2GChain, certManufacturerRoot}
}

// coreUse maps a 2.0.1 certificate use to the core's store (the certificate table's type);
// false for the uses this charging station has no store for (ISO 15118).
func coreUse(use string) (string, bool) {
	switch use {
	case certCSMSRoot:
		return certCentralSystemRoot, true
	case certManufacturerRoot:
		return certManufacturerRoot, true
	}
	return "", false
}

const noISO15118 = "no ISO 15118 on this charging station: it has no use for V2G or MO certificates"

type installCertificate201Req struct {
	CertificateType string `json:"certificateType"`
	Certificate     string `json:"certificate"`
}

type certificateHashDataChain struct {
	CertificateType     string              `json:"certificateType"`
	CertificateHashData certificateHashData `json:"certificateHashData"`
}

type getInstalledCertificateIDs201Conf struct {
	Status                   string                     `json:"status"`
	CertificateHashDataChain []certificateHashDataChain `json:"certificateHashDataChain,omitempty"`
}

type certificateSigned201Req struct {
	CertificateChain string `json:"certificateChain"`
	CertificateType  string `json:"certificateType,omitempty"`
}

// installCertificate answers InstallCertificate (M05): CSMS and manufacturer roots go to the
// core's store (Accepted, Rejected for a certificate that is not a valid self-signed CA or
// when that store is full, Failed when it cannot be written); V2G and MO roots are Rejected.
func (cp *ChargePoint201) installCertificate(ctx context.Context, req installCertificate201Req) status201Conf {
	use, ok := coreUse(req.CertificateType)
	if !ok {
		cp.log.Warn("certificate not installed", "type", req.CertificateType, "err", noISO15118)
		return status201Conf{Status: "Rejected", StatusInfo: reason("UnsupportedParam", noISO15118)}
	}
	status, err := cp.base.installCertificate(ctx, use, req.Certificate)
	switch {
	case err == nil:
		return status201Conf{Status: status}
	case errors.Is(err, errCertificatesFull):
		return status201Conf{Status: status, StatusInfo: reason("OutOfStorage", err.Error())}
	case status == "Failed":
		return status201Conf{Status: status, StatusInfo: reason("InternalError", "the certificate could not be stored")}
	}
	return status201Conf{Status: status, StatusInfo: reason("InvalidCertificate", err.Error())}
}

// installedCertificateIDs answers GetInstalledCertificateIds (M03): the hash data of the
// installed certificates of the asked uses (all when none is asked), each with its use;
// NotFound when there are none.
func (cp *ChargePoint201) installedCertificateIDs(ctx context.Context, uses []string) getInstalledCertificateIDs201Conf {
	if len(uses) == 0 {
		uses = certificateUses201()
	}
	var seen []string
	conf := getInstalledCertificateIDs201Conf{Status: "NotFound"}
	for _, use := range uses {
		store, ok := coreUse(use)
		if !ok || slices.Contains(seen, use) {
			continue
		}
		seen = append(seen, use)
		for _, h := range cp.base.installedCertificates(ctx, store).CertificateHashData {
			conf.CertificateHashDataChain = append(conf.CertificateHashDataChain, certificateHashDataChain{CertificateType: use, CertificateHashData: h})
		}
	}
	if len(conf.CertificateHashDataChain) > 0 {
		conf.Status = "Accepted"
	}
	return conf
}

// deleteCertificate answers DeleteCertificate (M04) with the core's store: Accepted, NotFound
// (also for SHA384/SHA512 hash data: certificates are known by their SHA256 hashes here), or
// Failed when the store cannot be written.
func (cp *ChargePoint201) deleteCertificate(ctx context.Context, h certificateHashData) status201Conf {
	switch status := cp.base.deleteCertificate(ctx, h); {
	case status == "Failed":
		return status201Conf{Status: status, StatusInfo: reason("InternalError", "the certificate store could not be written")}
	case status == "NotFound" && h.HashAlgorithm != "SHA256":
		return status201Conf{Status: status, StatusInfo: reason("UnsupportedParam", "installed certificates are identified by SHA256 hash data")}
	default:
		return status201Conf{Status: status}
	}
}

// certificateSigned answers CertificateSigned (A02): a ChargingStationCertificate chain (or
// one without a type: this station has no ISO 15118 use for it) goes to the core, which
// accepts it only for the pending CSR's key and a chain to a CSMS root, and else keeps the
// security event InvalidChargingStationCertificate; a V2GCertificate is Rejected.
func (cp *ChargePoint201) certificateSigned(ctx context.Context, req certificateSigned201Req) (status201Conf, func()) {
	switch {
	case req.CertificateType != "" && req.CertificateType != certChargingStation:
		cp.log.Warn("certificate not installed", "type", req.CertificateType, "err", noISO15118)
		return status201Conf{Status: "Rejected", StatusInfo: reason("UnsupportedParam", noISO15118)}, nil
	case len(req.CertificateChain) > maxCertificateChain:
		cp.log.Warn("certificate not installed", "err", "chain longer than MaxCertificateChainSize", "chars", len(req.CertificateChain))
		return status201Conf{Status: "Rejected", StatusInfo: reason("TooLargeElement", "certificateChain is longer than SecurityCtrlr.MaxCertificateChainSize")}, nil
	}
	status, after, err := cp.base.certificateSigned(ctx, req.CertificateChain)
	if err != nil {
		return status201Conf{Status: status, StatusInfo: reason("InvalidCertificate", err.Error())}, nil
	}
	return status201Conf{Status: status}, after
}

// refreshSecurityVars reads the live SecurityCtrlr values before they are reported:
// CertificateEntries (the installed CSMS and manufacturer roots, and the client certificate
// CertificateSigned installed) and SecurityProfile (the profile the connection uses).
func (cp *ChargePoint201) refreshSecurityVars(ctx context.Context) {
	n := 0
	for _, use := range []string{certCentralSystemRoot, certManufacturerRoot} {
		have, err := cp.q.certificates(ctx, use)
		if err != nil {
			cp.log.Error("count installed certificates", "err", err)
		}
		n += len(have)
	}
	if _, ok := cp.base.installedClientCert(); ok {
		n++
	}
	profile := cp.base.securityProfile()
	cp.mu.Lock()
	cp.vals[dmKey(compSecurity, "CertificateEntries", "")] = strconv.Itoa(n)
	cp.vals[dmKey(compSecurity, "SecurityProfile", "")] = strconv.Itoa(profile)
	cp.mu.Unlock()
}

// handleSecurity answers InstallCertificate, GetInstalledCertificateIds, DeleteCertificate and
// CertificateSigned; ok false for other actions.
func (cp *ChargePoint201) handleSecurity(ctx context.Context, action string, payload json.RawMessage) (res any, after func(), cerr *CallError, ok bool) {
	switch action {
	case "InstallCertificate":
		var req installCertificate201Req
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, nil, cerr, true
		}
		return cp.installCertificate(ctx, req), nil, nil, true
	case "GetInstalledCertificateIds":
		var req struct {
			CertificateType []string `json:"certificateType,omitempty"`
		}
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, nil, cerr, true
		}
		return cp.installedCertificateIDs(ctx, req.CertificateType), nil, nil, true
	case "DeleteCertificate":
		var req struct {
			CertificateHashData certificateHashData `json:"certificateHashData"`
		}
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, nil, cerr, true
		}
		return cp.deleteCertificate(ctx, req.CertificateHashData), nil, nil, true
	case "CertificateSigned":
		var req certificateSigned201Req
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, nil, cerr, true
		}
		conf, after := cp.certificateSigned(ctx, req)
		return conf, after, nil, true
	}
	return nil, nil, nil, false
}

// password is the HTTP Basic auth password of the next connection: on the 2.0.1 face the
// SecurityCtrlr.BasicAuthPassword the CSMS set (A01, kept in ocpp.db), else Config.Password.
func (cp *ChargePoint) password() string {
	if f := cp.face201; f != nil {
		if p := f.value(compSecurity, varBasicAuth, ""); p != "" {
			return p
		}
	}
	return cp.cfg.Password
}
