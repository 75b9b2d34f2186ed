package proxy

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/config"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// The fuzz targets feed arbitrary bytes to one side of a session and
// require that the session ends by itself once that side has spoken: no
// panic, no hang, every goroutine it started returned. Seeds live in
// testdata/fuzz; `make fuzz` runs each target for a while.

// fuzzSessionTimeout is how long a session may take to end after its
// input is exhausted before the target reports a hang.
const fuzzSessionTimeout = 5 * time.Second

func fuzzServer(t *testing.T, backendPort int) *Server {
	cfg := config.Default()
	cfg.Backend.Port = backendPort
	cfg.Limits.MaxMessageBytes = 1 << 16
	srv, err := New(cfg, zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// runSession serves one session whose client writes input, then closes
// its sending side as a client that has said everything would. It returns
// what the client received; the session must end by itself.
func runSession(t *testing.T, srv *Server, input []byte) []byte {
	client, proxySide := tcpPair(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.newSession(proxySide).serve(context.Background())
	}()
	out := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(client)
		out <- b
	}()
	client.SetWriteDeadline(time.Now().Add(fuzzSessionTimeout))
	client.Write(input)
	client.CloseWrite()
	select {
	case <-done:
	case <-time.After(fuzzSessionTimeout):
		t.Fatalf("session did not end %v after its client stopped sending; input %q", fuzzSessionTimeout, input)
	}
	client.Close()
	return <-out
}

// tcpPair returns the two ends of a loopback TCP connection. Unlike
// net.Pipe, TCP has a half-close, which is how a real client says "that
// was all".
func tcpPair(t *testing.T) (*net.TCPConn, net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server := <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	return c.(*net.TCPConn), server
}

func FuzzStartup(f *testing.F) {
	f.Add([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f})                          // SSLRequest
	f.Add([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30})                          // GSSENCRequest
	f.Add([]byte{0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 1, 1, 2, 3, 4}) // CancelRequest
	f.Add(mustEncode(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber,
		Parameters: map[string]string{"user": "alice", "database": "ehr"}}))
	f.Add([]byte{0x16, 0x03, 0x01, 0x00, 0x05}) // a TLS record header
	f.Fuzz(func(t *testing.T, input []byte) {
		fb := startFakeBackend(t, func(c net.Conn) {
			greet(t, c, 7, []byte{1, 2, 3, 4})
			io.Copy(io.Discard, c)
		})
		out := runSession(t, fuzzServer(t, fb.port()), input)
		checkReply(t, input, out)
	})
}

func FuzzClientMessages(f *testing.F) {
	f.Add(mustEncode(&pgproto3.Query{String: "SELECT 1"}))
	f.Add(mustEncode(&pgproto3.Parse{Name: "s", Query: "SELECT $1"}, &pgproto3.Bind{PreparedStatement: "s"},
		&pgproto3.Execute{}, &pgproto3.Sync{}))
	f.Add(mustEncode(&pgproto3.CopyData{Data: []byte("1\tx\n")}, &pgproto3.CopyDone{}))
	f.Add([]byte{'Q', 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{'P', 0, 0, 0, 4})
	f.Fuzz(func(t *testing.T, input []byte) {
		fb := startFakeBackend(t, func(c net.Conn) {
			greet(t, c, 7, []byte{1, 2, 3, 4})
			for {
				typ, _, err := readMsg(c)
				if err != nil || typ == 'X' {
					return
				}
				if typ == 'S' || typ == 'Q' {
					c.Write(mustEncode(&pgproto3.ReadyForQuery{TxStatus: 'I'}))
				}
			}
		})
		startup := mustEncode(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber,
			Parameters: map[string]string{"user": "alice"}})
		runSession(t, fuzzServer(t, fb.port()), append(startup, input...))
	})
}

func FuzzBackendMessages(f *testing.F) {
	f.Add(mustEncode(&pgproto3.AuthenticationOk{}, &pgproto3.ReadyForQuery{TxStatus: 'I'}))
	f.Add(mustEncode(&pgproto3.AuthenticationSASL{AuthMechanisms: []string{"SCRAM-SHA-256-PLUS"}}))
	f.Add(mustEncode(&pgproto3.AuthenticationOk{}, &pgproto3.BackendKeyData{ProcessID: 1, SecretKey: []byte{1}},
		&pgproto3.ReadyForQuery{TxStatus: 'I'}, &pgproto3.DataRow{Values: [][]byte{[]byte("x")}}))
	f.Add([]byte{'R', 0, 0, 0, 8, 0, 0, 0})
	f.Add([]byte{'K', 0, 0, 0, 5, 0})
	f.Fuzz(func(t *testing.T, input []byte) {
		fb := startFakeBackend(t, func(c net.Conn) {
			// A hostile backend says its piece and stops sending.
			readStartup(t, c)
			c.Write(input)
			c.(*net.TCPConn).CloseWrite()
			c.SetReadDeadline(time.Now().Add(fuzzSessionTimeout))
			io.Copy(io.Discard, c)
		})
		startup := mustEncode(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber,
			Parameters: map[string]string{"user": "alice"}})
		runSession(t, fuzzServer(t, fb.port()), append(startup, mustEncode(&pgproto3.Query{String: "SELECT 1"})...))
	})
}

// checkReply requires that whatever the proxy said to a client in its
// startup phase is a protocol answer: one SSL/GSS negotiation byte, or
// messages that parse.
func checkReply(t *testing.T, input, out []byte) {
	for len(out) > 0 {
		switch out[0] {
		case 'N', 'S':
			if len(out) == 1 || out[1] == 'N' || out[1] == 'S' || out[1] == 'E' || out[1] == 'R' {
				out = out[1:]
				continue
			}
		}
		if len(out) < 5 {
			t.Fatalf("input %q: truncated reply %q", input, out)
		}
		n := int(uint32(out[1])<<24|uint32(out[2])<<16|uint32(out[3])<<8|uint32(out[4])) + 1
		if n < 5 || n > len(out) {
			t.Fatalf("input %q: malformed reply %q", input, out)
		}
		out = out[n:]
	}
}

func mustEncode(msgs ...pgproto3.Message) []byte {
	var out []byte
	for _, m := range msgs {
		var err error
		if out, err = m.Encode(out); err != nil {
			panic(err)
		}
	}
	return out
}
