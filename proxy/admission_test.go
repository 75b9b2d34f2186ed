package proxy

import (
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/internal/pgwire/pgwiretest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// Tests of connection admission (issue 14, findings 1, 5 and 8): the
// accept loop, the startup deadlines on both legs, and what a refused or
// failed startup costs in metrics and log lines.

// admissionProxy is a Server in front of a fake backend, with its registry
// at hand so tests can read metrics by name.
type admissionProxy struct {
	srv   *Server
	addr  string
	reg   *prometheus.Registry
	serve chan error // Serve's result
}

func startAdmissionProxy(t *testing.T, backendPort int, log *zap.Logger, edit func(*config.Config), ln func(net.Listener) net.Listener) *admissionProxy {
	t.Helper()
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Admin = ""
	cfg.Backend.Port = backendPort
	if edit != nil {
		edit(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if log == nil {
		log = zap.NewNop()
	}
	p := &admissionProxy{reg: prometheus.NewRegistry(), serve: make(chan error, 1)}
	srv, err := New(cfg, log, p.reg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	p.srv, p.addr = srv, l.Addr().String()
	if ln != nil {
		l = ln(l)
	}
	done := make(chan struct{})
	go func() { p.serve <- srv.Serve(l); close(done) }()
	t.Cleanup(func() {
		ctx, cancel := contextWithTimeout(5 * time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		l.Close()
		<-done
	})
	return p
}

func (p *admissionProxy) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	return gathered(t, p.reg, name, labels...)
}

// gathered reads one sample by name and label values from reg; 0 when it
// is absent.
func gathered(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue next
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// dialStartup connects and sends a StartupMessage for user alice.
func dialStartup(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.Write(pgwiretest.Encode(t, &pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber,
		Parameters: map[string]string{"user": "alice", "database": "ehr"}}))
	return c
}

// awaitError reads until an ErrorResponse, ReadyForQuery or the end of the
// connection, giving up after within.
func awaitError(c net.Conn, within time.Duration) (*pgproto3.ErrorResponse, error) {
	c.SetReadDeadline(time.Now().Add(within))
	fe := pgproto3.NewFrontend(c, c)
	for {
		msg, err := fe.Receive()
		if err != nil {
			return nil, err
		}
		switch m := msg.(type) {
		case *pgproto3.ErrorResponse:
			return m, nil
		case *pgproto3.ReadyForQuery:
			return nil, nil
		}
	}
}

// awaitClose reports how long the peer took to close c, failing after within.
func awaitClose(t *testing.T, c net.Conn, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(within))
	_, err := io.Copy(io.Discard, c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("connection still open after %v", within)
	}
	return time.Since(start)
}

// flakyListener fails Accept with the errors queued in errs, then accepts.
type flakyListener struct {
	net.Listener
	errs []error
	n    atomic.Int32
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if i := int(l.n.Add(1)) - 1; i < len(l.errs) {
		return nil, l.errs[i]
	}
	return l.Listener.Accept()
}

func acceptErr(errno syscall.Errno) error {
	return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errno)}
}

// TestAcceptSurvivesFileDescriptorExhaustion: out of file descriptors,
// Accept fails with EMFILE or ENFILE; the loop must back off and go on,
// never return (finding 1: the process exited with "accept4: too many open
// files").
func TestAcceptSurvivesFileDescriptorExhaustion(t *testing.T) {
	fb := startFakeBackend(t, func(c net.Conn) {
		greet(t, c, 7, []byte{1, 2, 3, 4})
		io.Copy(io.Discard, c)
	})
	errs := []error{acceptErr(syscall.EMFILE), acceptErr(syscall.EMFILE), acceptErr(syscall.ENFILE),
		acceptErr(syscall.EMFILE), acceptErr(syscall.ENOBUFS), acceptErr(syscall.EMFILE)}
	core, logs := observer.New(zapcore.InfoLevel)
	p := startAdmissionProxy(t, fb.port(), zap.New(core), nil, func(l net.Listener) net.Listener {
		return &flakyListener{Listener: l, errs: errs}
	})
	c := dialStartup(t, p.addr)
	if e, err := awaitError(c, 10*time.Second); e != nil || err != nil {
		t.Fatalf("login after the accept errors: %v %v", e, err)
	}
	select {
	case err := <-p.serve:
		t.Fatalf("Serve returned: %v", err)
	default:
	}
	for reason, want := range map[string]float64{"emfile": 4, "enfile": 1, "enobufs": 1} {
		if got := p.metric(t, "phiguard_proxy_accept_errors_total", "reason", reason); got != want {
			t.Errorf("accept_errors_total{reason=%q} = %v, want %v", reason, got, want)
		}
	}
	// One line says so; the rest are summed up (here at shutdown).
	if n := logs.FilterMessage("accepting connections failed; retrying with backoff").Len(); n != 1 {
		t.Errorf("%d lines for 6 failed accepts, want 1", n)
	}
	ctx, cancel := contextWithTimeout(5 * time.Second)
	defer cancel()
	c.Close()
	p.srv.Shutdown(ctx)
	if s := logs.FilterMessage("failed accepts not logged").All(); len(s) != 1 || s[0].ContextMap()["suppressed"] != int64(5) {
		t.Errorf("summary: %+v, want one line with suppressed=5", s)
	}
}

// TestSilentClientClosedAtStartupDeadline: a client that connects and says
// nothing, or stops answering mid-login, is closed at
// limits.startup_timeout and counted (finding 1: idle connections held
// their descriptors for 60 s).
func TestSilentClientClosedAtStartupDeadline(t *testing.T) {
	fb := startFakeBackend(t, func(c net.Conn) {
		readStartup(t, c)
		c.Write(pgwiretest.Encode(t, &pgproto3.AuthenticationCleartextPassword{}))
		io.Copy(io.Discard, c)
	})
	p := startAdmissionProxy(t, fb.port(), nil, func(c *config.Config) {
		c.Limits.StartupTimeout = config.Duration(300 * time.Millisecond)
	}, nil)

	idle, err := net.DialTimeout("tcp", p.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	midLogin := dialStartup(t, p.addr) // asked for a password it never sends
	if took := awaitClose(t, idle, 3*time.Second); took > 2*time.Second {
		t.Errorf("idle connection closed after %v", took)
	}
	awaitClose(t, midLogin, 3*time.Second)
	if got := p.metric(t, "phiguard_proxy_connections_refused_total", "reason", "startup_timeout"); got != 2 {
		t.Errorf("refused{startup_timeout} = %v, want 2", got)
	}
}

// TestBackendHangingInLoginGetsFatalError: a backend that accepts the
// connection and never answers the StartupMessage must not leave the
// client waiting for a silent close; past backend.auth_timeout the client
// gets FATAL 08006 (finding 5).
func TestBackendHangingInLoginGetsFatalError(t *testing.T) {
	fb := startFakeBackend(t, func(c net.Conn) {
		readStartup(t, c)
		io.Copy(io.Discard, c) // never answers
	})
	p := startAdmissionProxy(t, fb.port(), nil, func(c *config.Config) {
		c.Backend.AuthTimeout = config.Duration(300 * time.Millisecond)
	}, nil)
	start := time.Now()
	e, err := awaitError(dialStartup(t, p.addr), 5*time.Second)
	if err != nil || e == nil {
		t.Fatalf("after %v: no ErrorResponse (%v)", time.Since(start), err)
	}
	if e.Severity != "FATAL" || e.Code != "08006" {
		t.Fatalf("got %s %s %q, want FATAL 08006", e.Severity, e.Code, e.Message)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("error came after %v", took)
	}
	if got := p.metric(t, "phiguard_proxy_connections_refused_total", "reason", "backend_auth_timeout"); got != 1 {
		t.Errorf("refused{backend_auth_timeout} = %v, want 1", got)
	}
}

// TestFailedStartupLogIsRateLimited: each failed startup is counted, but
// only a bounded number are logged per interval, so unauthenticated peers
// cannot grow the log without limit (finding 8: 25,636 "startup failed"
// lines in one run).
func TestFailedStartupLogIsRateLimited(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	p := startAdmissionProxy(t, 1, zap.New(core), nil, nil)
	const attempts = 60
	for i := 0; i < attempts; i++ {
		c, err := net.DialTimeout("tcp", p.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte{0, 0, 0, 5, 0}) // a startup packet length below the minimum
		awaitClose(t, c, 5*time.Second)
		c.Close()
	}
	if got := p.metric(t, "phiguard_proxy_connections_refused_total", "reason", "protocol"); got != attempts {
		t.Errorf("refused{protocol} = %v, want %d", got, attempts)
	}
	lines := logs.FilterMessage("connection refused").Len() + logs.FilterMessage("startup failed").Len()
	if lines > startupLogBurst {
		t.Errorf("%d failed startups logged %d lines, want at most %d", attempts, lines, startupLogBurst)
	}
	if got := p.metric(t, "phiguard_proxy_startup_log_suppressed_total"); got != float64(attempts-lines) {
		t.Errorf("startup_log_suppressed_total = %v, want %d", got, attempts-lines)
	}
	// The lines left out are summed up when the window ends, or at the
	// latest when phiguard shuts down.
	ctx, cancel := contextWithTimeout(5 * time.Second)
	defer cancel()
	p.srv.Shutdown(ctx)
	summaries := logs.FilterMessage("failed startups not logged").All()
	if len(summaries) != 1 || summaries[0].ContextMap()["suppressed"] != int64(attempts-lines) {
		t.Errorf("summary lines: %+v, want one with suppressed=%d", summaries, attempts-lines)
	}
}

// TestLogLimiterWindows: the limit starts again in each window, and each
// window with lines left out gets its summary line when it ends.
func TestLogLimiterWindows(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	log := zap.New(core)
	suppressed := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
	l := newLogLimiter(log, "failed startups not logged", suppressed, 3, 200*time.Millisecond)
	defer l.stop()
	for round := 0; round < 2; round++ {
		for i := 0; i < 5; i++ {
			l.write(log, zap.InfoLevel, "startup failed")
		}
		time.Sleep(400 * time.Millisecond)
	}
	if n := logs.FilterMessage("startup failed").Len(); n != 6 {
		t.Errorf("%d lines through, want 3 per window", n)
	}
	summaries := logs.FilterMessage("failed startups not logged").All()
	if len(summaries) != 2 {
		t.Fatalf("%d summaries, want one per window", len(summaries))
	}
	for _, s := range summaries {
		if s.ContextMap()["suppressed"] != int64(2) {
			t.Errorf("summary %v, want suppressed=2", s.ContextMap())
		}
	}
	// A level the logger drops spends no budget.
	l.write(log, zap.DebugLevel, "startup failed")
	if got := testutil.ToFloat64(suppressed); got != 4 {
		t.Errorf("suppressed counter = %v, want 4", got)
	}
}

// TestOverCapConnectionsWaitThenAreTurnedAway: with every startup slot
// held, a new connection waits for one, is answered 53300 when none frees
// up, and one more than can wait (waitingPerSlot per slot) is closed at
// once; a slot given back in time lets a waiting connection log in.
func TestOverCapConnectionsWaitThenAreTurnedAway(t *testing.T) {
	fb := startFakeBackend(t, func(c net.Conn) {
		greet(t, c, 7, []byte{1, 2, 3, 4})
		io.Copy(io.Discard, c)
	})
	p := startAdmissionProxy(t, fb.port(), nil, func(c *config.Config) {
		c.Limits.MaxStartupConnections = 1
		c.Limits.MaxStartupPerSource = 1
	}, nil)
	holder, err := net.DialTimeout("tcp", p.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	waiters := make([]net.Conn, waitingPerSlot)
	for i := range waiters {
		waiters[i] = dialStartup(t, p.addr)
	}
	time.Sleep(100 * time.Millisecond) // let the waiters be accepted first
	closed := dialStartup(t, p.addr)
	if took := awaitClose(t, closed, 3*time.Second); took > 500*time.Millisecond {
		t.Errorf("connection beyond the waiting ones closed after %v", took)
	}
	start := time.Now()
	for _, w := range waiters {
		e, err := awaitError(w, 5*time.Second)
		if err != nil || e == nil || e.Code != "53300" || e.Severity != "FATAL" {
			t.Fatalf("waiting connection: %+v, %v; want FATAL 53300", e, err)
		}
	}
	if took := time.Since(start); took < 500*time.Millisecond {
		t.Errorf("turned away after %v, before waiting for a slot", took)
	}
	if got := p.metric(t, "phiguard_proxy_connections_refused_total", "reason", "too_many_starting"); got != waitingPerSlot+1 {
		t.Errorf("refused{too_many_starting} = %v, want %d", got, waitingPerSlot+1)
	}

	// A slot freed while a connection waits is taken by it.
	late := dialStartup(t, p.addr)
	time.Sleep(100 * time.Millisecond)
	holder.Close()
	if e, err := awaitError(late, 5*time.Second); e != nil || err != nil {
		t.Fatalf("a connection waiting for a freed slot: %+v, %v; want a login", e, err)
	}
	if got := p.metric(t, "phiguard_proxy_connections_starting"); got != 0 {
		t.Errorf("connections_starting = %v after every startup ended, want 0", got)
	}
}

// TestTurnedAwayConnectionsStillCountAsWaiting: idle connections past the
// wait, being turned away (phiguard waits for their first packet to answer
// 53300), keep their place in the waiting bound, so a flood of idle
// sockets holds at most waitingPerSlot goroutines per slot rather than
// three times as many (Go keeps a goroutine's descriptor for good).
func TestTurnedAwayConnectionsStillCountAsWaiting(t *testing.T) {
	fb := startFakeBackend(t, func(c net.Conn) {
		greet(t, c, 7, []byte{1, 2, 3, 4})
		io.Copy(io.Discard, c)
	})
	p := startAdmissionProxy(t, fb.port(), nil, func(c *config.Config) {
		c.Limits.MaxStartupConnections = 1
		c.Limits.MaxStartupPerSource = 1
	}, nil)
	dialIdle := func() net.Conn { return dialSilent(t, p.addr) }
	dialIdle() // holds the one startup slot
	for range waitingPerSlot {
		dialIdle() // wait, then are turned away: they never send a byte
	}
	// Past admissionWait the idle ones are in turnAway, waiting up to
	// turnAwayTimeout for a first packet.
	time.Sleep(admissionWait + 300*time.Millisecond)
	extra := dialIdle()
	if took := awaitClose(t, extra, turnAwayTimeout+2*time.Second); took > 500*time.Millisecond {
		t.Errorf("a connection past the waiting bound, while %d are being turned away, was closed after %v; want at once", waitingPerSlot, took)
	}
}

// TestSpeakingConnectionTakesSilentSlot: with every startup slot held by
// connections that have sent nothing for longer than silentGrace (a flood
// of idle sockets), a client that sends its StartupMessage takes the
// longest-silent one's slot and logs in at once; the silent holder is
// closed, and a silent newcomer takes nothing.
func TestSpeakingConnectionTakesSilentSlot(t *testing.T) {
	fb := startFakeBackend(t, func(c net.Conn) {
		greet(t, c, 7, []byte{1, 2, 3, 4})
		io.Copy(io.Discard, c)
	})
	p := startAdmissionProxy(t, fb.port(), nil, func(c *config.Config) {
		c.Limits.MaxStartupConnections = 2
		c.Limits.MaxStartupPerSource = 2
	}, nil)
	dialIdle := func() net.Conn { return dialSilent(t, p.addr) }
	oldest := dialIdle()
	time.Sleep(50 * time.Millisecond)
	younger := dialIdle()
	time.Sleep(silentGrace + 100*time.Millisecond)

	quiet := dialIdle() // waits, silent: must not take a slot
	start := time.Now()
	e, err := awaitError(dialStartup(t, p.addr), 5*time.Second)
	if e != nil || err != nil {
		t.Fatalf("a client speaking while silent connections hold every slot: %+v, %v; want a login", e, err)
	}
	if took := time.Since(start); took > admissionWait/2 {
		t.Errorf("login took %v; want it at once, not after the wait", took)
	}
	if took := awaitClose(t, oldest, 3*time.Second); took > time.Second {
		t.Errorf("the longest-silent holder was closed after %v", took)
	}
	// The younger holder keeps its slot, and the quiet waiter is turned
	// away, not given one.
	younger.SetReadDeadline(time.Now().Add(admissionWait + 200*time.Millisecond))
	if n, err := younger.Read(make([]byte, 1)); n != 0 || !isTimeout(err) {
		t.Errorf("the younger silent holder: read %d, %v; want it still open", n, err)
	}
	quiet.SetReadDeadline(time.Now().Add(time.Second))
	if n, _ := quiet.Read(make([]byte, 1)); n != 0 {
		t.Errorf("the silent waiter was answered before it spoke")
	}
	if got := p.metric(t, "phiguard_proxy_connections_refused_total", "reason", "silent_taken_over"); got != 1 {
		t.Errorf("refused{silent_taken_over} = %v, want 1", got)
	}
}

// dialSilent opens a connection that sends nothing, closed at the test's end.
func dialSilent(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
