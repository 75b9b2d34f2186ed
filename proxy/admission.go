package proxy

import (
	"bufio"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Admission decides, at accept time, whether a connection may begin its
// startup. A connection in startup (TLS, StartupMessage, authentication)
// costs phiguard a descriptor, a goroutine and often a backend connection
// before anyone has proved who they are, so their number is capped overall
// (limits.max_startup_connections) and per client address
// (limits.max_startup_per_source), and each is closed at
// limits.startup_timeout. Sessions, which are authenticated, are capped
// apart by limits.max_connections (Server.admit).
//
// A connection over a cap first waits up to admissionWait for a slot: an
// application opening its whole pool at once only sees its logins take a
// little longer, since real startups take milliseconds. One still over the
// cap then is turned away the way PostgreSQL refuses a connection: its
// first packet is read and answered with FATAL 53300. Waiting is itself
// bounded (waitingPerSlot per startup slot); beyond that a connection is
// closed at once, which is all a flood of idle sockets gets; a connection
// being turned away still counts as waiting. Slots held by connections
// that have sent nothing go to those that speak (takeSilent), so such a
// flood does not keep real clients out either. A flood from
// one address cannot starve the others: a connection that finds a slot
// free at accept takes it without waiting, and that address holds at most
// its per-source share of the slots.

// Refusal reasons at accept time, as counted in connections_refused_total.
const (
	reasonTooManyStarting   = "too_many_starting"
	reasonTooManyFromSource = "too_many_from_source"
)

// admissionWait is how long a connection over a startup cap waits for a
// slot; turnAwayTimeout how long it then has to send the first packet
// that its 53300 answers.
// waitingPerSlot bounds the waiting connections: a burst of ten times the
// startup slots is absorbed, each waiting connection costs one descriptor.
const (
	admissionWait   = time.Second
	turnAwayTimeout = 2 * time.Second
	waitingPerSlot  = 10
)

type admission struct {
	maxStarting, perSource int
	starting               prometheus.Gauge

	mu       sync.Mutex
	count    int                // connections in startup
	bySource map[netip.Addr]int // of which, per client address
	silent   map[*slot]struct{} // of which, those that have not sent a byte
	waiting  int                // connections waiting for a slot
	freed    chan struct{}      // closed and replaced when a slot is given back
}

// slot is a startup slot held by one connection.
type slot struct {
	src   netip.Addr
	conn  net.Conn
	since time.Time
	// given is set, under admission.mu, when the slot is given back: by
	// its session (leave) or taken over from a silent holder (takeSilent).
	given bool
	// evicted tells the holder's session that its connection was closed
	// to let a speaking one in: it ends without a log line of its own.
	evicted atomic.Bool
}

// silentGrace is how long a connection may hold a startup slot without
// sending a byte before a connection that has spoken may take it. Every
// PostgreSQL client speaks first (StartupMessage, SSLRequest or a TLS
// ClientHello) at once: a holder silent this long is most likely one of
// a flood of idle sockets.
const silentGrace = 500 * time.Millisecond

func newAdmission(maxStarting, perSource int, starting prometheus.Gauge) *admission {
	return &admission{maxStarting: maxStarting, perSource: perSource, starting: starting,
		bySource: map[netip.Addr]int{}, silent: map[*slot]struct{}{}, freed: make(chan struct{})}
}

// sourceOf is the client address a per-source cap counts against: the IP
// without port; IPv4 written as IPv6 counts as IPv4.
func sourceOf(addr net.Addr) netip.Addr {
	if ta, ok := addr.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// enter takes a startup slot for conn, or returns the reason it cannot.
func (a *admission) enter(conn net.Conn) (*slot, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.enterLocked(conn, sourceOf(conn.RemoteAddr()))
}

func (a *admission) enterLocked(conn net.Conn, src netip.Addr) (*slot, string) {
	switch {
	case a.count >= a.maxStarting:
		return nil, reasonTooManyStarting
	case a.bySource[src] >= a.perSource:
		return nil, reasonTooManyFromSource
	}
	a.count++
	a.bySource[src]++
	a.starting.Inc()
	sl := &slot{src: src, conn: conn, since: time.Now()}
	a.silent[sl] = struct{}{}
	return sl, ""
}

// leave gives back a slot enter took, once, and wakes the waiters.
func (a *admission) leave(sl *slot) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.releaseLocked(sl) && a.waiting > 0 {
		close(a.freed)
		a.freed = make(chan struct{})
	}
}

func (a *admission) releaseLocked(sl *slot) bool {
	if sl.given {
		return false
	}
	sl.given = true
	delete(a.silent, sl)
	a.count--
	if a.bySource[sl.src]--; a.bySource[sl.src] <= 0 {
		delete(a.bySource, sl.src)
	}
	a.starting.Dec()
	return true
}

// spoke records that a slot's holder has sent its first byte: it can no
// longer be taken over as silent.
func (a *admission) spoke(sl *slot) {
	a.mu.Lock()
	delete(a.silent, sl)
	a.mu.Unlock()
}

// takeSilent gives conn, which has spoken, the slot of the longest-silent
// holder past silentGrace, closing that holder's connection, when every
// slot is taken. A flood of idle sockets then keeps no real client from
// logging in: their slots go to whoever speaks. conn's own per-source
// cap still holds.
func (a *admission) takeSilent(conn net.Conn) (*slot, bool) {
	src := sourceOf(conn.RemoteAddr())
	a.mu.Lock()
	var victim *slot
	for sl := range a.silent {
		if time.Since(sl.since) >= silentGrace && (victim == nil || sl.since.Before(victim.since)) {
			victim = sl
		}
	}
	if victim == nil || (victim.src != src && a.bySource[src] >= a.perSource) {
		a.mu.Unlock()
		return nil, false
	}
	a.releaseLocked(victim)
	victim.evicted.Store(true)
	sl, _ := a.enterLocked(conn, src)
	a.mu.Unlock()
	victim.conn.Close()
	return sl, true
}

// startWaiting reports whether one more connection may wait for a slot
// rather than be closed at once; doneWaiting ends that.
func (a *admission) startWaiting() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.waiting >= waitingPerSlot*a.maxStarting {
		return false
	}
	a.waiting++
	return true
}

