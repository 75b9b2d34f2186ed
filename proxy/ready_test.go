package proxy

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgwire/pgwiretest"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// TestCheckBackendAnswers is issue 14's finding 3 for the backend: the
// readiness check used to dial and hang up, so a postmaster in recovery,
// shutting down, full or stopped (SIGSTOP still completes the TCP
// handshake) passed. It now sends a StartupMessage and judges the answer.
func TestCheckBackendAnswers(t *testing.T) {
	errorAnswer := func(code, msg string) func(*testing.T, net.Conn) {
		return func(t *testing.T, c net.Conn) {
			c.Write(pgwiretest.Encode(t, &pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: code, Message: msg}))
		}
	}
	cases := []struct {
		name   string
		answer func(*testing.T, net.Conn)
		want   error  // matched with errors.Is; nil: ready
		code   string // the BackendRefusal's SQLSTATE
	}{
		{"password request", func(t *testing.T, c net.Conn) {
			c.Write(pgwiretest.Encode(t, &pgproto3.AuthenticationSASL{AuthMechanisms: []string{"SCRAM-SHA-256"}}))
		}, nil, ""},
		{"trust", func(t *testing.T, c net.Conn) { c.Write(pgwiretest.Encode(t, &pgproto3.AuthenticationOk{})) }, nil, ""},
		{"no such role", errorAnswer("28000", `role "phiguard_probe" does not exist`), nil, ""},
		{"no such database", errorAnswer("3D000", `database "postgres" does not exist`), nil, ""},
		{"in recovery", errorAnswer("57P03", "the database system is in recovery mode"), nil, "57P03"},
		{"starting up", errorAnswer("57P03", "the database system is starting up"), nil, "57P03"},
		{"too many clients", errorAnswer("53300", "sorry, too many clients already"), nil, "53300"},
		{"silent", func(*testing.T, net.Conn) { time.Sleep(time.Second) }, ErrBackendUnreachable, ""},
		{"hangs up", func(*testing.T, net.Conn) {}, ErrBackendUnreachable, ""},
		{"garbage", func(_ *testing.T, c net.Conn) { c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n")) }, ErrBackendUnreachable, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var user atomic.Value
			fb := startFakeBackend(t, func(c net.Conn) {
				params, _ := startupParams(readStartup(t, c)[4:])
				user.Store(params["user"])
				tc.answer(t, c)
			})
			srv := newCheckServer(t, fb.port(), nil)
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := srv.CheckBackend(ctx)
			var refusal *BackendRefusal
			switch {
			case tc.code != "":
				if !errors.As(err, &refusal) || string(refusal.Code) != tc.code {
					t.Fatalf("want a BackendRefusal %s, got %v", tc.code, err)
				}
			case tc.want != nil:
				if !errors.Is(err, tc.want) {
					t.Fatalf("want %v, got %v", tc.want, err)
				}
			case err != nil:
				t.Fatalf("want ready, got %v", err)
			}
			if took := time.Since(start); took > time.Second {
				t.Errorf("the check took %s, past its context's deadline", took)
			}
			if u, _ := user.Load().(string); u != "phiguard_probe" {
				t.Errorf("probe user %q", u)
			}
		})
	}
	t.Run("nothing listening", func(t *testing.T) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if err := newCheckServer(t, port, nil).CheckBackend(context.Background()); !errors.Is(err, ErrBackendUnreachable) {
			t.Fatalf("want ErrBackendUnreachable, got %v", err)
		}
	})
}

// TestBackendRefusalError: the refusal carries PostgreSQL's words for
// the log, and the SQLSTATE as the typed code.
func TestBackendRefusalError(t *testing.T) {
	err := probeRefusal(pgwiretest.EncodeBody(t, &pgproto3.ErrorResponse{Code: "57P03", Message: "the database system is shutting down"}))
	var r *BackendRefusal
	if !errors.As(err, &r) || r.Code != pgerr.CannotConnectNow || !strings.Contains(err.Error(), "shutting down (SQLSTATE 57P03)") {
		t.Fatalf("%v", err)
	}
}

// TestCheckListener is issue 14's finding 3 for the listener: /readyz
// said ready while the accept loop had stopped (out of file descriptors)
// and while the proxy drained for shutdown.
func TestCheckListener(t *testing.T) {
	srv := newCheckServer(t, 1, func(c *config.Config) { c.Limits.MaxConnections = 1 })
	if err := srv.CheckListener(); !errors.Is(err, ErrNotListening) {
		t.Fatalf("before Serve: %v", err)
	}
	// From Listen the kernel queues connections for Serve: ready.
	other := newCheckServer(t, 1, nil)
	oln, err := other.Listen()
	if err != nil {
		t.Fatal(err)
	}
	oln.Close()
	if err := other.CheckListener(); err != nil {
		t.Fatalf("after Listen: %v", err)
	}
	ln := &scriptedListener{accepted: make(chan net.Conn), failing: make(chan error)}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	waitCheck(t, srv, nil)

	// Accept failing (EMFILE is a temporary error Serve retries).
	ln.failing <- &net.OpError{Op: "accept", Err: timeoutErr{}}
	waitCheck(t, srv, ErrNotListening)
	if err := srv.CheckListener(); !strings.Contains(err.Error(), "accept failing since") {
		t.Errorf("%v", err)
	}
	// An accepted connection clears it; an open session at the cap is full.
	client, server := net.Pipe()
	ln.accepted <- server
	waitCheck(t, srv, nil)
	client.Close()
	s := &session{}
	srv.admit(s)
	waitCheck(t, srv, ErrAtCapacity)
	srv.release(s)
	waitCheck(t, srv, nil)

	// Accept failing on and on (descriptors exhausted) is retried, not
	// ready meanwhile; only a closed listener ends Serve: not listening.
	ln.failing <- errors.New("accept4: too many open files")
	waitCheck(t, srv, ErrNotListening)
	ln.failing <- net.ErrClosed
	if err := <-done; err == nil {
		t.Fatal("Serve returned no error")
	}
	waitCheck(t, srv, ErrNotListening)

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	waitCheck(t, srv, ErrShuttingDown)
}

func newCheckServer(t *testing.T, backendPort int, edit func(*config.Config)) *Server {
	t.Helper()
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Backend.Port = backendPort
	if edit != nil {
		edit(&cfg)
	}
	srv, err := New(cfg, zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

func waitCheck(t *testing.T, srv *Server, want error) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if err = srv.CheckListener(); (want == nil && err == nil) || (want != nil && errors.Is(err, want)) {
			return
		}
	}
	t.Fatalf("CheckListener: %v, want %v", err, want)
}

// scriptedListener hands out what the test sends it: a connection or an
// Accept error.
type scriptedListener struct {
	accepted chan net.Conn
	failing  chan error
	closed   atomic.Bool
}

func (l *scriptedListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.accepted:
		return c, nil
	case err := <-l.failing:
		return nil, err
	}
}
func (l *scriptedListener) Close() error   { l.closed.Store(true); return nil }
func (l *scriptedListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "accept4: too many open files" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }
