package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgwire"
)

// clientHello is what a client asked for in its startup phase: either a
// session (a StartupMessage) or the cancellation of another session's query.
type clientHello struct {
	// raw is the StartupMessage exactly as received, forwarded to the
	// backend untouched so that every parameter the client set survives.
	raw    []byte
	params map[string]string

	cancel       bool
	cancelPID    uint32
	cancelSecret []byte
}

// negotiate runs the client's startup phase up to its StartupMessage or
// CancelRequest: SSLRequest (and PostgreSQL 17's direct TLS), GSSENCRequest
// and the protocol version check.
func (s *session) negotiate() (*clientHello, error) {
	if _, err := s.clientBuf.Peek(1); err != nil {
		return nil, err
	}
	if s.slot != nil {
		s.srv.adm.spoke(s.slot)
	}
	tlsCfg := s.srv.clientTLS
	for round := 0; round < 4; round++ {
		if tlsCfg != nil && s.tlsState == nil {
			first, err := s.clientBuf.Peek(1)
			if err != nil {
				return nil, err
			}
			if first[0] == 0x16 { // a TLS ClientHello: direct TLS, no SSLRequest
				if err := s.startTLS(true); err != nil {
					return nil, err
				}
				continue
			}
		}
		pkt, err := readStartupPacket(s.clientBuf)
		if err != nil {
			return nil, err
		}
		code := binary.BigEndian.Uint32(pkt[4:8])
		switch {
		case code == codeSSLRequest:
			// Bytes already sent after an SSLRequest would be read as if they
			// had come over TLS: refuse them (CVE-2021-23214's lesson).
			if s.clientBuf.Buffered() > 0 {
				return nil, pgwire.Violation("data received after SSLRequest before TLS was set up")
			}
			if tlsCfg == nil || s.tlsState != nil {
				if _, err := s.client.Write([]byte{'N'}); err != nil {
					return nil, err
				}
				continue
			}
			if _, err := s.client.Write([]byte{'S'}); err != nil {
				return nil, err
			}
			if err := s.startTLS(false); err != nil {
				return nil, err
			}
		case code == codeGSSENCRequest:
			if _, err := s.client.Write([]byte{'N'}); err != nil {
				return nil, err
			}
		case code == codeCancelRequest:
			if len(pkt) < 16 {
				return nil, pgwire.Violation("CancelRequest too short")
			}
			return &clientHello{
				cancel:       true,
				cancelPID:    binary.BigEndian.Uint32(pkt[8:12]),
				cancelSecret: pkt[12:],
			}, nil
		case code>>16 == protocolMajor3:
			params, err := startupParams(pkt[8:])
			if err != nil {
				return nil, err
			}
			return &clientHello{raw: pkt, params: params}, nil
		default:
			// PostgreSQL's SQLSTATE for this case, so clients that probe
			// protocol versions see what they would see without phiguard.
			return nil, pgerr.Fatal(pgerr.FeatureNotSupported, fmt.Sprintf(
				"unsupported frontend protocol %d.%d: phiguard speaks protocol 3", code>>16, code&0xffff))
		}
	}
	return nil, pgwire.Violation("too many startup negotiation packets")
}

// startTLS upgrades the client connection. direct is PostgreSQL 17's
// sslnegotiation=direct, which requires ALPN "postgresql" to be agreed.
func (s *session) startTLS(direct bool) error {
	conn := tls.Server(s.client, s.srv.clientTLS)
	// The connection's deadline (limits.startup_timeout, set at accept)
	// bounds the handshake too; this only stops it at the same time.
	ctx, cancel := context.WithTimeout(context.Background(), s.srv.cfg.Limits.StartupTimeout.Std())
	defer cancel()
	if direct {
		// The ClientHello's first byte is still in the buffer: replay it.
		conn = tls.Server(&prefixConn{Conn: s.client, r: s.clientBuf}, s.srv.clientTLS)
	}
	if err := conn.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("client TLS handshake: %w", err)
	}
	st := conn.ConnectionState()
	if direct && st.NegotiatedProtocol != "postgresql" {
		return pgwire.Violation("direct TLS connection without ALPN protocol \"postgresql\"")
	}
	s.tlsState = &st
	s.client = conn
	s.clientBuf = bufio.NewReaderSize(conn, readBufferSize)
	return nil
}

// startupParams decodes the name/value pairs of a StartupMessage.
func startupParams(b []byte) (map[string]string, error) {
	params := map[string]string{}
	for len(b) > 0 && b[0] != 0 {
		k, rest, ok := pgwire.Cstring(b)
		if !ok {
			return nil, pgwire.Violation("unterminated startup parameter name")
		}
		v, rest, ok := pgwire.Cstring(rest)
		if !ok {
			return nil, pgwire.Violation("unterminated startup parameter value")
		}
		params[string(k)] = string(v)
		b = rest
	}
	if params["user"] == "" {
		return nil, pgerr.Fatal(pgerr.InvalidAuthSpec, "no PostgreSQL user name specified in startup packet")
	}
	return params, nil
}

var errTLSRequired = errors.New("client did not use TLS")