// waitSpoken waits until deadline for conn to send its first byte (read
// into in, where its session will find it) and then takes a free slot or
// a silent holder's. It returns no slot when conn stays silent, leaves, or
// finds neither.
func (a *admission) waitSpoken(conn net.Conn, in *bufio.Reader, deadline time.Time) *slot {
	conn.SetReadDeadline(deadline)
	_, err := in.Peek(1)
	conn.SetReadDeadline(time.Time{})
	if err != nil {
		return nil
	}
	if sl, reason := a.enter(conn); reason == "" {
		return sl
	}
	sl, _ := a.takeSilent(conn)
	return sl
}

func (a *admission) doneWaiting() {
	a.mu.Lock()
	a.waiting--
	a.mu.Unlock()
}

// wait takes a slot for conn by deadline, or returns why it could not.
func (a *admission) wait(conn net.Conn, deadline time.Time, quit <-chan struct{}) (*slot, string) {
	src := sourceOf(conn.RemoteAddr())
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	for {
		a.mu.Lock()
		sl, reason := a.enterLocked(conn, src)
		freed := a.freed
		a.mu.Unlock()
		if reason == "" {
			return sl, ""
		}
		select {
		case <-freed:
		case <-t.C:
			return nil, reason
		case <-quit:
			return nil, reason
		}
	}
}

// admitLate runs a connection that found its caps full at accept: it waits
// for a slot and then starts as any other, or is turned away.
//
// A connection turned away keeps its place among the waiting ones until
// it is closed: its goroutine lives up to turnAwayTimeout more, and Go
// never frees a goroutine's descriptor, so a flood whose turned-away
// connections did not count would raise the process's memory for good by
// the goroutines of up to three times the waiting bound (the soak's idle
// sockets: 3,400 goroutines, 3.5 MiB of heap kept after they ended).
//
// While it waits, a connection that speaks (sends its first byte) may take
// the slot of a holder that has been silent past silentGrace; one that
// stays silent only ever gets a slot given back.
func (srv *Server) admitLate(conn net.Conn) {
	deadline := time.Now().Add(admissionWait)
	in := bufio.NewReaderSize(conn, readBufferSize)
	sl, reason := srv.adm.waitSpoken(conn, in, deadline), ""
	if sl == nil {
		sl, reason = srv.adm.wait(conn, deadline, srv.quit)
	}
	if reason == "" {
		srv.adm.doneWaiting()
		srv.serveConn(conn, in, sl)
		return
	}
	defer srv.adm.doneWaiting()
	if srv.isDraining() {
		conn.Close() // the wait ended because phiguard is shutting down
		return
	}
	srv.refuseAtAccept(conn, reason)
	srv.turnAway(conn, in, reason)
}

// turnAway answers a connection over a startup cap with FATAL 53300 once
// it has sent its first packet (a StartupMessage, or an SSLRequest, which
// libpq and pgx take an ErrorResponse for, as when a server cannot fork),
// then closes it. A CancelRequest gets no answer, as always. No TLS is
// set up: refusing must cost far less than serving.
func (srv *Server) turnAway(conn net.Conn, in *bufio.Reader, reason string) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(turnAwayTimeout))
	pkt, err := readStartupPacket(in)
	if err != nil || binary.BigEndian.Uint32(pkt[4:8]) == codeCancelRequest {
		return
	}
	msg := "sorry, too many clients already: too many connections are in startup (limits.max_startup_connections)"
	if reason == reasonTooManyFromSource {
		msg = "sorry, too many clients already: too many connections from this address are in startup (limits.max_startup_per_source)"
	}
	srv.metrics.Errors.WithLabelValues(pgerr.TooManyConnections.Class(), "phiguard").Inc()
	conn.Write(pgerr.Fatal(pgerr.TooManyConnections, msg).Encode())
	// The client sent its one packet and waits for the answer: closing now
	// does not reset the connection before it reads the error.
}

// refuseAtAccept counts and logs (rate-limited) a connection refused over
// a startup cap.
func (srv *Server) refuseAtAccept(conn net.Conn, reason string) {
	srv.metrics.ConnectionsRefused.WithLabelValues(reason).Inc()
	srv.startupLog.write(srv.log, zap.InfoLevel, "connection refused",
		zap.String("reason", reason), zap.String("client_addr", conn.RemoteAddr().String()))
}

// acceptErrorReason names a failed Accept for accept_errors_total.
func acceptErrorReason(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.EMFILE):
		return "emfile"
	case errors.Is(err, syscall.ENFILE):
		return "enfile"
	case errors.Is(err, syscall.ENOBUFS), errors.Is(err, syscall.ENOMEM):
		return "enobufs"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "other"
}
