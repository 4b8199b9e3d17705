package vm_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/chargegate/chargegate/gateway/rig"
	"github.com/chargegate/chargegate/images/vm"
)

// otaRig is the arm64 appliance with update slots on its data disk, an MQTT broker and an update
// server on the host, and one signed bundle to offer.
type otaRig struct {
	t        *testing.T
	ctx      context.Context
	kernel   vm.Kernel
	initrd   string
	disk     string
	work     string
	host     programs
	broker   *rig.Broker
	services map[int]int
}

const otaBrokerPort, otaHTTPPort = 1883, 8000 // the host services as the guest sees them

// newOTARig builds the machine and a bundle of version whose app payload is the file payload,
// signed by a release key made with chargegate-bundle that the machine trusts.
func newOTARig(t *testing.T, version, payload string) *otaRig {
	need(t, "qemu-system-aarch64", "aarch64-linux-gnu-gcc", "mkfs.ext4", "e2fsck", "debugfs", "socat")
	root := arm64Root(t)
	kernel, err := vm.FindKernel(root, "arm64")
	if err != nil {
		t.Fatal(err)
	}
	progs := buildPrograms(t, "arm64")
	r := &otaRig{t: t, kernel: kernel, work: t.TempDir(), host: buildPrograms(t, "amd64")}
	keyBase := filepath.Join(r.work, "release")
	if code, out := runHost(t, r.host.path("chargegate-bundle"), "keygen", "-out", keyBase); code != 0 {
		t.Fatalf("chargegate-bundle keygen: %s", out)
	}
	bundleFile := filepath.Join(r.work, "update.bundle")
	if code, out := runHost(t, r.host.path("chargegate-bundle"), "create", "-key", keyBase+".key", "-version", version,
		"-security-version", "2", "-compatible", "qemu-virt", "-o", bundleFile, "app="+payload); code != 0 {
		t.Fatalf("chargegate-bundle create: %s", out)
	}
	bundleBytes, err := os.ReadFile(bundleFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		http.ServeContent(w, req, "update.bundle", time.Unix(0, 0), strings.NewReader(string(bundleBytes)))
	}))
	t.Cleanup(srv.Close)
	r.broker = rig.StartBroker(t, "")
	_, bp, _ := net.SplitHostPort(r.broker.Addr())
	hostBrokerPort, _ := strconv.Atoi(bp)
	r.services = map[int]int{otaBrokerPort: hostBrokerPort, otaHTTPPort: srv.Listener.Addr().(*net.TCPAddr).Port}

	cfg := guestConfigWith(200*time.Millisecond, fmt.Sprintf(`sessions:
  mode: free
mqtt:
  broker: tcp://%[1]s:%[2]d
update:
  enabled: true
  state_dir: /data/update
  slots: files
  slot_dir: /data/slots
  hardware: qemu-virt
  trusted_keys: [/etc/vm/release.pub]
  health_deadline: 2m
`, vm.ServiceAddr, otaBrokerPort))
	r.initrd = filepath.Join(r.work, "initrd.cpio")
	g := vm.Guest{
		Kernel: kernel, Busybox: filepath.Join(root, "bin", "busybox"),
		Chargegate: progs.path("chargegate"), Metersim: progs.path("metersim"), LibDirs: progs.libDirs,
		Config: cfg, Token: guestToken,
		Launcher: filepath.Join("..", "chargegate-launch"),
		Files:    map[string]string{"/etc/vm/release.pub": keyBase + ".pub"},
	}
	if err := g.Build(r.initrd); err != nil {
		t.Fatal(err)
	}
	r.disk = filepath.Join(r.work, "data.img")
	if err := vm.MakeDisk(r.disk, 128); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute+time.Duration(*otaCutsFlag)*3*time.Minute)
	t.Cleanup(cancel)
	r.ctx = ctx
	return r
}

