package ocpp

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Standard configuration keys this charge point knows (OCPP 1.6 §9.1 Core Profile). The CSMS
// reads them with GetConfiguration and changes the writable ones with ChangeConfiguration;
// changes persist in ocpp.db.
const (
	KeyAuthorizeRemoteTxRequests         = "AuthorizeRemoteTxRequests"
	KeyClockAlignedDataInterval          = "ClockAlignedDataInterval"
	KeyConnectionTimeOut                 = "ConnectionTimeOut"
	KeyGetConfigurationMaxKeys           = "GetConfigurationMaxKeys"
	KeyHeartbeatInterval                 = "HeartbeatInterval"
	KeyLocalAuthorizeOffline             = "LocalAuthorizeOffline"
	KeyLocalPreAuthorize                 = "LocalPreAuthorize"
	KeyMeterValuesAlignedData            = "MeterValuesAlignedData"
	KeyMeterValuesSampledData            = "MeterValuesSampledData"
	KeyMeterValueSampleInterval          = "MeterValueSampleInterval"
	KeyNumberOfConnectors                = "NumberOfConnectors"
	KeyResetRetries                      = "ResetRetries"
	KeyConnectorPhaseRotation            = "ConnectorPhaseRotation"
	KeyStopTransactionOnEVSideDisconnect = "StopTransactionOnEVSideDisconnect"
	KeyStopTransactionOnInvalidID        = "StopTransactionOnInvalidId"
	KeyStopTxnAlignedData                = "StopTxnAlignedData"
	KeyStopTxnSampledData                = "StopTxnSampledData"
	KeySupportedFeatureProfiles          = "SupportedFeatureProfiles"
	KeyTransactionMessageAttempts        = "TransactionMessageAttempts"
	KeyTransactionMessageRetryInterval   = "TransactionMessageRetryInterval"
	KeyUnlockConnectorOnEVSideDisconnect = "UnlockConnectorOnEVSideDisconnect"
	KeyWebSocketPingInterval             = "WebSocketPingInterval"

	// Local Auth List Management profile (§9.2) and the cache (§9.1).
	KeyAllowOfflineTxForUnknownID = "AllowOfflineTxForUnknownId"
	KeyAuthorizationCacheEnabled  = "AuthorizationCacheEnabled"
	KeyLocalAuthListEnabled       = "LocalAuthListEnabled"
	KeyLocalAuthListMaxLength     = "LocalAuthListMaxLength"
	KeySendLocalListMaxLength     = "SendLocalListMaxLength"
	// Reservation profile (§9.4).
	KeyReserveConnectorZeroSupported = "ReserveConnectorZeroSupported"
	// Smart Charging profile (§9.4), all read-only.
	KeyChargeProfileMaxStackLevel              = "ChargeProfileMaxStackLevel"
	KeyChargingScheduleAllowedChargingRateUnit = "ChargingScheduleAllowedChargingRateUnit"
	KeyChargingScheduleMaxPeriods              = "ChargingScheduleMaxPeriods"
	KeyMaxChargingProfilesInstalled            = "MaxChargingProfilesInstalled"
	// KeyMeterPublicKey publishes the public key that verifies the session's signed meter
	// values (OCA "Signed Meter Values in OCPP": MeterPublicKey[connectorId]); read-only.
	KeyMeterPublicKey = "MeterPublicKey1"
	// KeySampledDataSignReadings (the OCPP 2.0.1 name, a vendor key in 1.6) adds a signed OCMF
	// record to each periodic MeterValues of a transaction (Config.SignSample); default false.
	KeySampledDataSignReadings = "SampledDataSignReadings"
)

// Measurands that the sampled meter values can carry (MeterValuesSampledData); the gateway's
// telemetry has these. Frequency is left out: the 1.6 unit enum has no Hz, and a value without
// unit means Wh (§7.43).
var supportedMeasurands = []string{"Energy.Active.Import.Register", "Energy.Active.Export.Register", "Power.Active.Import", "Voltage", "Current.Import"}

type keyDef struct {
	readonly bool
	check    func(string) error
}

