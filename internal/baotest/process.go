package baotest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// process is one running `bao server`.
type process struct {
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	waitErr error         // valid after done is closed
}

// startProcess runs `bao server -config=...` as a direct child in its own
// process group, with stdout and stderr appended to logPath. Start and
// Wait happen on one goroutine locked to its OS thread because Linux sends
// the parent-death signal when the creating thread exits, not the process
// (https://go.dev/issue/27505); with it, a test binary that dies without
// its cleanups still takes the server with it.
func startProcess(binary, configPath, logPath string) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open server log: %w", err)
	}
	cmd := exec.Command(binary, "server", "-config="+configPath)
	cmd.Dir = filepath.Dir(configPath)
	cmd.Env = serverEnv()
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}

	p := &process{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer logFile.Close()
		if err := cmd.Start(); err != nil {
			started <- err
			close(p.done)
			return
		}
		started <- nil
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", binary, err)
	}
	return p, nil
}

// serverEnv is the test's environment without VAULT_* and BAO_* variables,
// which the server would otherwise read (a developer's VAULT_TOKEN, a log
// level, a seal type) and which have no business in a throwaway server.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "VAULT_") || strings.HasPrefix(kv, "BAO_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends sig to the whole process group: the bao script execs the
// binary, but a wrapper that did not would otherwise survive.
func (p *process) signal(sig syscall.Signal) {
	if p.exited() {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
}

// stop sends SIGTERM (a clean shutdown that seals) and SIGKILL after grace.
func (p *process) stop(grace time.Duration) error {
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	p.kill()
	return fmt.Errorf("bao did not shut down within %s of SIGTERM; killed it", grace)
}

func (p *process) kill() {
	p.signal(syscall.SIGKILL)
	<-p.done
}

// writeConfig writes the server's configuration: file storage in dataDir,
// a plain-HTTP listener on the loopback port, no clustering (its listener
// would take port+1, which may be another test's server).
func writeConfig(path, dataDir string, port int) error {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cfg := fmt.Sprintf(`storage "file" {
  path = %s
}

listener "tcp" {
  address     = %q
  tls_disable = true
}

# OpenBao has dropped mlock and warns about this field; HashiCorp Vault,
# which PHIGUARD_BAO may name instead, needs it without CAP_IPC_LOCK.
disable_mlock      = true
disable_clustering = true
api_addr           = %q
ui                 = false
`, strconv.Quote(dataDir), addr, "http://"+addr)
	return os.WriteFile(path, []byte(cfg), 0o600)
}

// freePort asks the kernel for an unused loopback port. Another process may
// take it before bao binds it, which is why Start retries on a conflict.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// logTail returns the last n lines of the server log, for failure messages.
// bao logs neither tokens nor unseal keys, so the tail is safe to show.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no server log: " + err.Error() + ")"
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// portInUse says whether the log, from byte offset from on (where this
// attempt's output starts), shows the listener failing to bind.
func portInUse(logPath string, from int64) bool {
	b, _ := os.ReadFile(logPath)
	if from > int64(len(b)) {
		return false
	}
	return bytes.Contains(b[from:], []byte("address already in use"))
}

// logSize is where the next process's output will start in the log.
func logSize(logPath string) int64 {
	fi, err := os.Stat(logPath)
	if err != nil {
		return 0
	}
	return fi.Size()
}
