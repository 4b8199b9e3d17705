package mqtt

import (
	"encoding/hex"
	"time"

	"github.com/chargegate/chargegate/ledger"
)

// Presence is the retained message on the status topic, also the connection's last will.
type Presence struct {
	Device string `json:"device"`
	State  string `json:"state"` // StateOnline or StateOffline
}

// Presence states.
const (
	StateOnline  = "online"
	StateOffline = "offline"
)

// Reply is the answer published on cmd/{name}/reply for every command received.
type Reply struct {
	RequestID string      `json:"request_id"`
	OK        bool        `json:"ok"`
	Result    any         `json:"result,omitempty"`
	Error     *ReplyError `json:"error,omitempty"`
	Time      time.Time   `json:"time"`
}

// ReplyError says why a command was refused or failed.
type ReplyError struct {
	Code    string `json:"code"`    // one of Codes
	Message string `json:"message"` // for people; not to be parsed
}

// Reply error codes, as the package documentation explains them. The gateway maps its errors
// to these in one place.
const (
	CodeBadRequest     = "bad_request"
	CodeUnauthorized   = "unauthorized"
	CodeExpired        = "expired"
	CodeReplayed       = "replayed"
	CodeSessionRunning = "session_running"
	CodeNoSession      = "no_session"
	CodeStoreFull      = "store_full"
	CodeHardwareFault  = "hardware_fault"
	CodeUpdating       = "updating"
	CodeBusy           = "busy"
	CodeUnavailable    = "unavailable"
	CodeTimeout        = "timeout"
	CodeFailed         = "failed"
)

// Codes lists every reply error code in the order the package documentation gives them.
func Codes() []string {
	return []string{
		CodeBadRequest, CodeUnauthorized, CodeExpired, CodeReplayed, CodeSessionRunning, CodeNoSession,
		CodeStoreFull, CodeHardwareFault, CodeUpdating, CodeBusy, CodeUnavailable, CodeTimeout, CodeFailed,
	}
}

// AnchorMessage is what the anchors topic carries for one confirmed anchor: enough for a
// receiver to fetch the block from any node and check the entries it received against it.
type AnchorMessage struct {
	FirstSeq  uint64 `json:"first_seq"`
	LastSeq   uint64 `json:"last_seq"`
	Root      string `json:"root"`     // hex, no prefix
	BlockID   string `json:"block_id"` // 0x-prefixed hex, as in the IOTA node API
	Milestone uint32 `json:"milestone"`
	State     string `json:"state"`
}

// NewAnchorMessage renders a stored anchor for the anchors topic.
func NewAnchorMessage(a ledger.AnchorRecord) AnchorMessage {
	return AnchorMessage{
		FirstSeq: a.First, LastSeq: a.Last,
		Root:      hex.EncodeToString(a.Root[:]),
		BlockID:   "0x" + hex.EncodeToString(a.BlockID[:]),
		Milestone: a.Milestone,
		State:     a.State.String(),
	}
}
