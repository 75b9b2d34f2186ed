package proxy

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/phiguard/phiguard/internal/pgwire"
)

// Authentication request subtypes (the int32 after 'R').
const (
	authOK                = 0
	authCleartextPassword = 3
	authMD5Password       = 5
	authGSS               = 7
	authGSSContinue       = 8
	authSSPI              = 9
	authSASL              = 10
	authSASLContinue      = 11
	authSASLFinal         = 12
)

// Startup packet codes (the int32 after the length of an untyped packet).
const (
	codeCancelRequest = 80877102
	codeSSLRequest    = 80877103
	codeGSSENCRequest = 80877104
	protocolMajor3    = 3
	// maxStartupPacket mirrors PostgreSQL's MAX_STARTUP_PACKET_LENGTH.
	maxStartupPacket = 10000
)

// readStartupPacket reads an untyped startup-phase packet (length, then
// body) and returns the whole packet, length included.
func readStartupPacket(br *bufio.Reader) ([]byte, error) {
	h, err := br.Peek(4)
	if err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(h))
	if n < 8 || n > maxStartupPacket {
		return nil, pgwire.Violation(fmt.Sprintf("invalid startup packet length %d", n))
	}
	pkt := make([]byte, n)
	if _, err := io.ReadFull(br, pkt); err != nil {
		return nil, err
	}
	return pkt, nil
}
