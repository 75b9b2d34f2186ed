package proxy

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// Message type bytes. The protocol reuses letters between directions ('D'
// is Describe from a client but DataRow from a server), so the two sets are
// named apart.
const (
	feBind         byte = 'B'
	feClose        byte = 'C'
	feCopyData     byte = 'd'
	feCopyDone     byte = 'c'
	feCopyFail     byte = 'f'
	feDescribe     byte = 'D'
	feExecute      byte = 'E'
	feFlush        byte = 'H'
	feFunctionCall byte = 'F'
	feParse        byte = 'P'
	fePassword     byte = 'p' // also SASLInitialResponse, SASLResponse, GSSResponse
	feQuery        byte = 'Q'
	feSync         byte = 'S'
	feTerminate    byte = 'X'

	beAuthentication       byte = 'R'
	beBackendKeyData       byte = 'K'
	beCopyBothResponse     byte = 'W'
	beCopyInResponse       byte = 'G'
	beCopyOutResponse      byte = 'H'
	beErrorResponse        byte = 'E'
	beNegotiateVersion     byte = 'v'
	beNoticeResponse       byte = 'N'
	beParameterStatus      byte = 'S'
	beReadyForQuery        byte = 'Z'
	beRowDescription       byte = 'T'
	beDataRow              byte = 'D'
	beCommandComplete      byte = 'C'
	beEmptyQuery           byte = 'I'
	beParseComplete        byte = '1'
	beBindComplete         byte = '2'
	beCloseComplete        byte = '3'
	beParameterDescription byte = 't'
	beNoData               byte = 'n'
	bePortalSuspended      byte = 's'
	beNotification         byte = 'A'
	beCopyData             byte = 'd'
	beFunctionCallResponse byte = 'V'
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

// terminateMessage is a whole Terminate message.
var terminateMessage = []byte{feTerminate, 0, 0, 0, 4}

// errProtocol is a malformed or oversized message from a peer.
type errProtocol struct{ msg string }

func (e *errProtocol) Error() string { return "protocol violation: " + e.msg }

// msgReader reads typed protocol messages from a buffered connection
// without copying them: a message that fits the read buffer is handed out
// as a slice of that buffer, valid only until the next call to next. Larger
// messages are streamed by forward, or copied into a fresh slice by whole
// when they must be inspected.
type msgReader struct {
	br  *bufio.Reader
	max int // largest accepted body length

	typ     byte
	total   int    // header + body length of the current message
	pending int    // bytes of the current message still to discard
	big     []byte // the current message when it had to be copied
}

func newMsgReader(r io.Reader, bufSize, maxBody int) *msgReader {
	return &msgReader{br: bufio.NewReaderSize(r, bufSize), max: maxBody}
}

// next advances to the next message and returns its type and body length.
func (r *msgReader) next() (byte, int, error) {
	if err := r.skip(); err != nil {
		return 0, 0, err
	}
	h, err := r.br.Peek(5)
	if err != nil {
		return 0, 0, err
	}
	n := int(binary.BigEndian.Uint32(h[1:5])) - 4
	if n < 0 {
		return 0, 0, &errProtocol{fmt.Sprintf("message %q has invalid length %d", h[0], n+4)}
	}
	if n > r.max {
		return 0, 0, &errProtocol{fmt.Sprintf("message %q of %d bytes exceeds limits.max_message_bytes (%d)", h[0], n, r.max)}
	}
	r.typ, r.total, r.pending, r.big = h[0], n+5, n+5, nil
	return r.typ, n, nil
}

// skip discards whatever of the current message has not been consumed,
// and lets go of its copy: the caller is done with the message, and a
// session idle after a large one must not keep it.
func (r *msgReader) skip() error {
	r.big = nil
	if r.pending == 0 {
		return nil
	}
	_, err := r.br.Discard(r.pending)
	r.pending = 0
	return err
}

// whole returns the current message, header included.
func (r *msgReader) whole() ([]byte, error) {
	if r.big != nil {
		return r.big, nil
	}
	if r.total <= r.br.Size() {
		return r.br.Peek(r.total)
	}
	r.big = make([]byte, r.total)
	if _, err := io.ReadFull(r.br, r.big); err != nil {
		return nil, err
	}
	r.pending = 0
	return r.big, nil
}

// body returns the current message without its 5-byte header.
func (r *msgReader) body() ([]byte, error) {
	m, err := r.whole()
	if err != nil {
		return nil, err
	}
	return m[5:], nil
}

// forward writes the current message to w as its original bytes.
func (r *msgReader) forward(w *bufio.Writer) error {
	if r.big != nil || r.total <= r.br.Size() {
		m, err := r.whole()
		if err != nil {
			return err
		}
		_, err = w.Write(m)
		return err
	}
	// Too large for the buffer: stream it through in pieces.
	for r.pending > 0 {
		chunk, err := r.br.Peek(min(r.pending, r.br.Size()))
		if err != nil && len(chunk) == 0 {
			return err
		}
		if _, err := w.Write(chunk); err != nil {
			return err
		}
		if _, err := r.br.Discard(len(chunk)); err != nil {
			return err
		}
		r.pending -= len(chunk)
	}
	return nil
}

// wait blocks until at least one byte of the next message has arrived.
func (r *msgReader) wait() error {
	if err := r.skip(); err != nil {
		return err
	}
	_, err := r.br.Peek(1)
	return err
}

// buffered reports whether more input is already in memory, so that the
// caller can delay a flush until it would otherwise block.
func (r *msgReader) buffered() bool { return r.br.Buffered() > r.pending }

// readStartupPacket reads an untyped startup-phase packet (length, then
// body) and returns the whole packet, length included.
func readStartupPacket(br *bufio.Reader) ([]byte, error) {
	h, err := br.Peek(4)
	if err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(h))
	if n < 8 || n > maxStartupPacket {
		return nil, &errProtocol{fmt.Sprintf("invalid startup packet length %d", n)}
	}
	pkt := make([]byte, n)
	if _, err := io.ReadFull(br, pkt); err != nil {
		return nil, err
	}
	return pkt, nil
}

// cstring splits a NUL-terminated string off the front of b.
func cstring(b []byte) (s, rest []byte, ok bool) {
	for i, c := range b {
		if c == 0 {
			return b[:i], b[i+1:], true
		}
	}
	return nil, nil, false
}

// frame is a message of type typ with body, its length written in: for
// a message phiguard sends itself or forwards from a decoded body.
func frame(typ byte, body []byte) []byte {
	return append(binary.BigEndian.AppendUint32([]byte{typ}, uint32(4+len(body))), body...)
}