var keyDefs = map[string]keyDef{
	KeyAuthorizeRemoteTxRequests:               {check: isBool},
	KeyClockAlignedDataInterval:                {check: isSeconds},
	KeyConnectionTimeOut:                       {check: isSeconds},
	KeyGetConfigurationMaxKeys:                 {readonly: true},
	KeyHeartbeatInterval:                       {check: isSeconds},
	KeyLocalAuthorizeOffline:                   {check: isBool},
	KeyLocalPreAuthorize:                       {check: isBool},
	KeyMeterValuesAlignedData:                  {check: isMeasurands},
	KeyMeterValuesSampledData:                  {check: isMeasurands},
	KeyMeterValueSampleInterval:                {check: isSeconds},
	KeyNumberOfConnectors:                      {readonly: true},
	KeyResetRetries:                            {check: isSeconds},
	KeyConnectorPhaseRotation:                  {check: func(string) error { return nil }},
	KeyStopTransactionOnEVSideDisconnect:       {readonly: true}, // the hardware does not see the EV
	KeyStopTransactionOnInvalidID:              {check: isBool},
	KeyStopTxnAlignedData:                      {check: isMeasurands},
	KeyStopTxnSampledData:                      {check: isMeasurands},
	KeySupportedFeatureProfiles:                {readonly: true},
	KeyTransactionMessageAttempts:              {check: isSeconds},
	KeyTransactionMessageRetryInterval:         {check: isSeconds},
	KeyUnlockConnectorOnEVSideDisconnect:       {readonly: true}, // no lock
	KeyWebSocketPingInterval:                   {check: isSeconds},
	KeyMeterPublicKey:                          {readonly: true},
	KeyAllowOfflineTxForUnknownID:              {check: isBool},
	KeyAuthorizationCacheEnabled:               {check: isBool},
	KeyLocalAuthListEnabled:                    {check: isBool},
	KeyLocalAuthListMaxLength:                  {readonly: true},
	KeySendLocalListMaxLength:                  {readonly: true},
	KeyReserveConnectorZeroSupported:           {readonly: true},
	KeyChargeProfileMaxStackLevel:              {readonly: true},
	KeyChargingScheduleAllowedChargingRateUnit: {readonly: true},
	KeyChargingScheduleMaxPeriods:              {readonly: true},
	KeyMaxChargingProfilesInstalled:            {readonly: true},
	KeySampledDataSignReadings:                 {check: isBool},
}

func defaultConfig(c Config) map[string]string {
	m := map[string]string{
		KeyAuthorizeRemoteTxRequests:               "false",
		KeyClockAlignedDataInterval:                "0",
		KeyConnectionTimeOut:                       "60",
		KeyGetConfigurationMaxKeys:                 strconv.Itoa(len(keyDefs)),
		KeyHeartbeatInterval:                       strconv.Itoa(int(c.HeartbeatInterval.Seconds())),
		KeyLocalAuthorizeOffline:                   "false",
		KeyLocalPreAuthorize:                       "false",
		KeyMeterValuesAlignedData:                  "Energy.Active.Import.Register",
		KeyMeterValuesSampledData:                  "Energy.Active.Import.Register",
		KeyMeterValueSampleInterval:                strconv.Itoa(int(c.MeterValueSampleInterval.Seconds())),
		KeyNumberOfConnectors:                      "1",
		KeyResetRetries:                            "1",
		KeyConnectorPhaseRotation:                  "Unknown",
		KeyStopTransactionOnEVSideDisconnect:       "true",
		KeyStopTransactionOnInvalidID:              "true",
		KeyStopTxnAlignedData:                      "",
		KeyStopTxnSampledData:                      "",
		KeySupportedFeatureProfiles:                "Core,LocalAuthListManagement,Reservation,RemoteTrigger,SmartCharging",
		KeyTransactionMessageAttempts:              "3",
		KeyTransactionMessageRetryInterval:         strconv.Itoa(max(1, int(c.RetryInterval.Seconds()))),
		KeyUnlockConnectorOnEVSideDisconnect:       "false",
		KeyWebSocketPingInterval:                   "0",
		KeyAllowOfflineTxForUnknownID:              "false",
		KeyAuthorizationCacheEnabled:               "true",
		KeyLocalAuthListEnabled:                    "true",
		KeyLocalAuthListMaxLength:                  strconv.Itoa(localListMax),
		KeySendLocalListMaxLength:                  strconv.Itoa(sendListMax),
		KeyReserveConnectorZeroSupported:           "false",
		KeyChargeProfileMaxStackLevel:              strconv.Itoa(maxStackLevel),
		KeyChargingScheduleAllowedChargingRateUnit: "Current,Power",
		KeyChargingScheduleMaxPeriods:              strconv.Itoa(maxPeriods),
		KeyMaxChargingProfilesInstalled:            strconv.Itoa(maxProfiles),
	}
	if c.MeterPublicKey != "" {
		m[KeyMeterPublicKey] = c.MeterPublicKey
	}
	if c.SignSample != nil {
		m[KeySampledDataSignReadings] = "false"
	}
	return m
}

func isBool(v string) error {
	if v != "true" && v != "false" {
		return fmt.Errorf("%q is not true or false", v)
	}
	return nil
}

func isSeconds(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return fmt.Errorf("%q is not a non-negative integer", v)
	}
	return nil
}

func isMeasurands(v string) error {
	if v == "" {
		return nil
	}
	for m := range strings.SplitSeq(v, ",") {
		if !slices.Contains(supportedMeasurands, strings.TrimSpace(m)) {
			return fmt.Errorf("measurand %q is not supported", m)
		}
	}
	return nil
}
