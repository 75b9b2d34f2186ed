package proxy

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/phiguard/phiguard/internal/pgerr"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/internal/pgwire"
	"github.com/phiguard/phiguard/internal/pgwire/pgwiretest"
)

func TestBackendKeyReplacedAndCancelRouted(t *testing.T) {
	backendSecret := []byte{1, 2, 3, 4}
	cancels := make(chan []byte, 1)
	fb := startFakeBackend(t, func(c net.Conn) {
		first := readStartup(t, c)
		if binary.BigEndian.Uint32(first[:4]) == codeCancelRequest {
			cancels <- first[4:]
			return
		}
		c.Write(pgwiretest.Encode(t, &pgproto3.AuthenticationOk{},
			&pgproto3.BackendKeyData{ProcessID: 4242, SecretKey: backendSecret},
			&pgproto3.ReadyForQuery{TxStatus: 'I'}))
		io.Copy(io.Discard, c)
	})
	_, addr := startTestProxy(t, fb.port(), nil)
	_, _, key := clientConnect(t, addr)
	if key == nil {
		t.Fatal("client got no BackendKeyData")
	}
	// The process id is the backend's own (pg_backend_pid() and
	// notifications name it), but the secret must be phiguard's.
	if key.ProcessID != 4242 || bytes.Equal(key.SecretKey, backendSecret) {
		t.Fatalf("client got key %+v, want pid 4242 with a proxy-issued secret", key)
	}

	sendCancel := func(pid uint32, secret []byte) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write(pgwiretest.Encode(t, &pgproto3.CancelRequest{ProcessID: pid, SecretKey: secret}))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		io.Copy(io.Discard, c) // the proxy closes once the cancel is handled
	}

	sendCancel(key.ProcessID, []byte{9, 9, 9, 9})
	select {
	case got := <-cancels:
		t.Fatalf("a cancel with the wrong secret reached the backend: %v", got)
	case <-time.After(200 * time.Millisecond):
	}

	sendCancel(key.ProcessID, key.SecretKey)
	select {
	case got := <-cancels:
		want := append(binary.BigEndian.AppendUint32(nil, 4242), backendSecret...)
		if !bytes.Equal(got, want) {
			t.Fatalf("backend got cancel %v, want %v", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancel never reached the backend")
	}
}

func TestChannelBindingMechanismsRemoved(t *testing.T) {
	fb := startFakeBackend(t, func(c net.Conn) {
		readStartup(t, c)
		c.Write(pgwiretest.Encode(t, &pgproto3.AuthenticationSASL{AuthMechanisms: []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"}}))
		io.Copy(io.Discard, c)
	})
	_, addr := startTestProxy(t, fb.port(), nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(pgwiretest.Encode(t, &pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber,
		Parameters: map[string]string{"user": "alice"}}))
	typ, body, err := readMsg(c)
	if err != nil || typ != 'R' {
		t.Fatalf("got %q %v", typ, err)
	}
	var sasl pgproto3.AuthenticationSASL
	if err := sasl.Decode(body); err != nil {
		t.Fatal(err)
	}
	if len(sasl.AuthMechanisms) != 1 || sasl.AuthMechanisms[0] != "SCRAM-SHA-256" {
		t.Fatalf("mechanisms offered to the client: %v", sasl.AuthMechanisms)
	}
}

// TestForwardsOriginalBytes checks both directions carry messages byte for
// byte, including ones larger than the proxy's buffers and a
// ParameterDescription with 65,535 parameters.
func TestForwardsOriginalBytes(t *testing.T) {
	bigRow := &pgproto3.DataRow{Values: [][]byte{bytes.Repeat([]byte("x"), 3*readBufferSize+7), nil, []byte("")}}
	oids := make([]uint32, 65535)
	for i := range oids {
		oids[i] = uint32(i)
	}
	reply := pgwiretest.Encode(t,
		&pgproto3.ParseComplete{}, &pgproto3.ParameterDescription{ParameterOIDs: oids},
		&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte("a"), DataTypeOID: 25, Format: 0}}},
		&pgproto3.BindComplete{}, bigRow, &pgproto3.PortalSuspended{},
		&pgproto3.ReadyForQuery{TxStatus: 'T'})
	request := pgwiretest.Encode(t,
		&pgproto3.Parse{Name: "s1", Query: "SELECT a FROM t WHERE b = $1", ParameterOIDs: []uint32{25}},
		&pgproto3.Describe{ObjectType: 'S', Name: "s1"},
		&pgproto3.Bind{PreparedStatement: "s1", Parameters: [][]byte{bytes.Repeat([]byte("p"), 2*readBufferSize)}},
		&pgproto3.Execute{MaxRows: 1},
		&pgproto3.Sync{})

	received := make(chan []byte, 1)
	fb := startFakeBackend(t, func(c net.Conn) {
		greet(t, c, 1, []byte{1, 2, 3, 4})
		got := make([]byte, len(request))
		if _, err := io.ReadFull(c, got); err != nil {
			received <- nil
			return
		}
		received <- got
		c.Write(reply)
		io.Copy(io.Discard, c)
	})
	_, addr := startTestProxy(t, fb.port(), nil)
	c, br, _ := clientConnect(t, addr)
	c.Write(request)
	if got := <-received; !bytes.Equal(got, request) {
		t.Fatalf("backend received %d bytes differing from the %d sent", len(got), len(request))
	}
	got := make([]byte, len(reply))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(br, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, reply) {
		t.Fatal("client received bytes differing from what the backend sent")
	}
}

func TestOversizedMessageRefused(t *testing.T) {
	reached := make(chan byte, 10)
	fb := startFakeBackend(t, func(c net.Conn) {
		greet(t, c, 1, []byte{1, 2, 3, 4})
		for {
			typ, _, err := readMsg(c)
			if err != nil {
				return
			}
			reached <- typ
		}
	})
	_, addr := startTestProxy(t, fb.port(), func(c *config.Config) { c.Limits.MaxMessageBytes = 1 << 16 })
	c, br, _ := clientConnect(t, addr)
	c.Write(pgwiretest.Encode(t, &pgproto3.Query{String: strings.Repeat("x", 1<<17)}))
	typ, body, err := readMsg(br)
	if err != nil || typ != 'E' {
		t.Fatalf("want an ErrorResponse, got %q %v", typ, err)
	}
	var e pgproto3.ErrorResponse
	e.Decode(body)
	if e.Code != string(pgerr.ProtocolViolation) || e.Severity != "FATAL" || !strings.Contains(e.Message, "max_message_bytes") {
		t.Fatalf("error %+v", e)
	}
	for len(reached) > 0 {
		if typ := <-reached; typ != 'X' {
			t.Fatalf("message %q reached the backend after an oversized one", typ)
		}
	}
}

func TestMalformedStartupGetsErrorNotPanic(t *testing.T) {
	fb := startFakeBackend(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	_, addr := startTestProxy(t, fb.port(), nil)
	for name, input := range map[string][]byte{
		"short length":       {0, 0, 0, 3},
		"huge length":        {0x7f, 0, 0, 0, 0, 3, 0, 0},
		"protocol 2":         {0, 0, 0, 8, 0, 2, 0, 0},
		"no user":            pgwiretest.Encode(t, &pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber, Parameters: map[string]string{"database": "x"}}),
		"unterminated":       {0, 0, 0, 12, 0, 3, 0, 0, 'u', 's', 'e', 'r'},
		"ssl then pipelined": append([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}, pgwiretest.Encode(t, &pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber, Parameters: map[string]string{"user": "x"}})...),
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write(input)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		out, err := io.ReadAll(c)
		c.Close()
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("%s: proxy neither answered nor closed", name)
			continue
		}
		if len(out) > 0 && out[0] != 'E' && out[0] != 'N' {
			t.Errorf("%s: unexpected reply %q", name, out)
		}
	}
}

