package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/iotaledger/hive.go/serializer/v2"
	iotago "github.com/iotaledger/iota.go/v3"
	"github.com/iotaledger/iota.go/v3/nodeclient"
)

const (
	mimeJSON   = nodeclient.MIMEApplicationJSON
	mimeVendor = nodeclient.MIMEApplicationVendorIOTASerializerV1
	// maxBody bounds a submitted block: the largest block in JSON is about twice its binary size.
	maxBody = 4 * iotago.BlockBinSerializedMaxSize
)

// infoResponse is GET /api/core/v2/info as Hornet 2.0.1 answers it.
type infoResponse struct {
	nodeclient.InfoResponse
	SupportedProtocolVersions []int                       `json:"supportedProtocolVersions"`
	PendingProtocolParameters []iotago.ProtocolParameters `json:"pendingProtocolParameters"`
}

// Handler returns the HTTP API: the core REST API v2 subset, with fault injection in front.
func (n *Node) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", n.handleHealth)
	mux.HandleFunc("GET /api/routes", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, nodeclient.RoutesResponse{Routes: []string{"core/v2", "poi/v1"}})
	})
	mux.HandleFunc("GET /api/core/v2/info", n.handleInfo)
	mux.HandleFunc("GET /api/core/v2/tips", n.handleTips)
	mux.HandleFunc("POST /api/core/v2/blocks", n.handleSubmit)
	mux.HandleFunc("GET /api/core/v2/blocks/{id}", n.handleBlock)
	mux.HandleFunc("GET /api/core/v2/blocks/{id}/metadata", n.handleMetadata)
	mux.HandleFunc("GET /api/core/v2/milestones/by-index/{index}", n.handleMilestoneByIndex)
	mux.HandleFunc("GET /api/core/v2/milestones/{id}", n.handleMilestoneByID)
	mux.HandleFunc("GET /api/poi/v1/create/{id}", n.handlePoICreate)
	mux.HandleFunc("POST /api/poi/v1/validate", n.handlePoIValidate)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "route not found: "+r.URL.Path)
	})
	return n.injectFaults(mux)
}

// injectFaults injects outages, latency and errors in front of the API.
func (n *Node) injectFaults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.isDown() {
			// An outage: drop the connection without an answer, as a dead node would.
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
					return
				}
			}
			writeError(w, http.StatusServiceUnavailable, "node is down")
			return
		}
		if n.isUnsynced() && r.URL.Path != "/health" && r.URL.Path != "/api/core/v2/info" && r.URL.Path != "/api/routes" {
			writeError(w, http.StatusServiceUnavailable, "node is not synced")
			return
		}
		f := n.currentFaults()
		if d := f.Latency; d > 0 {
			t := time.NewTimer(d)
			select {
			case <-r.Context().Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		if n.chance(f.ErrorRate) {
			writeError(w, http.StatusInternalServerError, "injected fault")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// isUnsynced reports whether SetSynced(false) is in force.
func (n *Node) isUnsynced() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.unsynced
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encode response: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", mimeJSON)
	w.WriteHeader(status)
	w.Write(b) //nolint:errcheck // the client went away
}

// writeError answers with the node's error envelope: {"error":{"code":"400","message":"…"}}.
func writeError(w http.ResponseWriter, status int, msg string) {
	var env nodeclient.HTTPErrorResponseEnvelope
	env.Error.Code = strconv.Itoa(status)
	env.Error.Message = msg
	b, _ := json.Marshal(env)
	w.Header().Set("Content-Type", mimeJSON)
	w.WriteHeader(status)
	w.Write(b) //nolint:errcheck // the client went away
}

// wantsVendor reports whether the client asked for the binary serialization.
func wantsVendor(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), mimeVendor)
}

