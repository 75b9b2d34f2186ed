package proxy

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgwire"
)

// relayAuth carries the startup conversation between client and backend
// until the backend's first ReadyForQuery. The backend authenticates the
// user (trust, cleartext, md5, SCRAM-SHA-256); phiguard only relays, with
// two changes:
//
//   - SCRAM channel binding (SCRAM-SHA-256-PLUS) binds the login to the TLS
//     server certificate the client sees (tls-server-end-point). When that
//     is phiguard's own certificate and not the backend's, a client that
//     bound to it would always fail, so the -PLUS mechanisms are removed
//     from the offer. When phiguard presents the backend's own certificate
//     the binding values agree and the offer is passed on untouched.
//   - BackendKeyData gets a proxy-issued secret (see cancel.go).
//
// It returns authFailed when the backend rejected the client.
func (s *session) relayAuth() (authFailed bool, err error) {
	for {
		if !s.br.Buffered() {
			if err := s.flushClient(); err != nil {
				return false, err
			}
		}
		typ, _, err := s.br.Next()
		if err != nil {
			return false, err
		}
		switch typ {
		case pgwire.BeAuthentication:
			err = s.relayAuthRequest()
		case pgwire.BeBackendKeyData:
			err = s.relayBackendKeyData()
		case pgwire.BeErrorResponse:
			if body, err := s.br.Body(); err == nil {
				if code, ok := pgwire.ErrorField(body, 'C'); ok {
					s.authSQLState = string(code)
				}
			}
			if err := s.br.Forward(s.cw); err != nil {
				return false, err
			}
			return true, s.flushClient()
		case pgwire.BeReadyForQuery:
			return false, s.firstReadyForQuery()
		default: // ParameterStatus, NoticeResponse, NegotiateProtocolVersion
			err = s.relayStartupMessage(typ)
		}
		if err != nil {
			return false, err
		}
	}
}

// relayAuthRequest forwards one authentication request of the backend
// (SCRAM without channel binding unless it can pass through) and the
// client's answer to it.
func (s *session) relayAuthRequest() error {
	body, err := s.br.Body()
	if err != nil {
		return err
	}
	if len(body) < 4 {
		return pgwire.Violation("short authentication request from backend")
	}
	sub := binary.BigEndian.Uint32(body[:4])
	switch sub {
	case authSASL:
		if !s.bindingPassesThrough() {
			if _, err := s.cw.Write(withoutChannelBinding(body[4:])); err != nil {
				return err
			}
			break
		}
		fallthrough
	case authOK, authSASLFinal, authCleartextPassword, authMD5Password, authSASLContinue:
		if err := s.br.Forward(s.cw); err != nil {
			return err
		}
	default: // Kerberos, GSSAPI, SSPI need a ticket for phiguard's own host
		return pgerr.Fatal(pgerr.FeatureNotSupported, fmt.Sprintf(
			"authentication method %d requested by the database is not supported through phiguard; use scram-sha-256, md5, password or trust", sub))
	}
	if needsClientAnswer(sub) {
		return s.relayClientAnswer(sub == authSASL)
	}
	return nil
}

// relayBackendKeyData gives the client a cancel key phiguard issues in
// place of the backend's.
func (s *session) relayBackendKeyData() error {
	body, err := s.br.Body()
	if err != nil {
		return err
	}
	if len(body) < 8 {
		return pgwire.Violation("short BackendKeyData from backend")
	}
	pid, secret := s.srv.cancels.register(binary.BigEndian.Uint32(body[:4]), body[4:])
	s.cancelPID = pid
	_, err = s.cw.Write(backendKeyData(pid, secret))
	return err
}

// firstReadyForQuery ends authentication. Under a policy the client's
// first ReadyForQuery is held until phiguard knows where the protected
// columns are in this database (and, for a role with rules, its objects).
func (s *session) firstReadyForQuery() error {
	if s.srv.protect == nil {
		if err := s.br.Forward(s.cw); err != nil {
			return err
		}
		return s.flushClient()
	}
	body, err := s.br.Body()
	if err != nil || len(body) != 1 {
		return pgwire.Violation("malformed ReadyForQuery from backend")
	}
	err = s.g.FirstReady(body[0])
	s.log = s.g.Log() // with the role bound
	return err
}

