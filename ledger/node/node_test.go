package node_test

import (
	"bytes"
	"context"
	"crypto"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iotaledger/hive.go/serializer/v2"
	iotago "github.com/iotaledger/iota.go/v3"
	"github.com/iotaledger/iota.go/v3/builder"
	"github.com/iotaledger/iota.go/v3/merklehasher"
	"github.com/iotaledger/iota.go/v3/nodeclient"

	"github.com/chargegate/chargegate/ledger/node"
)

func newNode(t *testing.T, cfg node.Config) (*node.Node, *httptest.Server, *nodeclient.Client) {
	t.Helper()
	n, err := node.New(cfg)
	if err != nil {
		t.Fatalf("new node: %v", err)
	}
	srv := httptest.NewServer(n.Handler())
	t.Cleanup(func() { srv.Close(); n.Close() })
	return n, srv, nodeclient.New(srv.URL)
}

// taggedBlock builds a tagged-data block on the node's tips, with PoW at the node's minimum.
func taggedBlock(t *testing.T, c *nodeclient.Client, data string) *iotago.Block {
	t.Helper()
	ctx := context.Background()
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatalf("info: %v", err)
	}
	b := builder.NewBlockBuilder().Payload(&iotago.TaggedData{Tag: []byte("test"), Data: []byte(data)}).Tips(ctx, c)
	if s := info.Protocol.MinPoWScore; s > 0 {
		b = b.ProofOfWork(ctx, &info.Protocol, float64(s), 2)
	}
	blk, err := b.Build()
	if err != nil {
		t.Fatalf("build block: %v", err)
	}
	return blk
}

func TestRoutesAndShapes(t *testing.T) {
	_, srv, c := newNode(t, node.Config{NoPoW: true})
	ctx := context.Background()
	ok, err := c.Health(ctx)
	if err != nil || !ok {
		t.Fatalf("health %v %v", ok, err)
	}
	routes, err := c.Routes(ctx)
	if err != nil || len(routes.Routes) != 2 || routes.Routes[0] != "core/v2" || routes.Routes[1] != "poi/v1" {
		t.Fatalf("routes %+v %v", routes, err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatalf("info: %v", err)
	}
	if info.Protocol.MinPoWScore != 0 || info.Protocol.BelowMaxDepth != 15 || info.Status.ConfirmedMilestone.Index != 1 {
		t.Errorf("info %+v", info)
	}
	// The raw JSON carries tokenSupply as a decimal string and the supported versions.
	res, err := http.Get(srv.URL + "/api/core/v2/info")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{`"tokenSupply":"`, `"supportedProtocolVersions":[2]`, `"minPowScore":0`, `"belowMaxDepth":15`} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("info JSON lacks %s: %s", want, raw)
		}
	}
	blk := taggedBlock(t, c, "hello")
	id, err := c.SubmitBlock(ctx, blk, &info.Protocol)
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	if id != blk.MustID() {
		t.Errorf("node answered %s, block ID is %s", id.ToHex(), blk.MustID().ToHex())
	}
	got, err := c.BlockByBlockID(ctx, id, &info.Protocol)
	if err != nil {
		t.Fatalf("get block: %v", err)
	}
	if got.MustID() != id {
		t.Error("fetched block has another ID")
	}
	// JSON form of the block.
	res, err = http.Get(srv.URL + "/api/core/v2/blocks/" + id.ToHex())
	if err != nil {
		t.Fatal(err)
	}
	var jb iotago.Block
	if err := json.NewDecoder(res.Body).Decode(&jb); err != nil || jb.MustID() != id {
		t.Errorf("JSON block: %v", err)
	}
	res.Body.Close()
	meta, err := c.BlockMetadataByBlockID(ctx, id)
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	if meta.ReferencedByMilestoneIndex != 0 || meta.ShouldPromote == nil || *meta.ShouldPromote || meta.ShouldReattach == nil || *meta.ShouldReattach || !meta.Solid {
		t.Errorf("fresh metadata %+v", meta)
	}
	tips, err := c.Tips(ctx)
	if err != nil || len(tips.TipsHex) == 0 || len(tips.TipsHex) > 4 {
		t.Fatalf("tips %+v %v", tips, err)
	}
	if _, err := c.BlockByBlockID(ctx, iotago.BlockID{1}, &info.Protocol); !errors.Is(err, nodeclient.ErrHTTPNotFound) {
		t.Errorf("unknown block: %v, want 404", err)
	}
	// The error envelope.
	res, err = http.Get(srv.URL + "/api/core/v2/blocks/0x1234")
	if err != nil {
		t.Fatal(err)
	}
	var env nodeclient.HTTPErrorResponseEnvelope
	if err := json.NewDecoder(res.Body).Decode(&env); err != nil || res.StatusCode != 400 || env.Error.Code != "400" || env.Error.Message == "" {
		t.Errorf("error envelope %d %+v %v", res.StatusCode, env, err)
	}
	res.Body.Close()
}

