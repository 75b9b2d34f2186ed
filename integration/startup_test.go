package integration

import (
	"bufio"
	"encoding/binary"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/config"
)

// dialTCP opens a bare TCP connection for a test that speaks the startup
// phase itself.
func dialTCP(t testing.TB, addr string) net.Conn {
	t.Helper()
	var d net.Dialer
	conn, err := d.DialContext(testContext(t), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { conn.Close() })
	return conn
}

func startupCode(code uint32) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint32(b[0:], 8)
	binary.BigEndian.PutUint32(b[4:], code)
	return b
}

const (
	sslRequestCode    = 80877103
	gssencRequestCode = 80877104
)

// readByte reads the one-byte answer to an SSLRequest or GSSENCRequest.
func readByte(t testing.TB, conn net.Conn) byte {
	t.Helper()
	var b [1]byte
	if _, err := conn.Read(b[:]); err != nil {
		t.Fatalf("read answer: %v", err)
	}
	return b[0]
}

// startupAsTrust sends a StartupMessage for the trust user and reads up to
// ReadyForQuery, returning the transcript's message types.
func startupAsTrust(t testing.TB, conn net.Conn, protocol uint32) []string {
	t.Helper()
	fe := pgproto3.NewFrontend(conn, conn)
	fe.Send(&pgproto3.StartupMessage{ProtocolVersion: protocol, Parameters: map[string]string{"user": trustUser, "database": appDB}})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	var types []string
	for {
		msg, err := fe.Receive()
		if err != nil {
			t.Fatalf("after %v: %v", types, err)
		}
		types = append(types, reflect.TypeOf(msg).Elem().Name())
		switch m := msg.(type) {
		case *pgproto3.ReadyForQuery:
			return types
		case *pgproto3.ErrorResponse:
			t.Fatalf("startup failed: %s %s", m.Code, m.Message)
		}
	}
}

// firstError reads a bare connection until an ErrorResponse or its end.
func firstError(t testing.TB, conn net.Conn) *pgproto3.ErrorResponse {
	t.Helper()
	fe := pgproto3.NewFrontend(bufio.NewReader(conn), conn)
	for {
		msg, err := fe.Receive()
		if err != nil {
			return nil
		}
		if e, ok := msg.(*pgproto3.ErrorResponse); ok {
			return e
		}
	}
}

func TestStartupNegotiation(t *testing.T) {
	t.Parallel()
	p := startProxy(t, proxyOptions{})

	t.Run("GSSENCRequest is declined and startup goes on", func(t *testing.T) {
		conn := dialTCP(t, p.addr.String())
		conn.Write(startupCode(gssencRequestCode))
		if b := readByte(t, conn); b != 'N' {
			t.Fatalf("answer %q, want N", b)
		}
		startupAsTrust(t, conn, pgproto3.ProtocolVersion30)
	})

	t.Run("SSLRequest without a certificate is declined", func(t *testing.T) {
		conn := dialTCP(t, p.addr.String())
		conn.Write(startupCode(sslRequestCode))
		if b := readByte(t, conn); b != 'N' {
			t.Fatalf("answer %q, want N", b)
		}
		startupAsTrust(t, conn, pgproto3.ProtocolVersion30)
	})

	t.Run("protocol 3.2 is negotiated down by the backend", func(t *testing.T) {
		conn := connect(t, p.url(appUser, appPassword, appDB, "max_protocol_version", "3.2"))
		queryInt(t, conn, "SELECT 1")
	})

	// Same SQLSTATE as PostgreSQL for a protocol version it does not speak
	// (4.0: PostgreSQL answers a major version above 3 in protocol 3).
	t.Run("protocol 4 is refused like PostgreSQL does", func(t *testing.T) {
		codes := map[string]string{}
		for name, addr := range map[string]string{"postgres": pg.Addr(), "phiguard": p.addr.String()} {
			conn := dialTCP(t, addr)
			pkt := []byte{0, 0, 0, 0, 0, 4, 0, 0}
			pkt = append(pkt, "user\x00app\x00\x00"...)
			binary.BigEndian.PutUint32(pkt, uint32(len(pkt)))
			conn.Write(pkt)
			e := firstError(t, conn)
			if e == nil {
				t.Fatalf("%s: closed without an ErrorResponse", name)
			}
			codes[name] = e.Code
		}
		if codes["phiguard"] != codes["postgres"] {
			t.Errorf("SQLSTATE %s through phiguard, %s from PostgreSQL", codes["phiguard"], codes["postgres"])
		}
	})
}

func TestStartupWithTLS(t *testing.T) {
	t.Parallel()
	p := startProxy(t, proxyOptions{clientTLS: true})
	// Plaintext bytes sent after an SSLRequest must not be taken as if
	// they had come over TLS (CVE-2021-23214).
	conn := dialTCP(t, p.addr.String())
	pkt := startupCode(sslRequestCode)
	pkt = append(pkt, []byte{0, 0, 0, 8, 0, 3, 0, 0}...)
	conn.Write(pkt)
	e := firstError(t, conn)
	if e == nil || e.Code != "08P01" {
		t.Fatalf("got %+v, want a 08P01 ErrorResponse", e)
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)

	t.Run("max_connections", func(t *testing.T) {
		p := startProxy(t, proxyOptions{configure: func(c *config.Config) { c.Limits.MaxConnections = 2 }})
		p.app(t)
		p.app(t)
		conn, err := pgx.Connect(ctx, p.url(appUser, appPassword, appDB))
		if err == nil {
			conn.Close(ctx)
			t.Fatal("a third session was admitted with limits.max_connections = 2")
		}
		wantPgError(t, err, "53300")
	})

	t.Run("backend unreachable", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		p := startProxy(t, proxyOptions{configure: func(c *config.Config) { c.Backend.Port = port }})
		conn, err := pgx.Connect(ctx, p.url(appUser, appPassword, appDB))
		if err == nil {
			conn.Close(ctx)
			t.Fatal("connected to a backend that is not there")
		}
		wantPgError(t, err, "08006")
	})

	t.Run("message larger than max_message_bytes", func(t *testing.T) {
		p := startProxy(t, proxyOptions{configure: func(c *config.Config) { c.Limits.MaxMessageBytes = 1 << 16 }})
		raw := dialRaw(t, p.url(appUser, appPassword, appDB))
		raw.send(t, qry("SELECT '"+strings.Repeat("x", 100000)+"'"))
		// phiguard must say why it ends the session, not just hang up.
		raw.expectClosedWith(t, "08P01", 10*time.Second)
		// Other sessions carry on.
		queryInt(t, p.app(t), "SELECT 1")
	})
}
