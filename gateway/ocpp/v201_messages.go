package ocpp

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// OCPP 2.0.1 messages (Part 3 JSON schemas) the 2.0.1 face sends and answers; field names as
// in the schemas, optional fields omitted when empty.

type componentType struct {
	Name     string    `json:"name"`
	Instance string    `json:"instance,omitempty"`
	EVSE     *evseType `json:"evse,omitempty"`
}

type variableType struct {
	Name     string `json:"name"`
	Instance string `json:"instance,omitempty"`
}

type evseType struct {
	ID          int  `json:"id"`
	ConnectorID *int `json:"connectorId,omitempty"`
}

type idTokenType struct {
	IDToken string `json:"idToken"`
	Type    string `json:"type"`
}

type idTokenInfoType struct {
	Status              string       `json:"status"`
	CacheExpiryDateTime *Time        `json:"cacheExpiryDateTime,omitempty"`
	GroupIDToken        *idTokenType `json:"groupIdToken,omitempty"`
}

// tagInfo is the core's form of idTokenInfo (the local list and cache tables).
func (i idTokenInfoType) tagInfo() idTagInfo {
	info := idTagInfo{Status: i.Status, ExpiryDate: i.CacheExpiryDateTime}
	if i.GroupIDToken != nil {
		info.ParentIDTag = i.GroupIDToken.IDToken
	}
	return info
}

type chargingStationType struct {
	Model           string `json:"model"`
	VendorName      string `json:"vendorName"`
	SerialNumber    string `json:"serialNumber,omitempty"`
	FirmwareVersion string `json:"firmwareVersion,omitempty"`
}

type bootNotification201Req struct {
	ChargingStation chargingStationType `json:"chargingStation"`
	Reason          string              `json:"reason"`
}

type bootNotification201Conf struct {
	CurrentTime Time   `json:"currentTime"`
	Interval    int    `json:"interval"`
	Status      string `json:"status"`
}

type statusNotification201Req struct {
	Timestamp       Time   `json:"timestamp"`
	ConnectorStatus string `json:"connectorStatus"`
	EVSEID          int    `json:"evseId"`
	ConnectorID     int    `json:"connectorId"`
}

type getVariablesReq struct {
	GetVariableData []struct {
		AttributeType string        `json:"attributeType,omitempty"`
		Component     componentType `json:"component"`
		Variable      variableType  `json:"variable"`
	} `json:"getVariableData"`
}

type getVariableResult struct {
	AttributeStatus string        `json:"attributeStatus"`
	AttributeType   string        `json:"attributeType,omitempty"`
	AttributeValue  *string       `json:"attributeValue,omitempty"`
	Component       componentType `json:"component"`
	Variable        variableType  `json:"variable"`
}

type setVariablesReq struct {
	SetVariableData []struct {
		AttributeType  string        `json:"attributeType,omitempty"`
		AttributeValue string        `json:"attributeValue"`
		Component      componentType `json:"component"`
		Variable       variableType  `json:"variable"`
	} `json:"setVariableData"`
}

type setVariableResult struct {
	AttributeType   string        `json:"attributeType,omitempty"`
	AttributeStatus string        `json:"attributeStatus"`
	Component       componentType `json:"component"`
	Variable        variableType  `json:"variable"`
}

type getBaseReportReq struct {
	RequestID  int    `json:"requestId"`
	ReportBase string `json:"reportBase"`
}

type variableAttribute struct {
	Type       string `json:"type,omitempty"`
	Value      string `json:"value,omitempty"`
	Mutability string `json:"mutability,omitempty"`
	Persistent bool   `json:"persistent"`
	Constant   bool   `json:"constant"`
}

type variableCharacteristics struct {
	Unit               string `json:"unit,omitempty"`
	DataType           string `json:"dataType"`
	ValuesList         string `json:"valuesList,omitempty"`
	SupportsMonitoring bool   `json:"supportsMonitoring"`
}

type reportData struct {
	Component               componentType            `json:"component"`
	Variable                variableType             `json:"variable"`
	VariableAttribute       []variableAttribute      `json:"variableAttribute"`
	VariableCharacteristics *variableCharacteristics `json:"variableCharacteristics,omitempty"`
}

type notifyReportReq struct {
	RequestID   int          `json:"requestId"`
	GeneratedAt Time         `json:"generatedAt"`
	ReportData  []reportData `json:"reportData,omitempty"`
	Tbc         bool         `json:"tbc,omitempty"`
	SeqNo       int          `json:"seqNo"`
}

