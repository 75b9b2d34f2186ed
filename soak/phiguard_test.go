package soak

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// phiguard is `phiguard serve` running as a child process, so that its
// memory, goroutines and descriptors are its own and not the test's.
type phiguard struct {
	cmd     *exec.Cmd
	pid     int
	done    chan struct{} // closed when the process has exited
	waitErr error         // valid after done
	admin   string
	http    *http.Client
	log     *os.File
}

// startPhiguard runs serve and waits until it accepts connections and
// answers /healthz. Like pgcluster, the start and the wait share one
// goroutine locked to its thread, because the parent-death signal follows
// the thread that forked (https://go.dev/issue/27505).
func startPhiguard(t *testing.T, ctx context.Context, r *rig) *phiguard {
	t.Helper()
	logf, err := os.Create(r.logFile())
	if err != nil {
		t.Fatal(err)
	}
	cmd := r.command(context.WithoutCancel(ctx), "serve", "--config", r.configFile)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	pg := &phiguard{cmd: cmd, done: make(chan struct{}), admin: r.admin, log: logf,
		// No keep-alive: an idle admin connection would be one of the
		// goroutines counted.
		http: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			close(pg.done)
			return
		}
		started <- nil
		pg.waitErr = cmd.Wait()
		close(pg.done)
	}()
	if err := <-started; err != nil {
		t.Fatalf("start phiguard: %v", err)
	}
	pg.pid = cmd.Process.Pid
	t.Cleanup(func() { pg.terminate(5 * time.Second); logf.Close() })
	lim := unix.Rlimit{Cur: r.p.nofile, Max: r.p.nofile}
	if err := unix.Prlimit(pg.pid, unix.RLIMIT_NOFILE, &lim, nil); err != nil {
		t.Fatalf("set phiguard's RLIMIT_NOFILE to %d: %v", r.p.nofile, err)
	}
	up := waitFor(30*time.Second, func() bool {
		if pg.exited() {
			return true
		}
		c, err := net.DialTimeout("tcp", r.addr, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		code, _ := pg.get("/healthz")
		return code == http.StatusOK
	})
	if !up || pg.exited() {
		t.Fatalf("phiguard did not come up (exited: %v, %v); log:\n%s", pg.exited(), pg.waitErr, tailFile(r.logFile(), 30))
	}
	return pg
}

func (r *rig) logFile() string { return r.dir + "/phiguard.log" }

func (pg *phiguard) exited() bool {
	select {
	case <-pg.done:
		return true
	default:
		return false
	}
}

// terminate sends SIGTERM and waits up to grace, then kills. It returns
// how serve ended: "exit 0", the exit error, or "killed after ...".
func (pg *phiguard) terminate(grace time.Duration) string {
	if pg.exited() {
		return fmt.Sprintf("had already exited: %v", pg.waitErr)
	}
	start := time.Now()
	pg.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-pg.done:
		if pg.waitErr == nil {
			return fmt.Sprintf("exit 0 after SIGTERM in %s", time.Since(start).Round(time.Millisecond))
		}
		return fmt.Sprintf("%v after SIGTERM", pg.waitErr)
	case <-time.After(grace):
		pg.cmd.Process.Kill()
		<-pg.done
		return fmt.Sprintf("killed: still running %s after SIGTERM", grace)
	}
}

// get fetches an admin path and returns its status and body.
func (pg *phiguard) get(path string) (int, string) {
	resp, err := pg.http.Get("http://" + pg.admin + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metrics reads /metrics as name → value, summed over label sets.
func (pg *phiguard) metrics() map[string]float64 {
	code, body := pg.get("/metrics")
	if code != http.StatusOK {
		return nil
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		name := line[:sp]
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name = name[:i]
		}
		if v, err := strconv.ParseFloat(line[sp+1:], 64); err == nil {
			m[name] += v
		}
	}
	return m
}

// status reads VmRSS and VmHWM (peak RSS) in KiB from /proc.
func (pg *phiguard) status() (rss, hwm int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pg.pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			rss, _ = strconv.ParseInt(f[1], 10, 64)
		case "VmHWM:":
			hwm, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	return rss, hwm
}

// rssParts splits phiguard's resident memory, from /proc/<pid>/smaps,
// into file-backed pages (the binary) and anonymous ones (the Go heap and
// runtime, thread stacks, C malloc: pg_query's parser is C). KiB. (Go
// 1.26 places its heap at a random address, so the mappings cannot be
// told apart by address; the report compares anon with Go's own count.)
func (pg *phiguard) rssParts() map[string]int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pg.pid))
	if err != nil {
		return nil
	}
	parts := map[string]int64{}
	where := ""
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":") {
			where = "anon"
			if len(f) >= 6 && strings.HasPrefix(f[5], "/") {
				where = "files"
			}
			continue
		}
		if f[0] == "Rss:" && len(f) >= 2 {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			parts[where] += v
		}
	}
	return parts
}

// threads reads the OS thread count from /proc.
func (pg *phiguard) threads() int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pg.pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return -1
}

// fds counts phiguard's open file descriptors.
func (pg *phiguard) fds() int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pg.pid))
	if err != nil {
		return -1
	}
	return len(ents)
}

// tailSevere is the last n lines of a log that are not at info level:
// where a death is explained, not buried under per-connection lines.
func tailSevere(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	var keep []string
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if !strings.Contains(line, `"level":"info"`) && !strings.Contains(line, `"level":"debug"`) {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep[max(0, len(keep)-n):], "\n")
}

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