// boot starts the machine and returns it with the host port of its local API.
func (r *otaRig) boot() (*vm.Machine, *statusClient) {
	port := freePort(r.t)
	m, err := vm.Start(r.ctx, vm.Config{Kernel: r.kernel, Initrd: r.initrd, Disk: r.disk, HostPort: port, GuestPort: 8080, Services: r.services})
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(m.Kill)
	return m, newStatusClient(port)
}

// update asks the gateway on m to install the bundle and waits for the reboot that follows the
// install. It returns the console lines of the gateway's start and of the reboot.
func (r *otaRig) update(m *vm.Machine) (running, rebooted vm.Line) {
	t := r.t
	r.request(m)
	running, _ = m.WaitLine(r.ctx, `"msg":"chargegate running"`)
	rebooted, err := m.WaitLine(r.ctx, "vm: reboot")
	if err != nil {
		t.Fatalf("no reboot after the update: %v\n%s", err, tail(m.Console(), 4000))
	}
	<-m.Done()
	if !strings.Contains(m.Console(), "restarting into the updated slot") {
		t.Fatalf("the gateway exited, but not for the update:\n%s", tail(m.Console(), 4000))
	}
	return running, rebooted
}

// request waits for the gateway on m and asks it over MQTT to install the bundle; it returns
// when the gateway has accepted the update (the agent saved its state before answering).
func (r *otaRig) request(m *vm.Machine) time.Time {
	t := r.t
	running, err := m.WaitLine(r.ctx, `"msg":"chargegate running"`)
	if err != nil {
		t.Fatalf("first boot: %v\n%s", err, tail(m.Console(), 4000))
	}
	var up struct {
		Device string `json:"device"`
	}
	json.Unmarshal([]byte(running.Text), &up)
	rep := mqttCommand(t, r.broker.URL(), up.Device, "update",
		fmt.Sprintf(`{"request_id":"vm-ota-1","url":"http://%s:%d/update.bundle"}`, vm.ServiceAddr, otaHTTPPort))
	if rep["ok"] != true {
		t.Fatalf("update command: %v\n%s", rep, tail(m.Console(), 3000))
	}
	return time.Now()
}

// waitUpdate polls the gateway on m until its update agent reports state.
func (r *otaRig) waitUpdate(m *vm.Machine, sc *statusClient, state string) guestStatus {
	var st guestStatus
	for st.Update == nil || st.Update.State != state {
		if r.ctx.Err() != nil {
			r.t.Fatalf("update never %s: last status %+v\n%s", state, st.Update, tail(m.Console(), 4000))
		}
		select {
		case <-m.Done():
			r.t.Fatalf("the machine stopped before the update was %s:\n%s", state, tail(m.Console(), 4000))
		case <-time.After(200 * time.Millisecond):
		}
		if s, err := sc.get(r.ctx, 2*time.Second); err == nil {
			st = s
		}
	}
	return st
}

// slots reads the launcher's files and verifies the chain on the disk image from the host.
func (r *otaRig) slots() (current, booted, verify string) {
	data := filepath.Join(r.t.TempDir(), "after")
	for _, d := range []string{"/slots", "/chargegate"} {
		if err := vm.ExtractDir(r.disk, d, data); err != nil {
			r.t.Fatal(err)
		}
	}
	cur, _ := os.ReadFile(filepath.Join(data, "slots", "current"))
	boot, _ := os.ReadFile(filepath.Join(data, "slots", "booted"))
	code, out := runHost(r.t, r.host.path("chargegate"), "verify", "--data", filepath.Join(data, "chargegate"))
	if code != 0 {
		r.t.Errorf("chargegate verify after the update = %d: %s", code, out)
	}
	return strings.TrimSpace(string(cur)), strings.TrimSpace(string(boot)), out
}

