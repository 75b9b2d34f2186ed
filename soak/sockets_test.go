package soak

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/sys/unix"
)

// idleSources is how many loopback addresses (127.0.0.2 and up) the idle
// sockets come from: many sources, as a botnet's would, rather than one a
// per-address limit alone would stop. The clients use 127.0.0.1.
const idleSources = 10

// idleSockets opens params.idleSockets TCP connections to phiguard that
// never send a byte (from holder processes, holder_test.go), holds them
// for params.idleHold while probing whether a new client can still log
// in, then resets them all.
func idleSockets(t *testing.T, ctx context.Context, r *rig, _ *rand.Rand, a *action) {
	start := time.Now()
	hs, rep, err := startHolders(r.addr, r.p.idleSockets)
	if err != nil {
		t.Fatalf("idle_sockets: %v", err)
	}
	defer func() { stopHolders(hs) }() // if a probe fails the test
	opened := time.Since(start)
	probes, served := 0, 0
	for hold := time.Now().Add(r.p.idleHold); time.Now().Before(hold) || probes == 0; {
		probes++
		if r.probe(ctx) == nil {
			served++
		}
		sleepCtx(ctx, time.Second)
	}
	closedByPeer := peekHolders(hs)
	stopHolders(hs)
	hs = nil
	took, err := r.waitServing(ctx, 30*time.Second)
	a.note = fmt.Sprintf("opened %d of %d from %d addresses in %s (failed: %s); %d closed by the other end (phiguard, or the kernel when its accept queue overflowed) by the end of the %s hold; a new session was served in %d of %d probes during the hold, and %s after the reset",
		rep.Opened, r.p.idleSockets, idleSources, opened.Round(time.Millisecond), countsString(rep.Failed), closedByPeer, r.p.idleHold, served, probes, took.Round(time.Millisecond))
	// Whether a new login is served while the flood is held is a figure,
	// not a check: the flood fills limits.max_startup_connections from
	// ten addresses, and a new login waits for a slot (at most
	// limits.startup_timeout per silent socket). phiguard must stay up and
	// serve again once the flood ends (below); serving during it would
	// need slots held only by connections that sent a byte (docs/soak.md).
	if err != nil {
		a.problems = append(a.problems, fmt.Sprintf("no PHI statement served within 30s of resetting the idle sockets: %v", err))
	}
}

// peerClosed says, without waiting, whether the other end has closed or
// reset c (or sent something, which phiguard never does unasked).
func peerClosed(c *net.TCPConn) bool {
	raw, err := c.SyscallConn()
	if err != nil {
		return true
	}
	closed := false
	raw.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		closed = !errors.Is(err, unix.EAGAIN) || n > 0
		return true
	})
	return closed
}

// openIdle dials n connections, 64 at a time, each with a 3 s timeout,
// the i-th (counting from first) from 127.0.0.(2 + i mod idleSources).
func openIdle(ctx context.Context, addr string, n, first int) ([]*net.TCPConn, map[string]int) {
	var mu sync.Mutex
	conns := make([]*net.TCPConn, 0, n)
	errs := map[string]int{}
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				d := net.Dialer{Timeout: 3 * time.Second,
					LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%idleSources))}}
				c, err := d.DialContext(ctx, "tcp", addr)
				mu.Lock()
				if err != nil {
					errs[dialErrClass(err)]++
				} else {
					conns = append(conns, c.(*net.TCPConn))
				}
				mu.Unlock()
			}
		}()
	}
	for i := first; i < first+n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return conns, errs
}

func dialErrClass(err error) string {
	s := err.Error()
	for _, k := range []string{"timeout", "refused", "reset", "too many open files", "cannot assign"} {
		if strings.Contains(s, k) {
			return k
		}
	}
	return "other"
}

// malformedKind is one way to send phiguard something that is not the
// protocol. expect: phiguard must answer (an ErrorResponse) or close
// within malformedWait, since the message is wrong on its face; garbage
// may look like the start of a long message, so it has no expectation.
type malformedKind struct {
	name    string
	login   bool // sent after a successful login, on the hijacked connection
	expect  bool
	payload func(rng *rand.Rand) []byte
}

const malformedWait = 5 * time.Second

var malformedKinds = []malformedKind{
	{"garbage before startup", false, false, garbage},
	{"startup length 4", false, true, func(*rand.Rand) []byte { return be32(4) }},
	{"startup length 1 GiB", false, true, func(*rand.Rand) []byte { return append(be32(1<<30), be32(196608)...) }},
	{"startup protocol 9.0", false, true, func(*rand.Rand) []byte { return append(be32(8), be32(9<<16)...) }},
	{"garbage after login", true, false, garbage},
	{"Query length 1 GiB", true, true, func(*rand.Rand) []byte { return append(append([]byte{'Q'}, be32(1<<30)...), "SELECT 1"...) }},
	{"Query length 2", true, true, func(*rand.Rand) []byte { return append([]byte{'Q'}, be32(2)...) }},
	{"unknown message type", true, true, func(*rand.Rand) []byte { return append([]byte{'y'}, be32(4)...) }},
}

func garbage(rng *rand.Rand) []byte {
	b := make([]byte, 1+rng.IntN(512))
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	return b
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// malformed sends params.malformed connections' worth of malformed
// messages, kinds drawn from the seed, all at once.
func malformed(t *testing.T, ctx context.Context, r *rig, rng *rand.Rand, a *action) {
	type job struct {
		kind    malformedKind
		payload []byte
	}
	jobs := make([]job, r.p.malformed)
	for i := range jobs {
		k := malformedKinds[rng.IntN(len(malformedKinds))]
		jobs[i] = job{k, k.payload(rng)}
	}
	var mu sync.Mutex
	outcome := map[string]int{}
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := sendMalformed(ctx, r, j.kind, j.payload)
			mu.Lock()
			outcome[j.kind.name+": "+res]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	a.note = fmt.Sprintf("%d connections: %s", len(jobs), countsString(outcome))
	for k, n := range outcome {
		if strings.HasSuffix(k, ": hung") {
			a.problems = append(a.problems, fmt.Sprintf("%d× %s unanswered after %s", n, strings.TrimSuffix(k, ": hung"), malformedWait))
		}
	}
}

// sendMalformed returns "error" (an ErrorResponse came back), "closed",
// "hung" (nothing within malformedWait; only when kind.expect), "sent"
// (garbage, no expectation) or "login failed".
func sendMalformed(ctx context.Context, r *rig, kind malformedKind, payload []byte) string {
	var conn net.Conn
	if kind.login {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		pc, err := pgconn.Connect(cctx, r.url(probeUser))
		cancel()
		if err != nil {
			return "login failed"
		}
		h, err := pc.Hijack()
		if err != nil {
			pc.Close(context.Background())
			return "login failed"
		}
		conn = h.Conn
	} else {
		c, err := net.DialTimeout("tcp", r.addr, 5*time.Second)
		if err != nil {
			return "connect failed"
		}
		conn = c
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(malformedWait))
	if _, err := conn.Write(payload); err != nil {
		return "closed"
	}
	if !kind.expect {
		return "sent"
	}
	buf := make([]byte, 1)
	_, err := conn.Read(buf)
	switch {
	case err == nil && buf[0] == 'E':
		return "error"
	case err == nil:
		return fmt.Sprintf("answered %q", buf[0])
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "hung"
	}
	return "closed"
}

// countsString renders counts as "a 3, b 1", largest first.
func countsString(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
