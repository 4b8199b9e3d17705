package vm

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Config describes one boot of a virtual machine.
type Config struct {
	Kernel   Kernel
	Initrd   string // newc cpio archive (Initramfs.WriteFile)
	Disk     string // raw disk image, the guest's /dev/vda
	Append   string // more kernel command line
	MemoryMB int    // default 512
	// HostPort, when not 0, forwards 127.0.0.1:HostPort on the host to GuestPort in the guest
	// through QEMU's user network, which is restricted: the guest reaches nothing outside.
	HostPort, GuestPort int
	// Services lets the guest reach host services: a connection to ServiceAddr:port in the
	// guest reaches 127.0.0.1:Services[port] on the host (QEMU runs socat for each one).
	Services map[int]int
}

// ServiceAddr is the guest-side address of the host services in Config.Services.
const ServiceAddr = "10.0.2.100"

// Line is one line the guest wrote to its serial console, with the time since QEMU started.
type Line struct {
	At   time.Duration
	Text string
}

// Machine is a running QEMU process. Kill ends it as a power cut does: QEMU dies at once, and
// whatever the guest kernel held in its page cache is gone; what QEMU already wrote to the disk
// image stays (it is in the host's page cache, which outlives QEMU).
type Machine struct {
	cmd     *exec.Cmd
	started time.Time
	done    chan struct{}
	err     error

	mu    sync.Mutex
	lines []Line
	grew  chan struct{} // closed and replaced whenever a line arrives
}

// qemuArgs returns the QEMU program and arguments for c. TCG only: nested /dev/kvm on these
// machines cannot run Debian's kernels, and TCG behaves the same everywhere.
func qemuArgs(c Config) (string, []string, error) {
	mem := c.MemoryMB
	if mem == 0 {
		mem = 512
	}
	// cache=unsafe lets QEMU ignore the guest's flushes, which only matters if the host itself
	// loses power: every write the guest issued before the cut already reached the host's page
	// cache, so killing QEMU loses exactly what a power cut of the guest loses.
	drive := "file=" + c.Disk + ",format=raw,if=none,id=d0,cache=unsafe,aio=threads"
	args := []string{"-accel", "tcg", "-m", fmt.Sprint(mem), "-smp", "1",
		"-nodefaults", "-no-user-config", "-display", "none", "-monitor", "none", "-serial", "stdio",
		"-no-reboot", "-kernel", c.Kernel.Image, "-initrd", c.Initrd, "-drive", drive}
	var prog, blk, nic, console string
	switch c.Kernel.Arch {
	case "amd64":
		prog, blk, nic, console = "qemu-system-x86_64", "virtio-blk-pci", "virtio-net-pci,romfile=", "ttyS0"
		args = append(args, "-M", "pc", "-cpu", "max")
	case "arm64":
		prog, blk, nic, console = "qemu-system-aarch64", "virtio-blk-device", "virtio-net-device", "ttyAMA0"
		args = append(args, "-M", "virt", "-cpu", "cortex-a72")
	default:
		return "", nil, fmt.Errorf("no QEMU machine for architecture %q", c.Kernel.Arch)
	}
	args = append(args, "-device", blk+",drive=d0")
	if c.HostPort != 0 || len(c.Services) > 0 {
		netdev := "user,id=n0,restrict=on"
		if c.HostPort != 0 {
			netdev += fmt.Sprintf(",hostfwd=tcp:127.0.0.1:%d-:%d", c.HostPort, c.GuestPort)
		}
		for guest, host := range c.Services {
			netdev += fmt.Sprintf(",guestfwd=tcp:%s:%d-cmd:socat - TCP:127.0.0.1:%d", ServiceAddr, guest, host)
		}
		args = append(args, "-netdev", netdev, "-device", nic+",netdev=n0")
	}
	args = append(args, "-append", strings.TrimSpace("console="+console+" quiet panic=-1 "+c.Append))
	return prog, args, nil
}

// Start boots c. The machine runs until it powers off, Kill is called, or ctx ends.
func Start(ctx context.Context, c Config) (*Machine, error) {
	prog, args, err := qemuArgs(c)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGKILL) }
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	m := &Machine{cmd: cmd, done: make(chan struct{}), grew: make(chan struct{})}
	m.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", prog, err)
	}
	go m.read(out)
	return m, nil
}

func (m *Machine) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		text := strings.TrimRight(sc.Text(), "\r")
		m.mu.Lock()
		m.lines = append(m.lines, Line{At: time.Since(m.started), Text: text})
		close(m.grew)
		m.grew = make(chan struct{})
		m.mu.Unlock()
	}
	m.err = m.cmd.Wait()
	close(m.done)
}

// Done is closed when QEMU has exited.
func (m *Machine) Done() <-chan struct{} { return m.done }

// Started is when QEMU was started.
func (m *Machine) Started() time.Time { return m.started }

// Kill cuts the power: SIGKILL to QEMU, then waits for it to be gone.
func (m *Machine) Kill() {
	_ = m.cmd.Process.Signal(syscall.SIGKILL)
	<-m.done
}

// ErrExited reports that QEMU exited while a line was awaited.
var ErrExited = errors.New("virtual machine exited")

// WaitLine returns the first console line containing substr, waiting for it until ctx ends
// or the machine exits.
func (m *Machine) WaitLine(ctx context.Context, substr string) (Line, error) {
	seen := 0
	for {
		m.mu.Lock()
		lines, grew := m.lines, m.grew
		m.mu.Unlock()
		for ; seen < len(lines); seen++ {
			if strings.Contains(lines[seen].Text, substr) {
				return lines[seen], nil
			}
		}
		select {
		case <-grew:
		case <-m.done:
			// The reader has stored every line before closing done; look once more.
			m.mu.Lock()
			lines = m.lines
			m.mu.Unlock()
			for ; seen < len(lines); seen++ {
				if strings.Contains(lines[seen].Text, substr) {
					return lines[seen], nil
				}
			}
			return Line{}, fmt.Errorf("waiting for %q: %w (%v)", substr, ErrExited, m.err)
		case <-ctx.Done():
			return Line{}, fmt.Errorf("waiting for %q: %w", substr, ctx.Err())
		}
	}
}

// Console returns everything the guest wrote to its console so far.
func (m *Machine) Console() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	for _, l := range m.lines {
		fmt.Fprintf(&b, "%7.3fs %s\n", l.At.Seconds(), l.Text)
	}
	return b.String()
}
