package proxy

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// relayAuth carries the startup conversation between client and backend
// until the backend's first ReadyForQuery. The backend authenticates the
// user (trust, cleartext, md5, SCRAM-SHA-256); phiguard only relays, with
// two changes:
//
//   - SCRAM-SHA-256-PLUS is removed from the mechanisms the backend offers.
//     Channel binding ties SCRAM to one TLS connection, and the client's TLS
//     connection ends at phiguard, so a client that bound to it would always
//     fail against the backend.
//   - BackendKeyData is replaced by a proxy-issued key (see cancel.go).
//
// It returns authFailed when the backend rejected the client.
func (s *session) relayAuth() (authFailed bool, err error) {
	for {
		if !s.br.buffered() {
			if err := s.flushClient(); err != nil {
				return false, err
			}
		}
		typ, _, err := s.br.next()
		if err != nil {
			return false, err
		}
		switch typ {
		case beAuthentication:
			body, err := s.br.body()
			if err != nil {
				return false, err
			}
			if len(body) < 4 {
				return false, &errProtocol{"short authentication request from backend"}
			}
			sub := binary.BigEndian.Uint32(body[:4])
			switch sub {
			case authSASL:
				if _, err := s.cw.Write(withoutChannelBinding(body[4:])); err != nil {
					return false, err
				}
			case authOK, authSASLFinal, authCleartextPassword, authMD5Password, authSASLContinue:
				if err := s.br.forward(s.cw); err != nil {
					return false, err
				}
			default: // Kerberos, GSSAPI, SSPI need a ticket for phiguard's own host
				return false, fatal(CodeFeatureNotSupported, fmt.Sprintf(
					"authentication method %d requested by the database is not supported through phiguard; use scram-sha-256, md5, password or trust", sub))
			}
			if needsClientAnswer(sub) {
				if err := s.relayClientAnswer(); err != nil {
					return false, err
				}
			}
		case beBackendKeyData:
			body, err := s.br.body()
			if err != nil {
				return false, err
			}
			if len(body) < 8 {
				return false, &errProtocol{"short BackendKeyData from backend"}
			}
			pid, secret := s.srv.cancels.register(binary.BigEndian.Uint32(body[:4]), body[4:])
			s.cancelPID = pid
			if _, err := s.cw.Write(backendKeyData(pid, secret)); err != nil {
				return false, err
			}
		case beErrorResponse:
			if err := s.br.forward(s.cw); err != nil {
				return false, err
			}
			return true, s.flushClient()
		case beReadyForQuery:
			if err := s.br.forward(s.cw); err != nil {
				return false, err
			}
			return false, s.flushClient()
		default: // ParameterStatus, NoticeResponse, NegotiateProtocolVersion
			if err := s.br.forward(s.cw); err != nil {
				return false, err
			}
		}
	}
}

func needsClientAnswer(sub uint32) bool {
	switch sub {
	case authCleartextPassword, authMD5Password, authSASL, authSASLContinue:
		return true
	}
	return false
}

// relayClientAnswer forwards one password/SASL message from the client.
func (s *session) relayClientAnswer() error {
	if err := s.flushClient(); err != nil {
		return err
	}
	typ, _, err := s.cr.next()
	if err != nil {
		return err
	}
	if typ != fePassword {
		return &errProtocol{fmt.Sprintf("expected a password message, got %q", typ)}
	}
	if err := s.cr.forward(s.bw); err != nil {
		return err
	}
	return s.flushBackend()
}

// withoutChannelBinding rebuilds an AuthenticationSASL message whose
// mechanism list (after the subtype) drops every *-PLUS mechanism.
func withoutChannelBinding(mechs []byte) []byte {
	out := []byte{beAuthentication, 0, 0, 0, 0, 0, 0, 0, authSASL}
	for len(mechs) > 0 && mechs[0] != 0 {
		name, rest, ok := cstring(mechs)
		if !ok {
			break
		}
		if !strings.HasSuffix(string(name), "-PLUS") {
			out = append(out, name...)
			out = append(out, 0)
		}
		mechs = rest
	}
	out = append(out, 0)
	binary.BigEndian.PutUint32(out[1:5], uint32(len(out)-1))
	return out
}

func backendKeyData(pid uint32, secret []byte) []byte {
	out := make([]byte, 9, 9+len(secret))
	out[0] = beBackendKeyData
	binary.BigEndian.PutUint32(out[1:5], uint32(8+len(secret)))
	binary.BigEndian.PutUint32(out[5:9], pid)
	return append(out, secret...)
}