func TestMilestoneReferencesBlock(t *testing.T) {
	n, _, c := newNode(t, node.Config{NoPoW: true})
	ctx := context.Background()
	info, _ := c.Info(ctx)
	blk := taggedBlock(t, c, "confirm me")
	id, err := c.SubmitBlock(ctx, blk, &info.Protocol)
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	idx, err := n.IssueMilestone(ctx)
	if err != nil || idx != 2 {
		t.Fatalf("milestone %d %v", idx, err)
	}
	meta, err := c.BlockMetadataByBlockID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if meta.ReferencedByMilestoneIndex != 2 || meta.LedgerInclusionState != "noTransaction" || meta.WhiteFlagIndex == nil || meta.ShouldPromote != nil {
		t.Errorf("referenced metadata %+v", meta)
	}
	ms, err := c.MilestoneByIndex(ctx, 2)
	if err != nil {
		t.Fatalf("milestone by index: %v", err)
	}
	key := iotago.MilestonePublicKey{}
	copy(key[:], n.CoordinatorKey())
	if err := ms.VerifySignatures(1, iotago.MilestonePublicKeySet{key: {}}); err != nil {
		t.Errorf("milestone signature: %v", err)
	}
	// The inclusion root commits to the referenced block at its white-flag index.
	found := false
	for _, p := range ms.Parents {
		if p == id {
			found = true
		}
	}
	if !found {
		t.Errorf("milestone parents %v lack the tip %s", ms.Parents, id.ToHex())
	}
	if _, err := c.MilestoneByIndex(ctx, 99); !errors.Is(err, nodeclient.ErrHTTPNotFound) {
		t.Errorf("milestone 99: %v, want 404", err)
	}
}

