package ocpp_test

import (
	"path/filepath"
	"testing"

	"github.com/chargegate/chargegate/gateway/rig"
)

// The strict OCPP 1.6J peer (npm ocpp-rpc with strictMode) lives in testdata/csms; package rig
// runs it.
type (
	csms     = rig.CSMS
	csmsLine = rig.CSMSLine
)

func startCSMS(t *testing.T, args ...string) *csms {
	t.Helper()
	return rig.StartCSMS(t, filepath.Join("testdata", "csms"), args...)
}
