package ocpp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The OCPP 2.0.1 device model (Part 1 §4, Part 2 appendices "Standardized components and
// variables"): the components and variables the 2.0.1 face implements, with their mutability.
// Values the CSMS sets (SetVariables) are kept in ocpp.db's config table under
// "v201:<component>/<variable>[/<instance>]" and read again at start.

// Device-model variable names the 2.0.1 face reads itself.
const (
	compOCPPComm     = "OCPPCommCtrlr"
	compSampledData  = "SampledDataCtrlr"
	compAlignedData  = "AlignedDataCtrlr"
	compTx           = "TxCtrlr"
	compAuth         = "AuthCtrlr"
	compAuthCache    = "AuthCacheCtrlr"
	compLocalList    = "LocalAuthListCtrlr"
	compSecurity     = "SecurityCtrlr"
	compSmart        = "SmartChargingCtrlr"
	compFiscal       = "FiscalMetering"
	compDeviceData   = "DeviceDataCtrlr"
	instTxEvent      = "TransactionEvent"
	varPublicKeyWith = "PublicKeyWithSignedMeterValue"
	varBasicAuth     = "BasicAuthPassword"
)

// dmVar is one variable of the device model.
type dmVar struct {
	component, variable, instance string
	readOnly                      bool
	writeOnly                     bool               // never read back: GetVariables Rejected, reports without a value
	check                         func(string) error // beyond dataType, when set
	dataType                      string             // boolean, integer, string, OptionList, MemberList
	values                        string             // OptionList / MemberList: the allowed values, comma-separated
	unit                          string
	def                           func(cfg Config) string
}

func (v dmVar) key() string {
	k := "v201:" + v.component + "/" + v.variable
	if v.instance != "" {
		k += "/" + v.instance
	}
	return k
}

func fixed(s string) func(Config) string { return func(Config) string { return s } }

// measurands201 are the measurands the face can sample (SampledDataCtrlr.*Measurands).
const measurands201 = "Energy.Active.Import.Register,Energy.Active.Export.Register,Power.Active.Import,Current.Import,Voltage"

// deviceModel lists every variable the 2.0.1 face reports, in GetBaseReport order.
var deviceModel = []dmVar{
	{component: compOCPPComm, variable: "HeartbeatInterval", dataType: "integer", unit: "s",
		def: func(c Config) string { return strconv.Itoa(int(c.HeartbeatInterval.Seconds())) }},
	{component: compOCPPComm, variable: "MessageAttempts", instance: instTxEvent, dataType: "integer", def: fixed("3")},
	{component: compOCPPComm, variable: "MessageAttemptInterval", instance: instTxEvent, dataType: "integer", unit: "s",
		def: func(c Config) string { return strconv.Itoa(int(c.RetryInterval.Seconds())) }},
	{component: compOCPPComm, variable: "MessageTimeout", instance: "Default", readOnly: true, dataType: "integer", unit: "s",
		def: func(c Config) string { return strconv.Itoa(int(c.CallTimeout.Seconds())) }},
	{component: compOCPPComm, variable: "FileTransferProtocols", readOnly: true, dataType: "MemberList", values: "HTTP,HTTPS", def: fixed("HTTP,HTTPS")},
	{component: compOCPPComm, variable: "NetworkConfigurationPriority", readOnly: true, dataType: "SequenceList", def: fixed("0")},
	{component: compOCPPComm, variable: "NetworkProfileConnectionAttempts", dataType: "integer", def: fixed("3")},
	{component: compOCPPComm, variable: "OfflineThreshold", dataType: "integer", unit: "s", def: fixed("60")},
	{component: compOCPPComm, variable: "ResetRetries", dataType: "integer", def: fixed("1")},
	{component: compOCPPComm, variable: "UnlockOnEVSideDisconnect", readOnly: true, dataType: "boolean", def: fixed("false")},
	{component: compOCPPComm, variable: varPublicKeyWith, dataType: "OptionList", values: "Never,OncePerTransaction,EveryMeterValue", def: fixed("OncePerTransaction")},
	{component: compTx, variable: "EVConnectionTimeOut", dataType: "integer", unit: "s", def: fixed("120")},
	{component: compTx, variable: "StopTxOnEVSideDisconnect", readOnly: true, dataType: "boolean", def: fixed("true")},
	{component: compTx, variable: "StopTxOnInvalidId", dataType: "boolean", def: fixed("true")},
	{component: compTx, variable: "TxStartPoint", readOnly: true, dataType: "MemberList", values: "Authorized", def: fixed("Authorized")},
	{component: compTx, variable: "TxStopPoint", readOnly: true, dataType: "MemberList", values: "Authorized", def: fixed("Authorized")},
	{component: compSampledData, variable: "SignReadings", dataType: "boolean", def: fixed("false")},
	{component: compSampledData, variable: "TxEndedMeasurands", dataType: "MemberList", values: measurands201, def: fixed("Energy.Active.Import.Register")},
	{component: compSampledData, variable: "TxEndedInterval", dataType: "integer", unit: "s", def: fixed("0")},
	{component: compSampledData, variable: "TxStartedMeasurands", dataType: "MemberList", values: measurands201, def: fixed("Energy.Active.Import.Register")},
	{component: compSampledData, variable: "TxUpdatedMeasurands", dataType: "MemberList", values: measurands201, def: fixed("Energy.Active.Import.Register,Power.Active.Import")},
	{component: compSampledData, variable: "TxUpdatedInterval", dataType: "integer", unit: "s",
		def: func(c Config) string { return strconv.Itoa(int(c.MeterValueSampleInterval.Seconds())) }},
	// AlignedDataCtrlr (J01): clock-aligned values every Interval since midnight UTC (0: off).
	{component: compAlignedData, variable: "Enabled", dataType: "boolean", def: fixed("true")},
	{component: compAlignedData, variable: "Measurands", dataType: "MemberList", values: measurands201, def: fixed("Energy.Active.Import.Register")},
	{component: compAlignedData, variable: "Interval", dataType: "integer", unit: "s", def: fixed("0")},
	{component: compAlignedData, variable: "SendDuringIdle", dataType: "boolean", def: fixed("false")},
	{component: compAlignedData, variable: "TxEndedMeasurands", dataType: "MemberList", values: measurands201, def: fixed("Energy.Active.Import.Register")},
	{component: compAlignedData, variable: "TxEndedInterval", dataType: "integer", unit: "s", def: fixed("0")},
	{component: compAuth, variable: "Enabled", dataType: "boolean", def: fixed("true")},
	{component: compAuth, variable: "AuthorizeRemoteStart", dataType: "boolean", def: fixed("false")},
	{component: compAuth, variable: "LocalAuthorizeOffline", dataType: "boolean", def: fixed("true")},
	{component: compAuth, variable: "LocalPreAuthorize", dataType: "boolean", def: fixed("false")},
	{component: compAuth, variable: "OfflineTxForUnknownIdEnabled", dataType: "boolean", def: fixed("false")},
	{component: compAuthCache, variable: "Enabled", dataType: "boolean", def: fixed("true")},
	{component: compAuthCache, variable: "LifeTime", dataType: "integer", unit: "s", def: fixed("86400")},
	{component: compLocalList, variable: "Enabled", dataType: "boolean", def: fixed("true")},
	{component: compLocalList, variable: "ItemsPerMessage", readOnly: true, dataType: "integer", def: fixed("100")},
	{component: compLocalList, variable: "Storage", readOnly: true, dataType: "integer", def: fixed("1000")},
	// SecurityProfile and CertificateEntries are read live (refreshSecurityVars).
	{component: compSecurity, variable: "SecurityProfile", readOnly: true, dataType: "integer", def: fixed("1")},
	{component: compSecurity, variable: "Identity", readOnly: true, dataType: "string", def: func(c Config) string { return c.Identity }},
	{component: compSecurity, variable: varBasicAuth, writeOnly: true, dataType: "string", check: checkPassword, def: fixed("")},
	{component: compSecurity, variable: "OrganizationName", dataType: "string", def: func(c Config) string { return c.Vendor }},
	{component: compSecurity, variable: "CertificateEntries", readOnly: true, dataType: "integer", def: fixed("0")},
	{component: compSecurity, variable: "MaxCertificateChainSize", readOnly: true, dataType: "integer", def: fixed(strconv.Itoa(maxCertificateChain))},
	{component: compSmart, variable: "Enabled", readOnly: true, dataType: "boolean", def: fixed("true")},
	{component: compSmart, variable: "RateUnit", readOnly: true, dataType: "MemberList", values: "A,W", def: fixed("A,W")},
	{component: compSmart, variable: "PeriodsPerSchedule", readOnly: true, dataType: "integer", def: fixed("24")},
	{component: compSmart, variable: "ProfileStackLevel", readOnly: true, dataType: "integer", def: fixed("10")},
	{component: compSmart, variable: "LimitChangeSignificance", dataType: "integer", unit: "Percent", def: fixed("10")},
	{component: compFiscal, variable: "PublicKey", readOnly: true, dataType: "string", def: func(c Config) string { return publicKey201(c.MeterPublicKey) }},
	{component: compDeviceData, variable: "ItemsPerMessage", instance: "GetVariables", readOnly: true, dataType: "integer", def: fixed("50")},
	{component: compDeviceData, variable: "ItemsPerMessage", instance: "SetVariables", readOnly: true, dataType: "integer", def: fixed("50")},
	{component: compDeviceData, variable: "ItemsPerMessage", instance: "GetReport", readOnly: true, dataType: "integer", def: fixed("20")},
}

// lookupVar finds component/variable[/instance]; unknown component and unknown variable are
// told apart (GetVariableStatusEnumType).
func lookupVar(component, variable, instance string) (dmVar, string) {
	comp := false
	for _, v := range deviceModel {
		if v.component != component {
			continue
		}
		comp = true
		if v.variable == variable && v.instance == instance {
			return v, ""
		}
	}
	if !comp {
		return dmVar{}, "UnknownComponent"
	}
	return dmVar{}, "UnknownVariable"
}

// checkPassword checks a BasicAuthPassword (A01: passwordString, 16..40 characters of UTF-8;
// sent as HTTP Basic auth, so no control characters).
func checkPassword(s string) error {
	if n := len(s); n < 16 || n > 40 || !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
		return errors.New("a password is 16 to 40 characters of UTF-8 without control characters")
	}
	return nil
}

