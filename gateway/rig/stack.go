package rig

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway/child"
)

// Stack is a gateway's surroundings: a meter simulator (SDM630, serial 71000042), a ledger
// node and optionally a Mosquitto broker, each on free loopback ports.
type Stack struct {
	Metersim map[string]string // metersim's addresses: "modbus" (tcp://), "control" (http://)
	Node     map[string]string // the ledger node's addresses: "api"; nil without a node
	NodeProc *child.Process
	NodeDir  string
	NodeArgs []string
	Broker   *Broker // nil without a broker
	// LedgerURL is what the gateway is told to use as its node: Node["api"], or a proxy a test
	// puts in between.
	LedgerURL string
}

// StackOptions choose the parts of a Stack.
type StackOptions struct {
	Broker    bool     // start a broker
	NoNode    bool     // no ledger node (anchoring off)
	NodeFlags []string // more ledgernode flags
	MeterArgs []string // more metersim flags
}

// nodeFixedArgs is how many of NodeArgs RestartNode keeps: the flags that are not faults.
const nodeFixedArgs = 10

// StartStack starts the parts o asks for; they stop when the test ends.
func StartStack(tb testing.TB, o StackOptions) *Stack {
	tb.Helper()
	s := &Stack{}
	args := append([]string{"--model", "sdm630", "--listen", "tcp://127.0.0.1:0", "--control", "127.0.0.1:0", "--serial", "71000042"}, o.MeterArgs...)
	s.Metersim = StartService(tb, Bin(tb, "metersim"), args...).Addrs
	if !o.NoNode {
		s.NodeDir = tb.TempDir()
		s.NodeArgs = append([]string{"--listen", fmt.Sprintf("127.0.0.1:%d", FreePort(tb)), "--data", s.NodeDir,
			"--min-pow-score", "0", "--milestone-interval", "300ms", "--log-level", "warn"}, o.NodeFlags...)
		s.NodeProc = StartService(tb, Bin(tb, "ledgernode"), s.NodeArgs...)
		s.Node = s.NodeProc.Addrs
		s.LedgerURL = s.Node["api"]
	}
	if o.Broker {
		s.Broker = StartBroker(tb, "")
	}
	return s
}

// RestartNode stops the ledger node (SIGKILL when kill, else SIGTERM) and starts it again on
// the same port and data, with flags replacing the fault flags it had.
func (s *Stack) RestartNode(tb testing.TB, kill bool, flags ...string) {
	tb.Helper()
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	s.NodeProc.Stop(sig, 20*time.Second)
	args := append(append([]string(nil), s.NodeArgs[:nodeFixedArgs]...), flags...)
	s.NodeProc = StartService(tb, Bin(tb, "ledgernode"), args...)
	s.Node = s.NodeProc.Addrs
}

// MeterFault injects a metersim fault (JSON, see meter/sim/doc.go) and returns its ID.
func (s *Stack) MeterFault(tb testing.TB, fault string) int {
	tb.Helper()
	resp, err := http.Post(s.Metersim["control"]+"/v1/fault", "application/json", strings.NewReader(fault))
	if err != nil {
		tb.Fatalf("inject fault %s: %v", fault, err)
	}
	defer resp.Body.Close()
	var r struct {
		ID int `json:"id"`
	}
	if resp.StatusCode != http.StatusCreated || json.NewDecoder(resp.Body).Decode(&r) != nil {
		tb.Fatalf("inject fault %s: %s", fault, resp.Status)
	}
	return r.ID
}

// ClearMeterFaults removes every metersim fault (event kinds keep the state they changed).
func (s *Stack) ClearMeterFaults(tb testing.TB) {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodDelete, s.Metersim["control"]+"/v1/faults", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("clear faults: %v", err)
	}
	resp.Body.Close()
}

// SetProfile changes the simulated load: the power it draws when connected and how fast it ramps.
func (s *Stack) SetProfile(tb testing.TB, maxW, rampWPerS float64) {
	tb.Helper()
	body := fmt.Sprintf(`{"unit":1,"max_w":%g,"phases":3,"ramp_w_per_s":%g}`, maxW, rampWPerS)
	resp, err := http.Post(s.Metersim["control"]+"/v1/profile", "application/json", bytes.NewBufferString(body))
	if err != nil {
		tb.Fatalf("set profile: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		tb.Fatalf("set profile: %s", resp.Status)
	}
}

// SimMeter returns metersim's state of unit 1 ("connected": whether the simulated contactor
// holds its load, and the registers).
func (s *Stack) SimMeter(tb testing.TB) map[string]any {
	tb.Helper()
	resp, err := http.Get(s.Metersim["control"] + "/v1/meters/1")
	if err != nil {
		tb.Fatalf("metersim state: %v", err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return m
}
