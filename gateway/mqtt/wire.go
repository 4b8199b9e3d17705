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
	Code    string `json:"code"`    // one of the codes in the package documentation
	Message string `json:"message"` // for people; not to be parsed
}

// CodeFailed is the reply code for a failure that names no code of its own. The codes an
// operator can see are listed in the package documentation; package gateway maps its errors to
// them in one table (gateway.ErrorCode).
const CodeFailed = "failed"

// CheckpointMessage is what the checkpoint topic carries: the device's latest signed C2SP
// checkpoint of its chain (package ledger/checkpoint), retained, so that anyone subscribed can
// keep it and later demand a consistency proof.
type CheckpointMessage struct {
	Size       int64  `json:"size"`       // tree size: the head sequence number
	Checkpoint string `json:"checkpoint"` // the signed note, exactly as signed
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
