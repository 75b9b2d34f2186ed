package pgcluster

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

const crashHelperEnv = "PGCLUSTER_CRASH_HELPER"

// TestCrashDoesNotLeakServer runs a child test binary that starts a cluster
// and dies without calling Stop, then checks that the postmaster died with
// it. This is the promise that lets tests use Start without fearing a pile
// of orphaned servers after a panic or a go test timeout.
func TestCrashDoesNotLeakServer(t *testing.T) {
	if os.Getenv(crashHelperEnv) != "" {
		crashHelper()
		return
	}
	t.Parallel()
	cmd := exec.CommandContext(testCtx(t), os.Args[0], "-test.run=^TestCrashDoesNotLeakServer$")
	cmd.Env = append(os.Environ(), crashHelperEnv+"=1")
	out, _ := cmd.CombinedOutput()
	var pid int
	var dir string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if _, err := fmt.Sscanf(sc.Text(), "postmaster %d %s", &pid, &dir); err == nil {
			break
		}
	}
	if pid == 0 {
		t.Fatalf("helper did not start a cluster:\n%s", out)
	}
	defer os.RemoveAll(dir)
	deadline := time.Now().Add(30 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("postmaster %d still running after its parent died", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func crashHelper() {
	c, err := Start(context.Background(), Options{}) // Start bounds the wait itself
	if err != nil {
		fmt.Println("start:", err)
		os.Exit(2)
	}
	fmt.Printf("postmaster %d %s\n", c.srv.cmd.Process.Pid, c.Dir)
	os.Exit(3) // no Stop, no cleanup: as if the test binary crashed
}