func TestValidation(t *testing.T) {
	_, srv, c := newNode(t, node.Config{MinPoWScore: 1500})
	ctx := context.Background()
	info, _ := c.Info(ctx)
	postRaw := func(data []byte) (int, string) {
		res, err := http.Post(srv.URL+"/api/core/v2/blocks", nodeclient.MIMEApplicationVendorIOTASerializerV1, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	post := func(blk *iotago.Block, mode serializer.DeSerializationMode) (int, string) {
		data, err := blk.Serialize(mode, nil)
		if err != nil {
			t.Fatalf("serialize: %v", err)
		}
		return postRaw(data)
	}
	tips, _ := c.Tips(ctx)
	parents, _ := tips.Tips()
	payload := &iotago.TaggedData{Tag: []byte("t"), Data: []byte("d")}
	cases := []struct {
		name   string
		blk    *iotago.Block
		mode   serializer.DeSerializationMode
		status int
		msg    string
	}{
		{"protocol version", &iotago.Block{ProtocolVersion: 1, Parents: parents, Payload: payload, Nonce: 1}, serializer.DeSeriModeNoValidation, 400, "protocolVersion invalid"},
		{"low score with nonce", &iotago.Block{ProtocolVersion: 2, Parents: parents, Payload: payload, Nonce: 1}, serializer.DeSeriModeNoValidation, 400, "PoW"},
		{"no pow, nonce 0", &iotago.Block{ProtocolVersion: 2, Parents: parents, Payload: payload}, serializer.DeSeriModeNoValidation, 503, "proof of work"},
		{"unsorted parents", &iotago.Block{ProtocolVersion: 2, Parents: iotago.BlockIDs{{2}, {1}}, Payload: payload, Nonce: 1}, serializer.DeSeriModeNoValidation, 400, "lexical"},
	}
	for _, tc := range cases {
		status, body := post(tc.blk, tc.mode)
		if status != tc.status || !strings.Contains(body, tc.msg) || !strings.Contains(body, `"code":"`) {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, status, body, tc.status, tc.msg)
		}
	}
	// Unknown parent, with valid PoW: not solid.
	blk := &iotago.Block{ProtocolVersion: 2, Parents: iotago.BlockIDs{{7}}, Payload: payload}
	blk = mine(t, blk, &info.Protocol)
	if status, body := post(blk, serializer.DeSeriModeNoValidation); status != 400 || !strings.Contains(body, "not solid") {
		t.Errorf("unknown parent: %d %s", status, body)
	}
	// Oversized block.
	// Oversized block: the layout of a tagged-data block, by hand (iota.go refuses to write it).
	big := []byte{2, 1}
	big = append(big, parents[0][:]...)
	const dataLen = 32800
	big = binary.LittleEndian.AppendUint32(big, 4+1+4+dataLen)
	big = binary.LittleEndian.AppendUint32(big, 5)
	big = append(big, 0)
	big = binary.LittleEndian.AppendUint32(big, dataLen)
	big = append(big, make([]byte, dataLen+8)...)
	if status, body := postRaw(big); status != 400 || !strings.Contains(body, "max size") {
		t.Errorf("big block: %d %s", status, body)
	}
	// A good block, then the same again: 201 both times, same ID.
	good := mine(t, &iotago.Block{ProtocolVersion: 2, Parents: parents, Payload: payload}, &info.Protocol)
	for i := 0; i < 2; i++ {
		id, err := c.SubmitBlock(ctx, good, &info.Protocol)
		if err != nil || id != good.MustID() {
			t.Fatalf("submit %d: %v", i, err)
		}
	}
}

func mine(t *testing.T, blk *iotago.Block, params *iotago.ProtocolParameters) *iotago.Block {
	t.Helper()
	b, err := builder.NewBlockBuilder().Parents(blk.Parents).Payload(blk.Payload).
		ProofOfWork(context.Background(), params, float64(params.MinPoWScore), 2).Build()
	if err != nil {
		t.Fatalf("pow: %v", err)
	}
	return b
}

func TestPersistsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	n1, err := node.New(node.Config{Dir: dir, NoPoW: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(n1.Handler())
	c := nodeclient.New(srv.URL)
	ctx := context.Background()
	info, _ := c.Info(ctx)
	confirmed, err := c.SubmitBlock(ctx, taggedBlock(t, c, "one"), &info.Protocol)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n1.IssueMilestone(ctx); err != nil {
		t.Fatal(err)
	}
	pending, err := c.SubmitBlock(ctx, taggedBlock(t, c, "two"), &info.Protocol)
	if err != nil {
		t.Fatal(err)
	}
	coord := n1.CoordinatorKey()
	for _, name := range []string{"node.db", "node.db-wal"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600 (it holds the coordinator key)", name, fi.Mode())
		}
	}
	srv.Close()
	if err := n1.Close(); err != nil {
		t.Fatal(err)
	}

	n2, srv2, c2 := newNodeIn(t, dir)
	_ = srv2
	if !n2.CoordinatorKey().Equal(coord) {
		t.Error("coordinator key changed across restart")
	}
	meta, err := c2.BlockMetadataByBlockID(ctx, confirmed)
	if err != nil || meta.ReferencedByMilestoneIndex != 2 {
		t.Errorf("confirmed block after restart: %+v %v", meta, err)
	}
	meta, err = c2.BlockMetadataByBlockID(ctx, pending)
	if err != nil || meta.ReferencedByMilestoneIndex != 0 {
		t.Fatalf("pending block after restart: %+v %v", meta, err)
	}
	if idx, err := n2.IssueMilestone(ctx); err != nil || idx != 3 {
		t.Fatalf("milestone after restart: %d %v", idx, err)
	}
	meta, err = c2.BlockMetadataByBlockID(ctx, pending)
	if err != nil || meta.ReferencedByMilestoneIndex != 3 {
		t.Errorf("pending block after restart and milestone: %+v %v", meta, err)
	}
}

func newNodeIn(t *testing.T, dir string) (*node.Node, *httptest.Server, *nodeclient.Client) {
	return newNode(t, node.Config{Dir: dir, NoPoW: true})
}

func TestOrphanNeedsPromoteThenReattach(t *testing.T) {
	n, _, c := newNode(t, node.Config{NoPoW: true, Faults: node.Faults{OrphanRate: 1, Seed: 1}})
	ctx := context.Background()
	info, _ := c.Info(ctx)
	id, err := c.SubmitBlock(ctx, taggedBlock(t, c, "lost"), &info.Protocol)
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]bool{}
	for i := 0; i < 18; i++ {
		if _, err := n.IssueMilestone(ctx); err != nil {
			t.Fatal(err)
		}
		meta, err := c.BlockMetadataByBlockID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if meta.ReferencedByMilestoneIndex != 0 {
			t.Fatal("orphaned block got referenced")
		}
		switch {
		case *meta.ShouldReattach:
			states["reattach"] = true
		case *meta.ShouldPromote:
			states["promote"] = true
		}
	}
	if !states["promote"] || !states["reattach"] {
		t.Errorf("states seen %v, want promote then reattach", states)
	}
}