// BenchmarkRoundTrip measures one simple-protocol statement through the
// proxy against a scripted backend; allocs/op covers the proxy's forwarding
// path (the fake peers allocate nothing per iteration).
func BenchmarkRoundTrip(b *testing.B) {
	reply := pgwiretest.Encode(b,
		&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte("abalance"), DataTypeOID: 23, DataTypeSize: 4, TypeModifier: -1}}},
		&pgproto3.DataRow{Values: [][]byte{[]byte("4711")}},
		&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")},
		&pgproto3.ReadyForQuery{TxStatus: 'I'})
	fb := startFakeBackend(b, func(c net.Conn) {
		greet(b, c, 1, []byte{1, 2, 3, 4})
		var hdr [5]byte
		body := make([]byte, 1<<16)
		for {
			if _, err := io.ReadFull(c, hdr[:]); err != nil {
				return
			}
			n := int(binary.BigEndian.Uint32(hdr[1:])) - 4
			if _, err := io.ReadFull(c, body[:n]); err != nil {
				return
			}
			if hdr[0] == 'X' {
				return
			}
			c.Write(reply)
		}
	})
	_, proxyAddr := startTestProxy(b, fb.port(), nil)
	query := pgwiretest.Encode(b, &pgproto3.Query{String: "SELECT abalance FROM pgbench_accounts WHERE aid = $1"})
	for _, target := range []struct{ name, addr string }{
		{"direct", fb.ln.Addr().String()},
		{"phiguard", proxyAddr},
	} {
		b.Run(target.name, func(b *testing.B) {
			c, br, _ := clientConnect(b, target.addr)
			got := make([]byte, len(reply))
			b.ReportAllocs()
			for b.Loop() {
				c.Write(query)
				if _, err := io.ReadFull(br, got); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestOversizedBackendMessageNamed(t *testing.T) {
	fb := startFakeBackend(t, func(c net.Conn) {
		greet(t, c, 1, []byte{1, 2, 3, 4})
		readMsg(c)
		c.Write(pgwiretest.Encode(t, &pgproto3.DataRow{Values: [][]byte{bytes.Repeat([]byte("x"), 1<<17)}}))
		io.Copy(io.Discard, c)
	})
	_, addr := startTestProxy(t, fb.port(), func(c *config.Config) { c.Limits.MaxMessageBytes = 1 << 16 })
	c, br, _ := clientConnect(t, addr)
	c.Write(pgwiretest.Encode(t, &pgproto3.Query{String: "SELECT big"}))
	typ, body, err := readMsg(br)
	if err != nil || typ != 'E' {
		t.Fatalf("want an ErrorResponse, got %q %v", typ, err)
	}
	var e pgproto3.ErrorResponse
	e.Decode(body)
	if e.Code != string(pgerr.ProtocolViolation) || !strings.Contains(e.Message, "max_message_bytes") {
		t.Fatalf("error %+v does not name the limit", e)
	}
}

func TestErrorFields(t *testing.T) {
	body := pgwiretest.Encode(t, &pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "57P01", Message: "bye"})[5:]
	if got := pgwire.SQLStateClass(body); got != "57" {
		t.Errorf("class %q", got)
	}
	if !pgwire.IsFatal(body) {
		t.Error("FATAL not recognised")
	}
	localized := pgwiretest.Encode(t, &pgproto3.ErrorResponse{Severity: "FATAL", Code: "28P01"})[5:]
	if !pgwire.IsFatal(localized) {
		t.Error("FATAL without the unlocalized field not recognised")
	}
	plain := pgwiretest.Encode(t, &pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: "42P01"})[5:]
	if pgwire.IsFatal(plain) || pgwire.SQLStateClass(plain) != "42" {
		t.Error("ERROR misread")
	}
	if pgwire.SQLStateClass([]byte{'M', 'x'}) != "??" {
		t.Error("truncated body misread")
	}
}
