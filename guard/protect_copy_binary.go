package guard

import (
	"bytes"
	"encoding/binary"

	"github.com/phiguard/phiguard/cellcipher"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/policy"
)

// A binary COPY (pgx's CopyFrom; COPY TO STDOUT (FORMAT binary)) is a header — the signature,
// a flags word and an extension area — then tuples of a field count and,
// per field, a length (-1 for NULL) and that many bytes, then a -1
// trailer. Each protected field holds the binary form of its column's
// logical type (the type phiguard described the column as); phiguard
// encrypts it and sends the cell as the binary form of text, its bytes,
// and on the way out decrypts the cell and sends the binary form of the
// column's type.
// Tuples may be cut anywhere across CopyData messages, so the rewriter
// keeps the incomplete tail until the rest arrives.

// binarySignature starts every binary COPY stream.
var binarySignature = []byte("PGCOPY\n\xff\r\n\x00")

// binaryCopy is the state of a binary COPY stream, in or out.
type binaryCopy struct {
	buf    []byte // received and not yet forwarded: an incomplete header or tuple
	header bool   // the header has been forwarded
	ended  bool   // the trailer has been forwarded
}

// feedBinary takes a CopyData payload and returns what to forward: the
// header as it is and every complete tuple with its protected fields
// encrypted.
func (r *copyRewriter) feedBinary(chunk []byte, enc func(int, []byte) ([]byte, *pgerr.Error)) ([]byte, *pgerr.Error) {
	b := r.bin
	b.buf = append(b.buf, chunk...)
	var out []byte
	if !b.header {
		n, ok, pe := binaryHeaderLen(b.buf)
		if pe != nil || !ok {
			return nil, pe
		}
		out, b.buf, b.header = append(out, b.buf[:n]...), b.buf[n:], true
	}
	for len(b.buf) > 0 {
		if b.ended {
			return nil, binaryCopyError("data after the binary COPY trailer")
		}
		tuple, n, pe := r.binaryTuple(b.buf, enc)
		if pe != nil {
			return nil, pe
		}
		if n == 0 {
			break // incomplete: wait for the rest
		}
		out, b.buf = append(out, tuple...), b.buf[n:]
	}
	if len(b.buf) == 0 {
		b.buf = nil // let a large chunk's array go
	}
	return out, nil
}

// binaryHeaderLen is the header's length once all of it has arrived.
func binaryHeaderLen(buf []byte) (int, bool, *pgerr.Error) {
	n := len(binarySignature) + 8
	if len(buf) < n {
		if !bytes.HasPrefix(binarySignature, buf[:min(len(buf), len(binarySignature))]) {
			return 0, false, binaryCopyError("no binary COPY signature")
		}
		return 0, false, nil
	}
	if !bytes.HasPrefix(buf, binarySignature) {
		return 0, false, binaryCopyError("no binary COPY signature")
	}
	ext := int(binary.BigEndian.Uint32(buf[n-4 : n]))
	if ext < 0 || ext > 1<<20 {
		return 0, false, binaryCopyError("a binary COPY header extension phiguard does not read")
	}
	if len(buf) < n+ext {
		return 0, false, nil
	}
	return n + ext, true, nil
}

// binaryTuple rewrites the tuple at the start of buf. It returns the
// tuple to forward and how many bytes of buf it took, 0 when the tuple is
// not complete yet; the trailer is forwarded as it is.
func (r *copyRewriter) binaryTuple(buf []byte, enc func(int, []byte) ([]byte, *pgerr.Error)) ([]byte, int, *pgerr.Error) {
	if len(buf) < 2 {
		return nil, 0, nil
	}
	count := int(int16(binary.BigEndian.Uint16(buf)))
	if count == -1 {
		r.bin.ended = true
		return buf[:2], 2, nil
	}
	if count != len(r.cols) {
		return nil, 0, pgerr.Newf(pgerr.BadCopyFileFormat,
			"binary COPY tuple has %d fields where the COPY names %d columns", count, len(r.cols))
	}
	out := binary.BigEndian.AppendUint16(nil, uint16(count+len(r.appended)))
	at := 2
	for i := 0; i < count; i++ {
		if len(buf) < at+4 {
			return nil, 0, nil
		}
		size := int(int32(binary.BigEndian.Uint32(buf[at:])))
		at += 4
		if size < -1 {
			return nil, 0, binaryCopyError("a negative field length")
		}
		if size == -1 {
			out = binary.BigEndian.AppendUint32(out, 0xffffffff)
			continue
		}
		if len(buf) < at+size {
			return nil, 0, nil
		}
		v := buf[at : at+size]
		at += size
		if r.cols[i] != nil {
			var pe *pgerr.Error
			if v, pe = enc(i, v); pe != nil {
				return nil, 0, pe
			}
		}
		out = binary.BigEndian.AppendUint32(out, uint32(len(v)))
		out = append(out, v...)
	}
	for range r.appended {
		out = binary.BigEndian.AppendUint32(out, 0xffffffff) // NULL
	}
	return out, at, nil
}

func binaryCopyError(what string) *pgerr.Error {
	return pgerr.New(pgerr.BadCopyFileFormat, "malformed binary COPY data: "+what)
}

// decryptBinaryField is a COPY TO field's cell as the binary form of its
// column's type. Legacy plaintext (before or during the backfill) is text,
// so it is read as text first. Cells sealed per subject never get here: a
// binary COPY of such a table is refused (newCopyRewriter).
func (s *Session) decryptBinaryField(col *policy.ProtectedColumn, v []byte) ([]byte, *pgerr.Error) {
	if keys.IsSubjectCell(v) {
		return nil, pgerr.Newf(pgerr.FeatureNotSupported, "column %s holds cells sealed per subject: binary COPY TO is not supported on it through phiguard", col.QualifiedName())
	}
	plain, state, pe := s.openCell(col, v)
	if pe != nil {
		return nil, pe
	}
	if state == cellcipher.Legacy {
		canon, err := s.canonicalValue(col, 0, v)
		if err != nil {
			return nil, pgerr.Newf(pgerr.DataCorrupted, "legacy plaintext in column %s is not a %s", col.QualifiedName(), col.Type.Name)
		}
		plain = canon
	}
	return s.presentValue(col, 1, plain)
}
