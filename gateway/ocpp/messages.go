package ocpp

import (
	"encoding/json"
	"time"
)

// The OCPP 1.6 JSON payloads this charge point sends and answers, field for field as in the
// official schemas (OCPP 1.6 edition 2, JSON schemas; the test CSMS validates each one).

// Time is an OCPP dateTime: RFC 3339 in UTC with milliseconds.
type Time struct{ time.Time }

// MarshalJSON renders t as 2006-01-02T15:04:05.000Z.
func (t Time) MarshalJSON() ([]byte, error) {
	return json.Marshal(t.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
}

// UnmarshalJSON reads any RFC 3339 time.
func (t *Time) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return err
	}
	t.Time = v
	return nil
}

type bootNotificationReq struct {
	ChargePointVendor       string `json:"chargePointVendor"`
	ChargePointModel        string `json:"chargePointModel"`
	ChargePointSerialNumber string `json:"chargePointSerialNumber,omitempty"`
	FirmwareVersion         string `json:"firmwareVersion,omitempty"`
	MeterType               string `json:"meterType,omitempty"`
	MeterSerialNumber       string `json:"meterSerialNumber,omitempty"`
}

type bootNotificationConf struct {
	Status      string `json:"status"` // Accepted | Pending | Rejected
	CurrentTime Time   `json:"currentTime"`
	Interval    int    `json:"interval"`
}

type heartbeatConf struct {
	CurrentTime Time `json:"currentTime"`
}

type statusNotificationReq struct {
	ConnectorID     int    `json:"connectorId"`
	ErrorCode       string `json:"errorCode"`
	Info            string `json:"info,omitempty"`
	Status          string `json:"status"`
	Timestamp       *Time  `json:"timestamp,omitempty"`
	VendorID        string `json:"vendorId,omitempty"`
	VendorErrorCode string `json:"vendorErrorCode,omitempty"`
}

type idTagInfo struct {
	Status      string `json:"status"` // Accepted | Blocked | Expired | Invalid | ConcurrentTx
	ExpiryDate  *Time  `json:"expiryDate,omitempty"`
	ParentIDTag string `json:"parentIdTag,omitempty"`
}

type authorizeReq struct {
	IDTag string `json:"idTag"`
}

type authorizeConf struct {
	IDTagInfo idTagInfo `json:"idTagInfo"`
}

type startTransactionReq struct {
	ConnectorID   int    `json:"connectorId"`
	IDTag         string `json:"idTag"`
	MeterStart    int64  `json:"meterStart"` // Wh
	ReservationID *int   `json:"reservationId,omitempty"`
	Timestamp     Time   `json:"timestamp"`
}

type startTransactionConf struct {
	IDTagInfo     idTagInfo `json:"idTagInfo"`
	TransactionID int64     `json:"transactionId"`
}

type stopTransactionReq struct {
	IDTag           string       `json:"idTag,omitempty"`
	MeterStop       int64        `json:"meterStop"` // Wh
	Timestamp       Time         `json:"timestamp"`
	TransactionID   int64        `json:"transactionId"`
	Reason          string       `json:"reason,omitempty"`
	TransactionData []MeterValue `json:"transactionData,omitempty"`
}

type stopTransactionConf struct {
	IDTagInfo *idTagInfo `json:"idTagInfo,omitempty"`
}

// MeterValue is one timestamped set of sampled values (OCPP 1.6 §7.31).
type MeterValue struct {
	Timestamp    Time           `json:"timestamp"`
	SampledValue []SampledValue `json:"sampledValue"`
}

// SampledValue is one value of a MeterValue (OCPP 1.6 §7.43). Value is a string without a
// length limit in the 1.6 JSON schema, so a whole OCMF record fits.
type SampledValue struct {
	Value     string `json:"value"`
	Context   string `json:"context,omitempty"`
	Format    string `json:"format,omitempty"` // Raw | SignedData
	Measurand string `json:"measurand,omitempty"`
	Phase     string `json:"phase,omitempty"`
	Location  string `json:"location,omitempty"`
	Unit      string `json:"unit,omitempty"`
}

type meterValuesReq struct {
	ConnectorID   int          `json:"connectorId"`
	TransactionID *int64       `json:"transactionId,omitempty"`
	MeterValue    []MeterValue `json:"meterValue"`
}

type remoteStartTransactionReq struct {
	ConnectorID     *int             `json:"connectorId,omitempty"`
	IDTag           string           `json:"idTag"`
	ChargingProfile *chargingProfile `json:"chargingProfile,omitempty"`
}

type remoteStopTransactionReq struct {
	TransactionID int64 `json:"transactionId"`
}

type statusConf struct {
	Status string `json:"status"`
}

type getConfigurationReq struct {
	Key []string `json:"key,omitempty"`
}

type keyValue struct {
	Key      string  `json:"key"`
	Readonly bool    `json:"readonly"`
	Value    *string `json:"value,omitempty"`
}

type getConfigurationConf struct {
	ConfigurationKey []keyValue `json:"configurationKey,omitempty"`
	UnknownKey       []string   `json:"unknownKey,omitempty"`
}

type changeConfigurationReq struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type dataTransferReq struct {
	VendorID  string `json:"vendorId"`
	MessageID string `json:"messageId,omitempty"`
	Data      string `json:"data,omitempty"`
}

type dataTransferConf struct {
	Status string `json:"status"` // Accepted | Rejected | UnknownMessageId | UnknownVendorId
	Data   string `json:"data,omitempty"`
}

type triggerMessageReq struct {
	RequestedMessage string `json:"requestedMessage"`
	ConnectorID      *int   `json:"connectorId,omitempty"`
}

type changeAvailabilityReq struct {
	ConnectorID int    `json:"connectorId"`
	Type        string `json:"type"` // Inoperative | Operative
}

type authorizationData struct {
	IDTag     string     `json:"idTag"`
	IDTagInfo *idTagInfo `json:"idTagInfo,omitempty"`
}

type sendLocalListReq struct {
	ListVersion            int                 `json:"listVersion"`
	LocalAuthorizationList []authorizationData `json:"localAuthorizationList,omitempty"`
	UpdateType             string              `json:"updateType"` // Differential | Full
}

type getLocalListVersionConf struct {
	ListVersion int `json:"listVersion"`
}

type reserveNowReq struct {
	ConnectorID   int    `json:"connectorId"`
	ExpiryDate    Time   `json:"expiryDate"`
	IDTag         string `json:"idTag"`
	ParentIDTag   string `json:"parentIdTag,omitempty"`
	ReservationID int    `json:"reservationId"`
}

type cancelReservationReq struct {
	ReservationID int `json:"reservationId"`
}