// relayStartupMessage forwards ParameterStatus, NoticeResponse and
// NegotiateProtocolVersion, refusing a reported setting phiguard cannot
// parse under (a role or database default).
func (s *session) relayStartupMessage(typ byte) error {
	if typ == pgwire.BeParameterStatus {
		body, err := s.br.Body()
		if err != nil {
			return err
		}
		if pe := s.g.CheckReportedSetting(body); pe != nil {
			return pe
		}
	}
	return s.br.Forward(s.cw)
}

func needsClientAnswer(sub uint32) bool {
	switch sub {
	case authCleartextPassword, authMD5Password, authSASL, authSASLContinue:
		return true
	}
	return false
}

// relayClientAnswer forwards one password/SASL message from the client.
// initialSASL marks the SASLInitialResponse, whose channel-binding flag is
// checked before it goes on.
func (s *session) relayClientAnswer(initialSASL bool) error {
	if err := s.flushClient(); err != nil {
		return err
	}
	typ, _, err := s.cr.Next()
	if err != nil {
		return err
	}
	if typ != pgwire.FePassword {
		return pgwire.Violation(fmt.Sprintf("expected a password message, got %q", typ))
	}
	if initialSASL {
		body, err := s.cr.Body()
		if err != nil {
			return err
		}
		if err := s.checkBindingFlag(body); err != nil {
			return err
		}
	}
	if err := s.cr.Forward(s.bw); err != nil {
		return err
	}
	return s.flushBackend()
}

// bindingPassesThrough reports whether SCRAM channel binding can work end
// to end: both legs are TLS and phiguard presents exactly the certificate
// the backend presented to it, so tls-server-end-point hashes agree.
func (s *session) bindingPassesThrough() bool {
	if s.tlsState == nil || s.backendTLS == nil || len(s.backendTLS.PeerCertificates) == 0 {
		return false
	}
	own := s.srv.clientTLS.Certificates[0].Certificate[0]
	return bytes.Equal(s.backendTLS.PeerCertificates[0].Raw, own)
}

// checkBindingFlag refuses, with an explanation, the one login that cannot
// succeed: a TLS client that supports channel binding ("y" flag in its
// GS2 header) was offered no -PLUS mechanism because phiguard's certificate
// is not the backend's, and the backend, itself on TLS, would read that as
// a downgrade attack and answer only "channel binding negotiation error".
func (s *session) checkBindingFlag(body []byte) error {
	if s.backendTLS == nil || s.bindingPassesThrough() {
		return nil
	}
	_, rest, ok := pgwire.Cstring(body) // mechanism name
	if !ok || len(rest) < 6 {
		return nil
	}
	if data := rest[4:]; data[0] == 'y' && data[1] == ',' {
		return pgerr.Fatal(pgerr.InvalidAuthSpec, "SCRAM channel binding cannot pass through phiguard: TLS is on toward both "+
			"phiguard and the database, and phiguard presents a different certificate than the database. "+
			"Connect with channel_binding=disable, or configure phiguard's tls.cert and tls.key with the database server's certificate")
	}
	return nil
}

// withoutChannelBinding rebuilds an AuthenticationSASL message whose
// mechanism list (after the subtype) drops every *-PLUS mechanism.
func withoutChannelBinding(mechs []byte) []byte {
	out := []byte{pgwire.BeAuthentication, 0, 0, 0, 0, 0, 0, 0, authSASL}
	for len(mechs) > 0 && mechs[0] != 0 {
		name, rest, ok := pgwire.Cstring(mechs)
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
	out[0] = pgwire.BeBackendKeyData
	binary.BigEndian.PutUint32(out[1:5], uint32(8+len(secret)))
	binary.BigEndian.PutUint32(out[5:9], pid)
	return append(out, secret...)
}
