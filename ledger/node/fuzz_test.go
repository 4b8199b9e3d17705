package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/iotaledger/hive.go/serializer/v2"
	iotago "github.com/iotaledger/iota.go/v3"
	"github.com/iotaledger/iota.go/v3/nodeclient"

	"github.com/chargegate/chargegate/ledger/node"
)

// FuzzSubmitBlock posts arbitrary bytes as a block, in both content types: the node must never
// panic, must answer 201, 400 or 503 with the error envelope, and must serve whatever it
// accepted back byte for byte.
func FuzzSubmitBlock(f *testing.F) {
	n, err := node.New(node.Config{NoPoW: true})
	if err != nil {
		f.Fatal(err)
	}
	defer n.Close()
	h := n.Handler()
	tips := func() iotago.BlockIDs {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/core/v2/tips", nil))
		var res nodeclient.TipsResponse
		json.Unmarshal(rec.Body.Bytes(), &res)
		ids, _ := res.Tips()
		return ids
	}
	blk := &iotago.Block{ProtocolVersion: 2, Parents: tips(), Payload: &iotago.TaggedData{Tag: []byte("t"), Data: []byte("seed")}}
	raw, err := blk.Serialize(serializer.DeSeriModePerformValidation, nil)
	if err != nil {
		f.Fatal(err)
	}
	js, _ := json.Marshal(blk)
	f.Add(raw, false)
	f.Add(js, true)
	f.Add([]byte{2, 0}, false)
	f.Fuzz(func(t *testing.T, body []byte, asJSON bool) {
		ct := nodeclient.MIMEApplicationVendorIOTASerializerV1
		if asJSON {
			ct = nodeclient.MIMEApplicationJSON
		}
		req := httptest.NewRequest(http.MethodPost, "/api/core/v2/blocks", bytes.NewReader(body)).WithContext(context.Background())
		req.Header.Set("Content-Type", ct)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusCreated:
			id := rec.Header().Get("Location")
			get := httptest.NewRequest(http.MethodGet, "/api/core/v2/blocks/"+id, nil)
			get.Header.Set("Accept", nodeclient.MIMEApplicationVendorIOTASerializerV1)
			out := httptest.NewRecorder()
			h.ServeHTTP(out, get)
			stored := &iotago.Block{}
			if _, err := stored.Deserialize(out.Body.Bytes(), serializer.DeSeriModePerformValidation, nil); err != nil {
				t.Fatalf("accepted block %s does not deserialize with validation: %v", id, err)
			}
			if stored.MustID().ToHex() != id {
				t.Fatalf("stored block has ID %s, answered %s", stored.MustID().ToHex(), id)
			}
		case http.StatusBadRequest, http.StatusServiceUnavailable:
			var env nodeclient.HTTPErrorResponseEnvelope
			if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || env.Error.Message == "" {
				t.Fatalf("status %d without error envelope: %q", rec.Code, rec.Body.Bytes())
			}
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body.Bytes())
		}
	})
}
