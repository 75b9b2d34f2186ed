package pgwire

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
	FeBind         byte = 'B'
	FeClose        byte = 'C'
	FeCopyData     byte = 'd'
	FeCopyDone     byte = 'c'
	FeCopyFail     byte = 'f'
	FeDescribe     byte = 'D'
	FeExecute      byte = 'E'
	FeFlush        byte = 'H'
	FeFunctionCall byte = 'F'
	FeParse        byte = 'P'
	FePassword     byte = 'p' // also SASLInitialResponse, SASLResponse, GSSResponse
	FeQuery        byte = 'Q'
	FeSync         byte = 'S'
	FeTerminate    byte = 'X'

	BeAuthentication       byte = 'R'
	BeBackendKeyData       byte = 'K'
	BeCopyBothResponse     byte = 'W'
	BeCopyInResponse       byte = 'G'
	BeCopyOutResponse      byte = 'H'
	BeErrorResponse        byte = 'E'
	BeNegotiateVersion     byte = 'v'
	BeNoticeResponse       byte = 'N'
	BeParameterStatus      byte = 'S'
	BeReadyForQuery        byte = 'Z'
	BeRowDescription       byte = 'T'
	BeDataRow              byte = 'D'
	BeCommandComplete      byte = 'C'
	BeEmptyQuery           byte = 'I'
	BeParseComplete        byte = '1'
	BeBindComplete         byte = '2'
	BeCloseComplete        byte = '3'
	BeParameterDescription byte = 't'
	BeNoData               byte = 'n'
	BePortalSuspended      byte = 's'
	BeNotification         byte = 'A'
	BeCopyData             byte = 'd'
	BeFunctionCallResponse byte = 'V'
)

// TerminateMessage is a whole Terminate message.
var TerminateMessage = []byte{FeTerminate, 0, 0, 0, 4}

// ProtocolError is a malformed or oversized message from a peer.
type ProtocolError struct{ Msg string }

// Violation is a ProtocolError saying msg.
func Violation(msg string) *ProtocolError { return &ProtocolError{Msg: msg} }

func (e *ProtocolError) Error() string { return "protocol violation: " + e.Msg }

// MsgReader reads typed protocol messages from a buffered connection
// without copying them: a message that fits the read buffer is handed out
// as a slice of that buffer, valid only until the next call to next. Larger
// messages are streamed by forward, or copied into a fresh slice by whole
// when they must be inspected.
type MsgReader struct {
	br  *bufio.Reader
	max int // largest accepted body length

	typ     byte
	total   int    // header + body length of the current message
	pending int    // bytes of the current message still to discard
	big     []byte // the current message when it had to be copied
}

func NewMsgReader(r io.Reader, bufSize, maxBody int) *MsgReader {
	return &MsgReader{br: bufio.NewReaderSize(r, bufSize), max: maxBody}
}

// ReaderOver reads messages from br, which may already hold bytes read
// before the session switched from startup packets to typed messages.
func ReaderOver(br *bufio.Reader, maxBody int) *MsgReader {
	return &MsgReader{br: br, max: maxBody}
}

// Next advances to the Next message and returns its type and body length.
func (r *MsgReader) Next() (byte, int, error) {
	if err := r.Skip(); err != nil {
		return 0, 0, err
	}
	h, err := r.br.Peek(5)
	if err != nil {
		return 0, 0, err
	}
	n := int(binary.BigEndian.Uint32(h[1:5])) - 4
	if n < 0 {
		return 0, 0, Violation(fmt.Sprintf("message %q has invalid length %d", h[0], n+4))
	}
	if n > r.max {
		return 0, 0, Violation(fmt.Sprintf("message %q of %d bytes exceeds limits.max_message_bytes (%d)", h[0], n, r.max))
	}
	r.typ, r.total, r.pending, r.big = h[0], n+5, n+5, nil
	return r.typ, n, nil
}

// Skip discards whatever of the current message has not been consumed,
// and lets go of its copy: the caller is done with the message, and a
// session idle after a large one must not keep it.
func (r *MsgReader) Skip() error {
	r.big = nil
	if r.pending == 0 {
		return nil
	}
	_, err := r.br.Discard(r.pending)
	r.pending = 0
	return err
}

// Whole returns the current message, header included.
func (r *MsgReader) Whole() ([]byte, error) {
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

// Body returns the current message without its 5-byte header.
func (r *MsgReader) Body() ([]byte, error) {
	m, err := r.Whole()
	if err != nil {
		return nil, err
	}
	return m[5:], nil
}

// Forward writes the current message to w as its original bytes.
func (r *MsgReader) Forward(w *bufio.Writer) error {
	if r.big != nil || r.total <= r.br.Size() {
		m, err := r.Whole()
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

// Wait blocks until at least one byte of the next message has arrived.
func (r *MsgReader) Wait() error {
	if err := r.Skip(); err != nil {
		return err
	}
	_, err := r.br.Peek(1)
	return err
}

// Buffered reports whether more input is already in memory, so that the
// caller can delay a flush until it would otherwise block.
func (r *MsgReader) Buffered() bool { return r.br.Buffered() > r.pending }

// Cstring splits a NUL-terminated string off the front of b.
func Cstring(b []byte) (s, rest []byte, ok bool) {
	for i, c := range b {
		if c == 0 {
			return b[:i], b[i+1:], true
		}
	}
	return nil, nil, false
}

// Frame is a message of type typ with body, its length written in: for
// a message phiguard sends itself or forwards from a decoded body.
func Frame(typ byte, body []byte) []byte {
	return append(binary.BigEndian.AppendUint32([]byte{typ}, uint32(4+len(body))), body...)
}

// FlushMessage is a Flush: it makes the backend send what it has, so that
// the answer to a message of the client's releases a held ReadyForQuery.
var FlushMessage = []byte{FeFlush, 0, 0, 0, 4}

// QueryMessage builds a Query message for sql.
func QueryMessage(sql []byte) []byte {
	msg := make([]byte, 5, 6+len(sql))
	msg[0] = FeQuery
	binary.BigEndian.PutUint32(msg[1:5], uint32(4+len(sql)+1))
	msg = append(msg, sql...)
	return append(msg, 0)
}
