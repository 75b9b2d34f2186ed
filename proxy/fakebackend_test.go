package proxy

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/internal/pgwire/pgwiretest"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// fakeBackend is a scripted PostgreSQL for unit tests of the proxy's state
// machine: it accepts connections and hands each to a script. The real
// thing is exercised by the integration tests; this one lets a test see
// exactly which bytes reach the backend.
type fakeBackend struct {
	ln     net.Listener
	script func(conn net.Conn)
	wg     sync.WaitGroup
}

func startFakeBackend(t testing.TB, script func(conn net.Conn)) *fakeBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fb := &fakeBackend{ln: ln, script: script}
	fb.wg.Add(1)
	go func() {
		defer fb.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fb.wg.Add(1)
			go func() {
				defer fb.wg.Done()
				defer c.Close()
				script(c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); fb.wg.Wait() })
	return fb
}

func (fb *fakeBackend) port() int { return fb.ln.Addr().(*net.TCPAddr).Port }

// startTestProxy runs a Server in front of the fake backend.
func startTestProxy(t testing.TB, backendPort int, edit func(*config.Config)) (*Server, string) {
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
	srv, err := New(cfg, zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.Serve(ln); close(done) }()
	t.Cleanup(func() {
		ctx, cancel := contextWithTimeout(5 * time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	})
	return srv, ln.Addr().String()
}

// readStartup reads an untyped startup packet on the fake backend side.
func readStartup(t testing.TB, r io.Reader) []byte {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil
	}
	body := make([]byte, binary.BigEndian.Uint32(h[:])-4)
	io.ReadFull(r, body)
	return body
}

// readMsg reads one typed message.
func readMsg(r io.Reader) (byte, []byte, error) {
	var h [5]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(h[1:])-4)
	_, err := io.ReadFull(r, body)
	return h[0], body, err
}

// greet performs a trust-auth startup on the fake backend side.
func greet(t testing.TB, c net.Conn, pid uint32, secret []byte) {
	readStartup(t, c)
	c.Write(pgwiretest.Encode(t,
		&pgproto3.AuthenticationOk{},
		&pgproto3.ParameterStatus{Name: "server_version", Value: "15.18"},
		&pgproto3.BackendKeyData{ProcessID: pid, SecretKey: secret},
		&pgproto3.ReadyForQuery{TxStatus: 'I'},
	))
}

// clientConnect opens a raw client connection through the proxy and reads
// up to the first ReadyForQuery, returning every message type seen and the
// BackendKeyData the client was given.
func clientConnect(t testing.TB, addr string) (net.Conn, *bufio.Reader, *pgproto3.BackendKeyData) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.Write(pgwiretest.Encode(t, &pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber,
		Parameters: map[string]string{"user": "alice", "database": "ehr"}}))
	br := bufio.NewReader(c)
	var key *pgproto3.BackendKeyData
	for {
		typ, body, err := readMsg(br)
		if err != nil {
			t.Fatalf("reading startup replies: %v", err)
		}
		switch typ {
		case 'K':
			key = &pgproto3.BackendKeyData{}
			key.Decode(body)
		case 'E':
			t.Fatalf("startup failed: %q", body)
		case 'Z':
			return c, br, key
		}
	}
}

func hostPort(addr string) (string, int) {
	h, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return h, n
}