func TestFaults(t *testing.T) {
	n, srv, c := newNode(t, node.Config{NoPoW: true, Faults: node.Faults{ErrorRate: 1}})
	_ = n
	if _, err := c.Info(context.Background()); !errors.Is(err, nodeclient.ErrHTTPInternalServerError) {
		t.Errorf("error rate 1: %v, want 500", err)
	}
	srv.Close()

	n2, _, c2 := newNode(t, node.Config{NoPoW: true, PeerlessHealth: true})
	if ok, err := c2.Health(context.Background()); ok || err != nil {
		t.Errorf("peerless health %v %v, want 503 as false", ok, err)
	}
	n2.SetDown(true)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c2.Info(ctx); err == nil {
		t.Error("info answered during an outage")
	}
	n2.SetDown(false)
	if _, err := c2.Info(ctx); err != nil {
		t.Errorf("info after the outage: %v", err)
	}

	_, _, c3 := newNode(t, node.Config{NoPoW: true, Faults: node.Faults{Latency: 50 * time.Millisecond}})
	start := time.Now()
	if _, err := c3.Info(ctx); err != nil || time.Since(start) < 50*time.Millisecond {
		t.Errorf("latency: %v after %v", err, time.Since(start))
	}
}

func TestInclusionRootAndJSONSubmission(t *testing.T) {
	n, srv, c := newNode(t, node.Config{NoPoW: true})
	ctx := context.Background()
	info, _ := c.Info(ctx)
	var ids iotago.BlockIDs
	for i := 0; i < 3; i++ {
		blk := taggedBlock(t, c, fmt.Sprint("block ", i))
		var id iotago.BlockID
		if i == 1 {
			// The JSON form of the same route.
			body, _ := json.Marshal(blk)
			res, err := http.Post(srv.URL+"/api/core/v2/blocks", nodeclient.MIMEApplicationJSON, bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			var out struct{ BlockID string }
			json.NewDecoder(res.Body).Decode(&out)
			res.Body.Close()
			if res.StatusCode != http.StatusCreated || res.Header.Get("Location") != out.BlockID || out.BlockID != blk.MustID().ToHex() {
				t.Fatalf("JSON submit: %d, Location %q, body %q", res.StatusCode, res.Header.Get("Location"), out.BlockID)
			}
			id = blk.MustID()
		} else {
			var err error
			if id, err = c.SubmitBlock(ctx, blk, &info.Protocol); err != nil {
				t.Fatal(err)
			}
		}
		ids = append(ids, id)
	}
	idx, err := n.IssueMilestone(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := c.MilestoneByIndex(ctx, idx)
	if err != nil {
		t.Fatal(err)
	}
	// As in Hornet, the previous milestone's block is a parent of the new milestone and is
	// referenced by it, together with our blocks.
	prevMs := 0
	for _, p := range ms.Parents {
		meta, err := c.BlockMetadataByBlockID(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if meta.MilestoneIndex == idx-1 {
			ids = append(ids, p)
			prevMs++
		}
	}
	if prevMs != 1 {
		t.Fatalf("milestone %d has %d parents that are milestone %d's block, want 1", idx, prevMs, idx-1)
	}
	// Order the referenced blocks by white-flag index and recompute the inclusion root.
	byIndex := map[uint32]iotago.BlockID{}
	for _, id := range ids {
		meta, err := c.BlockMetadataByBlockID(ctx, id)
		if err != nil || meta.ReferencedByMilestoneIndex != idx || meta.WhiteFlagIndex == nil {
			t.Fatalf("metadata %+v %v", meta, err)
		}
		byIndex[*meta.WhiteFlagIndex] = id
	}
	var ordered iotago.BlockIDs
	for i := uint32(0); i < uint32(len(byIndex)); i++ {
		id, ok := byIndex[i]
		if !ok {
			t.Fatalf("white-flag indexes %v are not 0..%d", byIndex, len(byIndex)-1)
		}
		ordered = append(ordered, id)
	}
	root := merklehasher.NewHasher(crypto.BLAKE2b_256).HashBlockIDs(ordered)
	if !bytes.Equal(root, ms.InclusionMerkleRoot[:]) {
		t.Errorf("inclusion root %x, recomputed %x", ms.InclusionMerkleRoot, root)
	}
	// The milestone by its ID answers the same payload.
	msID, _ := ms.ID()
	res, err := http.Get(srv.URL + "/api/core/v2/milestones/" + msID.ToHex())
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("milestone by ID: %v %v", res.StatusCode, err)
	}
	res.Body.Close()
}

func TestOutageWindowsFollowTheClock(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := make(chan time.Time, 1)
	clock <- now
	read := func() time.Time { t := <-clock; clock <- t; return t }
	set := func(t time.Time) { <-clock; clock <- t }
	_, _, c := newNode(t, node.Config{NoPoW: true, Now: read, Faults: node.Faults{Outages: []node.Outage{{Start: 10 * time.Second, Duration: 5 * time.Second}}}})
	ctx := context.Background()
	for _, step := range []struct {
		at time.Duration
		up bool
	}{{0, true}, {10 * time.Second, false}, {14 * time.Second, false}, {15 * time.Second, true}} {
		set(now.Add(step.at))
		_, err := c.Info(ctx)
		if (err == nil) != step.up {
			t.Errorf("at %v: err %v, want up=%v", step.at, err, step.up)
		}
	}
}