// TestOTARoundTripArm64 updates the arm64 appliance over the air, inside the VM: a bundle built
// and signed by chargegate-bundle is offered over the operator link (Mosquitto on the host), the
// gateway downloads it from the host's HTTP server, installs it into the inactive slot on the
// data disk and exits; the machine reboots for real (QEMU exits and boots again); the launcher
// starts the new slot once as a trial; the health check commits it. Slots are the app-only
// "files" slots: on a Raspberry Pi the firmware's tryboot chooses the slot, here the launcher
// does (see README.md).
func TestOTARoundTripArm64(t *testing.T) {
	t.Parallel()
	r := newOTARig(t, "2.0.0", buildRelease(t, "arm64", "2.0.0"))
	m, _ := r.boot()
	running, rebooted := r.update(m)

	m2, sc := r.boot()
	st := r.waitUpdate(m2, sc, "committed")
	committedAt := time.Since(m2.Started())
	m2.Kill()
	if st.Update.Version != "2.0.0" {
		t.Errorf("after the commit the gateway runs version %q, want the bundle's 2.0.0", st.Update.Version)
	}
	cur, booted, out := r.slots()
	// The commit makes B the default and the running start no longer a trial (issue 14).
	if cur != "B" || booted != "B" {
		t.Errorf("after the round trip: current %q, booted %q; want B, B (committed, no longer a trial)", cur, booted)
	}
	msg := fmt.Sprintf("OTA round trip (arm64): gateway running %.1fs into boot 1, update installed and reboot at %.1fs; "+
		"trial committed %.1fs into boot 2; slot %s; %s", running.At.Seconds(), rebooted.At.Seconds(), committedAt.Seconds(), cur, out)
	t.Log(msg)
	fmt.Println("vm-ota:", msg)

	if *otaCutsFlag > 0 {
		rng := rand.New(rand.NewPCG(seed(t), 15))
		counts := map[string]int{}
		for i := range *otaCutsFlag {
			counts[r.cutDuringUpdate(i, rng)]++
		}
		msg := fmt.Sprintf("%d power cuts during updates: outcomes %v", *otaCutsFlag, counts)
		t.Log(msg)
		fmt.Println("vm-ota:", msg)
	}
}

var otaCutsFlag = flag.Int("otacuts", 0, "after the OTA round trip, this many updates each cut at a random moment (make vm-ota OTACUTS=N)")

// otaCutWindow is how long after the update was accepted a cut may come: the download, the
// install, the reboot and the trial up to its commit take about 20 s under TCG.
const otaCutWindow = 25 * time.Second

// cutDuringUpdate runs one update on a fresh disk and cuts the power at a random moment of it —
// downloading, installing, rebooting, in the trial — then boots again until the agent reaches a
// final state. The result must be a committed update running the new version from slot B, or a
// rollback running the old one from slot A; the chain must verify. It returns the outcome.
func (r *otaRig) cutDuringUpdate(i int, rng *rand.Rand) string {
	t := r.t
	if err := vm.MakeDisk(r.disk, 128); err != nil {
		t.Fatal(err)
	}
	m, _ := r.boot()
	accepted := r.request(m)
	cutAfter := time.Duration(rng.Int64N(int64(otaCutWindow)))
	deadline := time.Now().Add(cutAfter - time.Since(accepted))
	boots := 1
	for {
		select {
		case <-m.Done(): // the update's own reboot before the cut: boot on, as the box would
			m, _ = r.boot()
			boots++
			continue
		case <-time.After(time.Until(deadline)):
		}
		break
	}
	m.Kill()
	phase := fmt.Sprintf("boot %d, %s", boots, lastLine(m.Console()))

	// Boot until the agent settles; reboots the update asks for are followed.
	var st guestStatus
	for settled := false; !settled; {
		var sc *statusClient
		m, sc = r.boot()
		boots++
		for !settled {
			if r.ctx.Err() != nil {
				t.Fatalf("cut %d: the update never settled after the cut; last status %+v\n%s", i, st.Update, tail(m.Console(), 3000))
			}
			select {
			case <-m.Done():
			case <-time.After(200 * time.Millisecond):
				if s, err := sc.get(r.ctx, 2*time.Second); err == nil {
					st = s
					settled = s.Update != nil && (s.Update.State == "committed" || s.Update.State == "rolled_back" || s.Update.State == "failed")
				}
				continue
			}
			break // rebooted by itself
		}
	}
	m.Kill()
	cur, booted, _ := r.slots()
	outcome := st.Update.State
	switch {
	case outcome == "committed" && st.Update.Version == "2.0.0" && cur == "B":
	case outcome == "rolled_back" && st.Update.Version == "dev" && cur != "B":
	default:
		t.Errorf("cut %d (%.1fs after the update was accepted, at %q): ended %s running %q with current slot %q, booted %q",
			i, cutAfter.Seconds(), phase, outcome, st.Update.Version, cur, booted)
	}
	t.Logf("cut %d: %.1fs after the update was accepted (%s); %d boots; %s, version %s, slot %q booted %q %s",
		i, cutAfter.Seconds(), phase, boots, outcome, st.Update.Version, cur, booted, st.Update.Error)
	return outcome
}

