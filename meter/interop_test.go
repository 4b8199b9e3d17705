package meter

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// freePort asks the kernel for a free loopback port for a server that cannot report the
// one it bound.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestPymodbusServer: our client reads a Modbus server we did not write (pymodbus from
// Debian's python3-pymodbus) serving an SDM630 register image from the datasheet, and
// decodes it correctly.
func TestPymodbusServer(t *testing.T) {
	py := "/usr/bin/python3" // Debian's python, where python3-pymodbus lives
	if _, err := os.Stat(py); err != nil {
		t.Fatalf("%s missing: %v", py, err)
	}
	input, id := sdmDatasheetImage()
	image := map[string]map[string]uint16{"input": {}, "holding": {}}
	for a, v := range input {
		image["input"][strconv.Itoa(a)] = v
	}
	idRegs, _ := id.words(Holding, 0xFC00, 4)
	for i, v := range idRegs {
		image["holding"][strconv.Itoa(0xFC00+i)] = v
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "image.json")
	b, _ := json.Marshal(image)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "testdata/pymodbus_server.py", strconv.Itoa(port), "1", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pymodbus stderr:\n%s", stderr.String())
		}
	})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	url := "tcp://127.0.0.1:" + strconv.Itoa(port)
	// Wait for the server to listen (poll with a deadline).
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", url[6:], 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pymodbus server did not start: %v", err)
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case err := <-exited:
			exited <- err
			t.Fatalf("pymodbus server exited: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	m, err := Open(ctx, Config{URL: url, Model: "auto"})
	if err != nil {
		t.Fatalf("open against pymodbus: %v", err)
	}
	defer m.Close()
	if m.Model() != "sdm630" {
		t.Fatalf("detected %s, want sdm630", m.Model())
	}
	r, err := m.Read(ctx)
	if err != nil {
		t.Fatalf("read from pymodbus: %v", err)
	}
	if r.ImportMWh != 12345677734 || r.ExportMWh != 1500000 || r.Serial != "20000000" {
		t.Errorf("import %d export %d serial %s", r.ImportMWh, r.ExportMWh, r.Serial)
	}
	if !approx(float64(float32(r.VoltageV[0])), float64(float32(230.1))) || !approx(r.PowerW, 7245) || !approx(float64(float32(r.FrequencyHz)), float64(float32(50.02))) {
		t.Errorf("values %v %v %v", r.VoltageV, r.PowerW, r.FrequencyHz)
	}
}