type unitOfMeasure struct {
	Unit string `json:"unit,omitempty"`
}

type signedMeterValue struct {
	SignedMeterData string `json:"signedMeterData"`
	SigningMethod   string `json:"signingMethod"`
	EncodingMethod  string `json:"encodingMethod"`
	PublicKey       string `json:"publicKey"`
}

type sampledValue201 struct {
	Value            float64           `json:"value"`
	Context          string            `json:"context,omitempty"`
	Measurand        string            `json:"measurand,omitempty"`
	Phase            string            `json:"phase,omitempty"`
	SignedMeterValue *signedMeterValue `json:"signedMeterValue,omitempty"`
	UnitOfMeasure    *unitOfMeasure    `json:"unitOfMeasure,omitempty"`
}

type meterValue201 struct {
	Timestamp    Time              `json:"timestamp"`
	SampledValue []sampledValue201 `json:"sampledValue"`
}

type transactionInfo struct {
	TransactionID string `json:"transactionId"`
	ChargingState string `json:"chargingState,omitempty"`
	StoppedReason string `json:"stoppedReason,omitempty"`
	RemoteStartID *int   `json:"remoteStartId,omitempty"`
}

type transactionEventReq struct {
	EventType       string          `json:"eventType"`
	Timestamp       Time            `json:"timestamp"`
	TriggerReason   string          `json:"triggerReason"`
	SeqNo           int             `json:"seqNo"`
	Offline         bool            `json:"offline,omitempty"`
	TransactionInfo transactionInfo `json:"transactionInfo"`
	IDToken         *idTokenType    `json:"idToken,omitempty"`
	EVSE            *evseType       `json:"evse,omitempty"`
	ReservationID   *int            `json:"reservationId,omitempty"`
	MeterValue      []meterValue201 `json:"meterValue,omitempty"`
}

type transactionEventConf struct {
	IDTokenInfo *idTokenInfoType `json:"idTokenInfo,omitempty"`
}

type requestStartReq struct {
	EVSEID        *int         `json:"evseId,omitempty"`
	RemoteStartID int          `json:"remoteStartId"`
	IDToken       idTokenType  `json:"idToken"`
	GroupIDToken  *idTokenType `json:"groupIdToken,omitempty"`
	// ChargingProfile is the transaction's TxProfile (K05), installed once it started.
	ChargingProfile *chargingProfile201 `json:"chargingProfile,omitempty"`
}

type requestStopReq struct {
	TransactionID string `json:"transactionId"`
}

type requestStartConf struct {
	Status        string `json:"status"`
	TransactionID string `json:"transactionId,omitempty"`
}

// statusInfo is StatusInfoType: a reason code (case-insensitive, at most 20 characters) and
// free text.
type statusInfo struct {
	ReasonCode     string `json:"reasonCode"`
	AdditionalInfo string `json:"additionalInfo,omitempty"`
}

// status201Conf is the answer of the status-only 2.0.1 responses with their statusInfo.
type status201Conf struct {
	Status     string      `json:"status"`
	StatusInfo *statusInfo `json:"statusInfo,omitempty"`
}

func reason(code, info string) *statusInfo {
	if len(info) > maxAdditionalInfo {
		info = info[:maxAdditionalInfo]
	}
	return &statusInfo{ReasonCode: code, AdditionalInfo: info}
}

// dropCustomData removes the customData members (CustomDataType: a vendorId and whatever the
// vendor adds) from every object of a 2.0.1 payload, at any depth, so that the strict decoder
// refuses only what the schemas forbid. A DataTransfer's data is the vendor's own and is kept
// as sent. Numbers keep their text. A payload without "customData" is returned unchanged.
func dropCustomData(action string, payload json.RawMessage) (json.RawMessage, error) {
	if !bytes.Contains(payload, []byte(`"customData"`)) {
		return payload, nil
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decode %s: %w", action, err)
	}
	var walk func(v any, top bool)
	walk = func(v any, top bool) {
		switch x := v.(type) {
		case map[string]any:
			delete(x, "customData")
			for k, m := range x {
				if top && action == actionData && k == "data" {
					continue
				}
				walk(m, false)
			}
		case []any:
			for _, m := range x {
				walk(m, false)
			}
		}
	}
	walk(v, true)
	out, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s without customData: %w", action, err)
	}
	return out, nil
}
