package soak

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// The idle sockets are held by child processes, this test binary run
// again as a socket holder, each with at most holderShare sockets: a
// container may refuse to raise the test's own file limit (no
// CAP_SYS_RESOURCE), and the test's descriptors must not run out in the
// middle of the clients' work either.
const (
	holderEnv   = "PHIGUARD_SOAK_SOCKET_HOLDER" // "addr count first-index"
	holderShare = 8000
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(holderEnv); spec != "" {
		os.Exit(holdSockets(spec, os.Stdin, os.Stdout))
	}
	os.Exit(m.Run())
}

// holderReport is what a holder writes on stdout: after opening its
// sockets, then after each "peek" line on stdin.
type holderReport struct {
	Opened int            `json:"opened"`
	Failed map[string]int `json:"failed,omitempty"`
	Closed int            `json:"closed"` // by the other end, at the last peek
}

// holdSockets is the holder process: it opens its sockets, reports,
// answers peeks, and resets them all when stdin closes (the test ended
// the action, or died).
func holdSockets(spec string, in io.Reader, out io.Writer) int {
	f := strings.Fields(spec)
	if len(f) != 3 {
		fmt.Fprintf(os.Stderr, "%s=%q: want addr count first\n", holderEnv, spec)
		return 2
	}
	n, _ := strconv.Atoi(f[1])
	first, _ := strconv.Atoi(f[2])
	conns, failed := openIdle(context.Background(), f[0], n, first)
	enc := json.NewEncoder(out)
	enc.Encode(holderReport{Opened: len(conns), Failed: failed})
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		closed := 0
		for _, c := range conns {
			if peerClosed(c) {
				closed++
			}
		}
		enc.Encode(holderReport{Opened: len(conns), Closed: closed})
	}
	for _, c := range conns {
		c.SetLinger(0) // a reset, not thousands of ports in TIME_WAIT
		c.Close()
	}
	return 0
}

// holder is the test's end of one holder process.
type holder struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	dec   *json.Decoder
}

// startHolders opens n idle sockets to addr through holder processes and
// returns them with what they opened.
func startHolders(addr string, n int) ([]*holder, holderReport, error) {
	total := holderReport{Failed: map[string]int{}}
	var hs []*holder
	for first := 0; first < n; first += holderShare {
		h, err := startHolder(fmt.Sprintf("%s %d %d", addr, min(holderShare, n-first), first))
		if err != nil {
			stopHolders(hs)
			return nil, total, err
		}
		hs = append(hs, h)
	}
	for _, h := range hs {
		var rep holderReport
		if err := h.dec.Decode(&rep); err != nil {
			stopHolders(hs)
			return nil, total, fmt.Errorf("socket holder: %w", err)
		}
		total.Opened += rep.Opened
		for k, v := range rep.Failed {
			total.Failed[k] += v
		}
	}
	return hs, total, nil
}

func startHolder(spec string) (*holder, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holderEnv+"="+spec)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &holder{cmd: cmd, stdin: stdin, dec: json.NewDecoder(stdout)}, nil
}

// peekHolders asks every holder how many of its sockets the other end
// has closed.
func peekHolders(hs []*holder) int {
	closed := 0
	for _, h := range hs {
		var rep holderReport
		if _, err := io.WriteString(h.stdin, "peek\n"); err == nil && h.dec.Decode(&rep) == nil {
			closed += rep.Closed
		}
	}
	return closed
}

// stopHolders closes their stdin, which resets their sockets, and waits.
func stopHolders(hs []*holder) {
	for _, h := range hs {
		h.stdin.Close()
	}
	for _, h := range hs {
		h.cmd.Wait()
	}
}
