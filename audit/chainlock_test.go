package audit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phiguard/phiguard/keys"
	"github.com/prometheus/client_golang/prometheus"
)

// TestSecondWriterRefused is issue 14's finding 4: two instances on one
// audit directory interleaved their records and broke the chain. The
// second writer of a chain, here another process, must refuse to start
// and name the holder.
func TestSecondWriterRefused(t *testing.T) {
	dir := t.TempDir()
	holder := holdChain(t, dir)
	key := sharedKey()
	a, err := New(Options{Instance: "second", Key: key, Registerer: prometheus.NewRegistry(),
		Sink: NewFileSink(FileOptions{Dir: dir, Prefix: "audit", MaxBytes: 1 << 20})})
	if err == nil {
		// What happened before the lock: both write, and the chain breaks.
		for range 20 {
			a.Record(stmt(t, "SELECT 2", 1))
			time.Sleep(5 * time.Millisecond)
		}
		closeA(t, a)
		holder.kill(t)
		r := verify(t, key, files(t, dir)...)
		t.Fatalf("a second writer of the chain started (verify: ok=%v %v)", r.OK(), r.Problem)
	}
	if !errors.Is(err, ErrChainInUse) {
		t.Fatalf("error %v, want ErrChainInUse", err)
	}
	host, _ := os.Hostname()
	for _, want := range []string{fmt.Sprintf("pid %d", holder.pid), "on host " + host, filepath.Join(dir, "audit.lock")} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not name the holder (%q): %v", want, err)
		}
	}
	t.Logf("refused: %v", err)

	// Another chain in the same directory (phiguard shred's) is not held.
	b := openFile(t, dir, key, 1<<20, func(o *Options) {
		o.Sink = NewFileSink(FileOptions{Dir: dir, Prefix: "audit-shred", MaxBytes: 1 << 20})
	})
	closeA(t, b)

	// Once the holder is gone, the chain can be taken; a dead holder
	// leaves no stale lock.
	holder.kill(t)
	c := openFile(t, dir, key, 1<<20, nil)
	closeA(t, c)
	// And it is released by Close: the same process can open it again.
	closeA(t, openFile(t, dir, key, 1<<20, nil))
}

// lockHolder is another process holding a chain's lock: this test binary
// run again as TestHoldChainHelper.
type lockHolder struct {
	cmd *exec.Cmd
	pid int
}

func holdChain(t *testing.T, dir string) *lockHolder {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHoldChainHelper$")
	cmd.Env = append(os.Environ(), "PHIGUARD_HOLD_CHAIN="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &lockHolder{cmd: cmd, pid: cmd.Process.Pid}
	t.Cleanup(func() { h.kill(t) })
	line, err := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "locked" {
		t.Fatalf("lock holder: %q %v", line, err)
	}
	return h
}

func (h *lockHolder) kill(t *testing.T) {
	if h.cmd.ProcessState != nil {
		return
	}
	h.cmd.Process.Kill()
	h.cmd.Wait()
}

// TestHoldChainHelper is the lock holder's side: it opens the chain in
// PHIGUARD_HOLD_CHAIN with the test key, says so once its first records
// are written, and writes one more every few milliseconds until killed.
func TestHoldChainHelper(t *testing.T) {
	dir := os.Getenv("PHIGUARD_HOLD_CHAIN")
	if dir == "" {
		t.Skip("helper process for TestSecondWriterRefused")
	}
	a := openFile(t, dir, sharedKey(), 1<<20, nil)
	a.Record(stmt(t, "SELECT 1", 1))
	waitFor(t, "the first records", func() bool { return len(files(t, dir)) > 0 && len(fileLines(t, files(t, dir)[0])) >= 2 })
	fmt.Println("locked")
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		a.Record(stmt(t, "SELECT 1", 1))
	}
}

// sharedKey is a chain key both processes of TestSecondWriterRefused know.
func sharedKey() MACKey {
	return MACKey{ID: "audit", Version: 1, Secret: keys.NewSecret(bytes.Repeat([]byte{7}, MACKeySize))}
}