// lastLine returns the last line of the gateway's log (or of the console) before a cut.
func lastLine(console string) string {
	lines := strings.Split(strings.TrimSpace(console), "\n")
	for j := len(lines) - 1; j >= 0; j-- {
		if k := strings.Index(lines[j], `"msg":"`); k >= 0 {
			msg := lines[j][k+7:]
			if e := strings.IndexByte(msg, '"'); e >= 0 {
				return msg[:e]
			}
		}
	}
	return "before the gateway logged"
}

// TestOTARollbackArm64 installs a release that cannot run: its trial exits at once, the machine
// reboots, the launcher falls back to the committed slot, and the agent records the rollback.
func TestOTARollbackArm64(t *testing.T) {
	t.Parallel()
	broken := filepath.Join(t.TempDir(), "chargegate")
	if err := os.WriteFile(broken, []byte("#!/bin/sh\necho 'chargegate 2.0.1: broken on purpose' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := newOTARig(t, "2.0.1", broken)
	m, _ := r.boot()
	r.update(m)

	// Boot 2: the trial of slot B fails at once; /init reboots.
	m2, _ := r.boot()
	if _, err := m2.WaitLine(r.ctx, "broken on purpose"); err != nil {
		t.Fatalf("the trial did not start the new slot: %v\n%s", err, tail(m2.Console(), 4000))
	}
	if _, err := m2.WaitLine(r.ctx, "vm: reboot"); err != nil {
		t.Fatalf("no reboot after the failed trial: %v\n%s", err, tail(m2.Console(), 4000))
	}
	<-m2.Done()

	// Boot 3: the launcher starts the committed slot; the agent rolls back.
	m3, sc := r.boot()
	st := r.waitUpdate(m3, sc, "rolled_back")
	m3.Kill()
	if st.Update.Version != "dev" {
		t.Errorf("after the rollback the gateway runs version %q, want the committed dev", st.Update.Version)
	}
	cur, booted, out := r.slots()
	if cur == "B" || booted != "A" {
		t.Errorf("after the rollback: current %q, booted %q; want A running", cur, booted)
	}
	t.Logf("OTA rollback (arm64): %s; booted %q; %s", st.Update.Error, booted, out)
}

// mqttCommand sends one operator command and returns its reply.
func mqttCommand(t *testing.T, broker, device, name, payload string) map[string]any {
	t.Helper()
	opts := mqtt.NewClientOptions().AddBroker(broker).SetClientID("vm-operator").SetConnectTimeout(10 * time.Second)
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("operator connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	replies := make(chan []byte, 4)
	topic := "chargegate/" + device + "/cmd/" + name
	if tok := c.Subscribe(topic+"/reply", 1, func(_ mqtt.Client, m mqtt.Message) { replies <- m.Payload() }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	deadline := time.After(2 * time.Minute)
	// The gateway may not have subscribed yet: repeat the command until it answers.
	for {
		c.Publish(topic, 1, false, payload).WaitTimeout(10 * time.Second)
		select {
		case b := <-replies:
			var r map[string]any
			json.Unmarshal(b, &r)
			return r
		case <-time.After(5 * time.Second):
		case <-deadline:
			t.Fatalf("no reply to %s", name)
		}
	}
}
