package vm_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chargegate/chargegate/images/vm"
)

// need fails (never skips) when a tool from .ci/deps is missing: `make deps` installs it.
func need(tb testing.TB, tools ...string) {
	tb.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			tb.Fatalf("%s not found: run `make deps` (Debian packages qemu-system-x86, qemu-system-arm, linux-image-amd64, busybox-static, e2fsprogs)", tool)
		}
	}
}

// programs are chargegate and metersim built once per test binary and architecture.
type programs struct {
	dir     string
	libDirs []string
}

var (
	builds    sync.Map // goarch → func() (programs, error)
	buildDirs sync.Map // directories to remove when the tests end
)

// TestMain removes the programs built for the machines once every test has run.
func TestMain(m *testing.M) {
	code := m.Run()
	buildDirs.Range(func(dir, _ any) bool {
		os.RemoveAll(dir.(string))
		return true
	})
	os.Exit(code)
}

// buildPrograms compiles chargegate, metersim and chargegate-bundle with cgo (SQLite) for goarch: the host's own
// toolchain for amd64, Debian's aarch64-linux-gnu-gcc for arm64.
func buildPrograms(tb testing.TB, goarch string) programs {
	tb.Helper()
	f, _ := builds.LoadOrStore(goarch, sync.OnceValues(func() (programs, error) {
		dir, err := os.MkdirTemp("", "chargegate-vm-bin-")
		if err != nil {
			return programs{}, err
		}
		buildDirs.Store(dir, true)
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", dir+"/",
			"./gateway/cmd/chargegate", "./meter/cmd/metersim", "./ota/cmd/chargegate-bundle")
		cmd.Dir = filepath.Join("..", "..")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1", "GOOS=linux", "GOARCH="+goarch)
		p := programs{dir: dir}
		switch goarch {
		case "amd64":
			p.libDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64"}
		case "arm64":
			cmd.Env = append(cmd.Env, "CC=aarch64-linux-gnu-gcc")
			p.libDirs = []string{"/usr/aarch64-linux-gnu/lib"}
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			return programs{}, fmt.Errorf("build programs for %s: %v\n%s", goarch, err, out)
		}
		return p, nil
	}))
	p, err := f.(func() (programs, error))()
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// buildRelease compiles chargegate for goarch with its version set to version, as a release
// build would, into a new directory, and returns the program's path.
func buildRelease(tb testing.TB, goarch, version string) string {
	tb.Helper()
	out := filepath.Join(tb.TempDir(), "chargegate")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+version, "-o", out, "./gateway/cmd/chargegate")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1", "GOOS=linux", "GOARCH="+goarch)
	if goarch == "arm64" {
		cmd.Env = append(cmd.Env, "CC=aarch64-linux-gnu-gcc")
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("build chargegate %s for %s: %v\n%s", version, goarch, err, b)
	}
	return out
}

func (p programs) path(name string) string { return filepath.Join(p.dir, name) }

// hostKernel finds Debian's amd64 kernel, failing the test when linux-image-amd64 is missing.
func hostKernel(tb testing.TB) vm.Kernel {
	tb.Helper()
	if runtime.GOARCH != "amd64" {
		tb.Fatalf("the power-cut machine is amd64; this host is %s", runtime.GOARCH)
	}
	k, err := vm.FindKernel("/", "amd64")
	if err != nil {
		tb.Fatalf("%v: run `make deps` (Debian package linux-image-amd64)", err)
	}
	k, err = k.Uncompressed(cacheDir(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// cacheDir is where kernels extracted or downloaded for the machines are kept between runs.
func cacheDir(tb testing.TB) string {
	tb.Helper()
	d, err := os.UserCacheDir()
	if err != nil {
		tb.Fatalf("cache directory: %v", err)
	}
	return filepath.Join(d, "chargegate-vm")
}

// guestConfig is the gateway's configuration inside the machine: sim board and metersim,
// short intervals so that every second of a boot commits several entries, and a session that
// starts by itself: every cut after start-up lands in a running session, which the next boot
// must close as a power failure.
func guestConfig(interval time.Duration) []byte {
	return guestConfigWith(interval, "sessions:\n  mode: free\n  autostart: true\n")
}

// guestConfigWith is guestConfig with other sessions settings and more sections (YAML).
func guestConfigWith(interval time.Duration, more string) []byte {
	return fmt.Appendf(nil, `device:
  evse_id: "DE*CGT*EVM*1"
  data_dir: /data/chargegate
meter:
  url: tcp://127.0.0.1:1502
  model: sdm630
  poll_interval: %[1]s
  record_interval_charging: %[1]s
  record_interval_idle: %[1]s
  timeout: 1s
hal:
  backend: sim
  sim:
    load_control_url: http://127.0.0.1:1580
    lease: 3s
http:
  listen: 0.0.0.0:8080
  token_file: /etc/vm/token
log:
  format: json
  level: info
%[2]s`, interval, more)
}

const guestToken = "power-cut-harness"

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// guestStatus is the part of the gateway's /api/v1/status the harness reads.
type guestStatus struct {
	Entries uint64 `json:"entries"` // head sequence number: every issued entry up to it is acknowledged
	Store   *struct {
		Skipped string `json:"skipped"` // "FROM-TO" the store skipped at open (never issued)
	} `json:"store"`
	Session *struct {
		ID string `json:"id"`
	} `json:"session"`
	Update *struct {
		State   string `json:"state"`
		Version string `json:"version"`
		Error   string `json:"error"`
	} `json:"update"`
}

// statusClient asks the guest's gateway for its status through the forwarded port.
type statusClient struct {
	url    string
	client *http.Client
}

func newStatusClient(port int) *statusClient {
	return &statusClient{
		url: fmt.Sprintf("http://127.0.0.1:%d/api/v1/status", port),
		// One connection per request: a power cut leaves no half-dead connection to reuse.
		client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}},
	}
}

func (c *statusClient) get(ctx context.Context, timeout time.Duration) (guestStatus, error) {
	var st guestStatus
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return st, err
	}
	req.Header.Set("Authorization", "Bearer "+guestToken)
	resp, err := c.client.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("status: %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// runHost runs a host program and returns its exit code and combined output.
func runHost(tb testing.TB, name string, args ...string) (int, string) {
	tb.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), strings.TrimSpace(string(out))
	}
	if err != nil {
		tb.Fatalf("run %s: %v", name, err)
	}
	return 0, strings.TrimSpace(string(out))
}

// skipped returns the range the store skipped at this boot's open, if any.
func (g guestStatus) skipped() (from, to uint64, ok bool) {
	if g.Store == nil || g.Store.Skipped == "" {
		return 0, 0, false
	}
	a, b, found := strings.Cut(g.Store.Skipped, "-")
	f, err1 := strconv.ParseUint(a, 10, 64)
	t, err2 := strconv.ParseUint(b, 10, 64)
	return f, t, found && err1 == nil && err2 == nil
}
