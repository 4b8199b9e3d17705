package gateway

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// commander records the commands it is handed, as one EVSE's control loop.
type commander struct {
	n    uint8
	got  []Command
	fail error
}

func (c *commander) Do(_ context.Context, cmd Command) (Result, error) {
	c.got = append(c.got, cmd)
	if c.fail != nil {
		return nil, c.fail
	}
	if cmd.Name == CmdClearFault {
		return Result{"cleared": []string{AlarmEStop}}, nil
	}
	return Result{"evse": c.n}, nil
}

func TestOperatorRoutesByEVSE(t *testing.T) {
	e1, e2 := &commander{n: 1}, &commander{n: 2}
	op, err := NewOperator(OperatorOptions{Controller: e1, EVSEs: map[uint8]SessionCommander{1: e1, 2: e2}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range []struct {
		payload string
		want    uint8
	}{{`{"request_id":"a"}`, 1}, {`{"request_id":"b","evse":1}`, 1}, {`{"request_id":"c","evse":2}`, 2}} {
		res, code, err := op.Execute(ctx, CmdStart, []byte(c.payload))
		if err != nil {
			t.Fatalf("%s: %s %v", c.payload, code, err)
		}
		if got := res.(Result)["evse"]; got != c.want {
			t.Errorf("%s went to EVSE %v, want %d", c.payload, got, c.want)
		}
	}
	if _, code, err := op.Execute(ctx, CmdStop, []byte(`{"request_id":"d","evse":3}`)); code != "bad_request" || !errors.Is(err, ErrBadCommand) {
		t.Errorf("unknown EVSE: code %q err %v, want bad_request", code, err)
	}
	if _, code, _ := op.Execute(ctx, CmdConfig, []byte(`{"request_id":"e","evse":2}`)); code != "bad_request" {
		t.Errorf("a box-wide command with evse: code %q, want bad_request", code)
	}
	// clear_fault without evse resets every EVSE (an e-stop latched them all).
	res, _, err := op.Execute(ctx, CmdClearFault, []byte(`{"request_id":"f"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(res.(Result)["cleared"]); got != "[1:emergency_stop 2:emergency_stop]" {
		t.Errorf("cleared %s", got)
	}
	e2.fail = ErrHardwareFault
	if _, _, err := op.Execute(ctx, CmdClearFault, []byte(`{"request_id":"g"}`)); !errors.Is(err, ErrHardwareFault) || len(e1.got) != 4 {
		t.Errorf("clear with EVSE 2 failing: %v (EVSE 1 saw %d commands, want 4: it is still tried)", err, len(e1.got))
	}

	// A box with one EVSE: evse 1 is it, evse 2 is a bad request.
	one, _ := NewOperator(OperatorOptions{Controller: e1})
	if _, _, err := one.Execute(ctx, CmdStart, []byte(`{"request_id":"h","evse":1}`)); err != nil {
		t.Error(err)
	}
	if _, code, _ := one.Execute(ctx, CmdStart, []byte(`{"request_id":"i","evse":2}`)); code != "bad_request" {
		t.Errorf("EVSE 2 on a one-EVSE box: %q", code)
	}
}