func (n *Node) handleHealth(w http.ResponseWriter, _ *http.Request) {
	n.mu.Lock()
	closed := n.closed
	n.mu.Unlock()
	if closed || n.cfg.PeerlessHealth {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (n *Node) handleInfo(w http.ResponseWriter, _ *http.Request) {
	n.mu.Lock()
	var latest nodeclient.InfoResMilestone
	if k := len(n.milestones); k > 0 {
		ms := n.milestones[k-1]
		latest = nodeclient.InfoResMilestone{Index: ms.index, Timestamp: ms.timestamp, MilestoneID: ms.id.ToHex()}
	}
	n.mu.Unlock()
	var info infoResponse
	info.Name = "ledgernode"
	info.Version = "1.0.0"
	info.Status = nodeclient.InfoResStatus{
		IsHealthy:          !n.cfg.PeerlessHealth && !n.isUnsynced(),
		LatestMilestone:    latest,
		ConfirmedMilestone: latest,
		PruningIndex:       n.pruningIndex(),
	}
	info.Protocol = n.params
	info.BaseToken = &nodeclient.InfoResBaseToken{Name: "Local", TickerSymbol: "LCL", Unit: "LCL", Subunit: "glow", Decimals: 6}
	info.Features = []string{}
	info.SupportedProtocolVersions = []int{int(n.params.Version)}
	info.PendingProtocolParameters = []iotago.ProtocolParameters{}
	writeJSON(w, http.StatusOK, info)
}

func (n *Node) handleTips(w http.ResponseWriter, _ *http.Request) {
	n.mu.Lock()
	tips := n.selectTips(maxTips)
	n.mu.Unlock()
	if len(tips) == 0 {
		writeError(w, http.StatusServiceUnavailable, "no tips available")
		return
	}
	writeJSON(w, http.StatusOK, nodeclient.TipsResponse{TipsHex: tips.ToHex()})
}

func (n *Node) handleSubmit(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	if len(body) > maxBody {
		writeError(w, http.StatusBadRequest, "invalid block, error: body too large")
		return
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	blk := &iotago.Block{}
	var raw []byte
	switch ct {
	case mimeVendor:
		if _, err := blk.Deserialize(body, serializer.DeSeriModeNoValidation, nil); err != nil {
			writeError(w, http.StatusBadRequest, "invalid block, error: "+err.Error())
			return
		}
		raw = body
	case mimeJSON, "":
		if err := json.Unmarshal(body, blk); err != nil {
			writeError(w, http.StatusBadRequest, "invalid block, error: "+err.Error())
			return
		}
	default:
		writeError(w, http.StatusUnsupportedMediaType, "unsupported content type "+ct)
		return
	}
	id, err := n.Attach(blk, raw)
	if err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	if n.chance(n.currentFaults().LostResponseRate) {
		writeError(w, http.StatusInternalServerError, "injected fault after storing the block")
		return
	}
	w.Header().Set("Location", id.ToHex())
	writeJSON(w, http.StatusCreated, map[string]string{"blockId": id.ToHex()})
}

// parseBlockID parses a 0x-prefixed 32-byte block ID.
func parseBlockID(s string) (iotago.BlockID, error) {
	b, err := iotago.DecodeHex(s)
	if err != nil || len(b) != iotago.BlockIDLength {
		return iotago.BlockID{}, errors.New("invalid block ID: " + s)
	}
	var id iotago.BlockID
	copy(id[:], b)
	return id, nil
}

func (n *Node) handleBlock(w http.ResponseWriter, r *http.Request) {
	id, err := parseBlockID(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	n.mu.Lock()
	closed := n.closed
	var data []byte
	var ok bool
	if !closed {
		data, ok, err = n.db.blockData(id)
	}
	n.mu.Unlock()
	switch {
	case closed:
		writeError(w, http.StatusServiceUnavailable, "node is shutting down")
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	case !ok:
		writeError(w, http.StatusNotFound, "block not found: "+id.ToHex())
		return
	}
	if wantsVendor(r) {
		w.Header().Set("Content-Type", mimeVendor)
		w.WriteHeader(http.StatusOK)
		w.Write(data) //nolint:errcheck // the client went away
		return
	}
	blk, err := decodeStoredBlock(data)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, blk)
}

func (n *Node) handleMetadata(w http.ResponseWriter, r *http.Request) {
	id, err := parseBlockID(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	m, ok := n.blocks[id]
	if !ok {
		writeError(w, http.StatusNotFound, "block not found: "+id.ToHex())
		return
	}
	res := nodeclient.BlockMetadataResponse{BlockID: id.ToHex(), Parents: m.parents.ToHex(), Solid: true}
	if m.refMs != 0 {
		res.ReferencedByMilestoneIndex = m.refMs
		res.MilestoneIndex = m.msIndex
		res.LedgerInclusionState = "noTransaction"
		wf := m.wfIndex
		res.WhiteFlagIndex = &wf
	} else {
		promote, reattach := n.tipScore(m)
		res.ShouldPromote, res.ShouldReattach = &promote, &reattach
	}
	writeJSON(w, http.StatusOK, res)
}

func (n *Node) handleMilestoneByIndex(w http.ResponseWriter, r *http.Request) {
	idx, err := strconv.ParseUint(r.PathValue("index"), 10, 32)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid milestone index: "+r.PathValue("index"))
		return
	}
	n.mu.Lock()
	var blockID iotago.BlockID
	found := idx >= 1 && idx <= uint64(len(n.milestones)) && uint32(idx) >= n.pruned
	if found {
		blockID = n.milestones[idx-1].blockID
	}
	n.mu.Unlock()
	if !found {
		writeError(w, http.StatusNotFound, fmt.Sprintf("milestone not found: %d", idx))
		return
	}
	n.writeMilestone(w, r, blockID)
}

func (n *Node) handleMilestoneByID(w http.ResponseWriter, r *http.Request) {
	b, err := iotago.DecodeHex(r.PathValue("id"))
	if err != nil || len(b) != iotago.MilestoneIDLength {
		writeError(w, http.StatusBadRequest, "invalid milestone ID: "+r.PathValue("id"))
		return
	}
	var blockID iotago.BlockID
	found := false
	n.mu.Lock()
	for _, ms := range n.milestones {
		if string(ms.id[:]) == string(b) && ms.index >= n.pruned {
			blockID, found = ms.blockID, true
			break
		}
	}
	n.mu.Unlock()
	if !found {
		writeError(w, http.StatusNotFound, "milestone not found: "+r.PathValue("id"))
		return
	}
	n.writeMilestone(w, r, blockID)
}

// writeMilestone answers with the milestone payload carried by the given block.
func (n *Node) writeMilestone(w http.ResponseWriter, r *http.Request, blockID iotago.BlockID) {
	n.mu.Lock()
	data, ok, err := n.db.blockData(blockID)
	n.mu.Unlock()
	if err == nil && !ok {
		err = errors.New("milestone block missing")
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	blk, err := decodeStoredBlock(data)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	ms, ok := blk.Payload.(*iotago.Milestone)
	if !ok {
		writeError(w, http.StatusInternalServerError, "milestone block without milestone payload")
		return
	}
	if wantsVendor(r) {
		raw, err := ms.Serialize(serializer.DeSeriModeNoValidation, nil)
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		w.Header().Set("Content-Type", mimeVendor)
		w.WriteHeader(http.StatusOK)
		w.Write(raw) //nolint:errcheck // the client went away
		return
	}
	writeJSON(w, http.StatusOK, ms)
}