// checkValue validates a SetVariables value against the variable's type (Rejected if not).
func (v dmVar) checkValue(s string) error {
	if v.check != nil {
		if err := v.check(s); err != nil {
			return err
		}
	}
	switch v.dataType {
	case "boolean":
		if s != "true" && s != "false" {
			return fmt.Errorf("%q is not a boolean", s)
		}
	case "integer":
		if n, err := strconv.Atoi(s); err != nil || n < 0 {
			return fmt.Errorf("%q is not a non-negative integer", s)
		}
	case "OptionList":
		if !slices.Contains(strings.Split(v.values, ","), s) {
			return fmt.Errorf("%q is not one of %s", s, v.values)
		}
	case "MemberList":
		for _, m := range strings.Split(s, ",") {
			if !slices.Contains(strings.Split(v.values, ","), m) {
				return fmt.Errorf("%q is not one of %s", m, v.values)
			}
		}
	}
	if len(s) > 1000 {
		return fmt.Errorf("value longer than 1000 characters")
	}
	return nil
}

// loadDeviceModel fills the values: defaults from cfg, then what the CSMS set before (ocpp.db).
func loadDeviceModel(ctx context.Context, cfg Config, q *Queue) (map[string]string, error) {
	vals := map[string]string{}
	for _, v := range deviceModel {
		vals[v.key()] = v.def(cfg)
	}
	stored, err := q.configValues(ctx)
	if err != nil {
		return nil, err
	}
	for _, v := range deviceModel {
		if s, ok := stored[v.key()]; ok && !v.readOnly {
			vals[v.key()] = s
		}
	}
	return vals, nil
}
