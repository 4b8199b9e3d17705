package vm_test

import (
	"context"
	"encoding/json"
	"fmt"
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

// TestOTARoundTripArm64 updates the arm64 appliance over the air, inside the VM: a bundle built
// and signed by chargegate-bundle is offered over the operator link (Mosquitto on the host), the
// gateway downloads it from the host's HTTP server, installs it into the inactive slot on the
// data disk and exits; the machine reboots for real (QEMU exits and boots again); the launcher
// starts the new slot once as a trial; the health check commits it. Slots are the app-only
// "files" slots: on a Raspberry Pi the firmware's tryboot chooses the slot, here the launcher
// does (see README.md).
func TestOTARoundTripArm64(t *testing.T) {
	t.Parallel()
	need(t, "qemu-system-aarch64", "aarch64-linux-gnu-gcc", "mkfs.ext4", "e2fsck", "debugfs", "socat")
	root := arm64Root(t)
	kernel, err := vm.FindKernel(root, "arm64")
	if err != nil {
		t.Fatal(err)
	}
	progs := buildPrograms(t, "arm64")
	host := buildPrograms(t, "amd64")
	work := t.TempDir()

	// The release: a key pair, and a bundle whose app payload is chargegate 2.0.0 for arm64.
	release := buildRelease(t, "arm64", "2.0.0")
	keyBase := filepath.Join(work, "release")
	if code, out := runHost(t, host.path("chargegate-bundle"), "keygen", "-out", keyBase); code != 0 {
		t.Fatalf("chargegate-bundle keygen: %s", out)
	}
	bundleFile := filepath.Join(work, "update.bundle")
	if code, out := runHost(t, host.path("chargegate-bundle"), "create", "-key", keyBase+".key", "-version", "2.0.0",
		"-security-version", "2", "-compatible", "qemu-virt", "-o", bundleFile, "app="+release); code != 0 {
		t.Fatalf("chargegate-bundle create: %s", out)
	}
	bundleBytes, err := os.ReadFile(bundleFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "update.bundle", time.Unix(0, 0), strings.NewReader(string(bundleBytes)))
	}))
	defer srv.Close()
	broker := rig.StartBroker(t, "")

	const brokerPort, httpPort = 1883, 8000
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
`, vm.ServiceAddr, brokerPort))
	initrd := filepath.Join(work, "initrd.cpio")
	g := vm.Guest{
		Kernel: kernel, Busybox: filepath.Join(root, "bin", "busybox"),
		Chargegate: progs.path("chargegate"), Metersim: progs.path("metersim"), LibDirs: progs.libDirs,
		Config: cfg, Token: guestToken,
		Launcher: filepath.Join("..", "chargegate-launch"),
		Files:    map[string]string{"/etc/vm/release.pub": keyBase + ".pub"},
	}
	if err := g.Build(initrd); err != nil {
		t.Fatal(err)
	}
	disk := filepath.Join(work, "data.img")
	if err := vm.MakeDisk(disk, 128); err != nil {
		t.Fatal(err)
	}
	srvPort := srv.Listener.Addr().(*net.TCPAddr).Port
	_, bp, _ := net.SplitHostPort(broker.Addr())
	hostBrokerPort, _ := strconv.Atoi(bp)
	boot := func() (*vm.Machine, int) {
		port := freePort(t)
		m, err := vm.Start(t.Context(), vm.Config{Kernel: kernel, Initrd: initrd, Disk: disk, HostPort: port, GuestPort: 8080,
			Services: map[int]int{brokerPort: hostBrokerPort, httpPort: srvPort}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.Kill)
		return m, port
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()

	// Boot 1: the initramfs's chargegate (version "dev") seeds slot A; the operator asks for the update.
	m, _ := boot()
	running, err := m.WaitLine(ctx, `"msg":"chargegate running"`)
	if err != nil {
		t.Fatalf("first boot: %v\n%s", err, tail(m.Console(), 4000))
	}
	var up struct {
		Device string `json:"device"`
	}
	json.Unmarshal([]byte(running.Text), &up)
	rep := mqttCommand(t, broker.URL(), up.Device, "update",
		fmt.Sprintf(`{"request_id":"vm-ota-1","url":"http://%s:%d/update.bundle"}`, vm.ServiceAddr, httpPort))
	if rep["ok"] != true {
		t.Fatalf("update command: %v\n%s", rep, tail(m.Console(), 3000))
	}
	rebooted, err := m.WaitLine(ctx, "vm: reboot")
	if err != nil {
		t.Fatalf("no reboot after the update: %v\n%s", err, tail(m.Console(), 4000))
	}
	<-m.Done()
	if !strings.Contains(m.Console(), "restarting into the updated slot") {
		t.Fatalf("the gateway exited, but not for the update:\n%s", tail(m.Console(), 4000))
	}

	// Boot 2: the launcher starts slot B as a trial; the health check must commit it.
	m2, port2 := boot()
	sc := newStatusClient(port2)
	var st guestStatus
	for st.Update == nil || st.Update.State != "committed" {
		if ctx.Err() != nil {
			t.Fatalf("trial never committed: last status %+v\n%s", st.Update, tail(m2.Console(), 4000))
		}
		select {
		case <-m2.Done():
			t.Fatalf("the machine stopped in the trial:\n%s", tail(m2.Console(), 4000))
		case <-time.After(200 * time.Millisecond):
		}
		if s, err := sc.get(ctx, 2*time.Second); err == nil {
			st = s
		}
	}
	committedAt := time.Since(m2.Started())
	m2.Kill()
	if st.Update.Version != "2.0.0" {
		t.Errorf("after the commit the gateway runs version %q, want the bundle's 2.0.0", st.Update.Version)
	}

	data := filepath.Join(work, "after")
	for _, d := range []string{"/slots", "/chargegate"} {
		if err := vm.ExtractDir(disk, d, data); err != nil {
			t.Fatal(err)
		}
	}
	cur, _ := os.ReadFile(filepath.Join(data, "slots", "current"))
	booted, _ := os.ReadFile(filepath.Join(data, "slots", "booted"))
	if strings.TrimSpace(string(cur)) != "B" || strings.TrimSpace(string(booted)) != "B trial" {
		t.Errorf("after the round trip: current %q, booted %q; want B, \"B trial\"", cur, booted)
	}
	code, out := runHost(t, host.path("chargegate"), "verify", "--data", filepath.Join(data, "chargegate"))
	if code != 0 {
		t.Errorf("chargegate verify after the update = %d: %s", code, out)
	}
	msg := fmt.Sprintf("OTA round trip (arm64): gateway running %.1fs into boot 1, update installed and reboot at %.1fs; trial committed %.1fs into boot 2; slot %s; %s",
		running.At.Seconds(), rebooted.At.Seconds(), committedAt.Seconds(), strings.TrimSpace(string(cur)), out)
	t.Log(msg)
	fmt.Println("vm-ota:", msg)
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
